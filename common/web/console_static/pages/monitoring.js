// Monitoring: the reports API (/api/reports/*, the same JSON as `ivr report --json`) drawn as charts
// with their numbers in tables beside them. Only what a report serves is drawn: a report with no rows
// says why (its own `note`), and a report the stack does not serve says so. Webhook latency and
// fallback answers are the platform's (/api/reports/webhooks: the metrics carry no tenant label); the
// tenant's own failed and fallback calls are in the call volume report.
import {h, s, replace, field, table, uid} from "../dom.js";
import {get, enc, ApiFailure} from "../api.js";
import {section, select} from "../ui.js";

const percent = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const plain = (v) => (v === null || v === undefined ? "—" : String(v));
const money = (v) => (v === null || v === undefined ? "—" : `$${Number(v).toFixed(4)}`);

/** Horizontal bars: one per row, labelled, the value printed at the end of the bar. */
function bars(title, items, format = plain, scaleMax = null) {
  const known = items.filter((i) => i.value !== null && i.value !== undefined);
  const max = scaleMax ?? Math.max(1, ...known.map((i) => Number(i.value)));
  const bar = 20, gap = 6, width = 640, label = 200;
  return s("svg", {viewBox: `0 0 ${width} ${items.length * (bar + gap) + 8}`, class: "chart", role: "img",
    "aria-label": `${title}: ${items.map((i) => `${i.label} ${format(i.value)}`).join("; ")}`},
  items.map((item, i) => {
    const v = Number(item.value) || 0, y = 4 + i * (bar + gap);
    const w = item.value === null || item.value === undefined ? 0 : Math.max(1, ((width - label - 90) * v) / max);
    return s("g", {}, s("text", {x: 0, y: y + 15, class: "chart-label"}, String(item.label).slice(0, 30)),
      s("rect", {x: label, y, width: w, height: bar, class: item.kind ? `chart-bar ${item.kind}` : "chart-bar"}),
      s("text", {x: label + w + 6, y: y + 15, class: "chart-value"}, format(item.value)));
  }));
}

function chartBlock(title, items, format, scaleMax) {
  return h("figure", {class: "chart-block"}, h("figcaption", {}, title), bars(title, items, format, scaleMax));
}

/** The report at `path`: {answer} or {empty: node} when it has nothing to draw. */
async function report(path, rowsKey = "rows") {
  try {
    const answer = await get(path);
    const rows = answer[rowsKey] || [];
    if (!rows.length) {
      return {empty: h("p", {class: "empty-state"}, answer.note ? `Nothing to draw yet: ${answer.note}` : "No calls match these filters.")};
    }
    return {answer, rows};
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 501) return {empty: h("p", {class: "unavailable"}, error.message)};
    if (error instanceof ApiFailure && error.status === 400) return {empty: h("p", {class: "problem", role: "alert"}, error.message)};
    if (error instanceof ApiFailure && [404, 500, 503].includes(error.status)) {
      return {empty: h("p", {class: "unavailable"}, `Not available on this stack (${path} answered ${error.status}).`)};
    }
    throw error;
  }
}

/** since/until (UTC days) of a month written YYYY-MM, or {} when no month is given. */
function monthDays(month) {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) return month ? {since: month} : {}; // a malformed month: the API names it (query.since)
  const last = new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate();
  return {since: `${month}-01`, until: `${month}-${String(last).padStart(2, "0")}`};
}

const periodOf = (r) => (r.hour ? r.hour.slice(0, 16).replace("T", " ") : r.day);

/** Per period, every flow's calls added up and the success rate computed again from the sums. */
function perPeriod(rows) {
  const out = new Map();
  for (const r of rows) {
    const p = out.get(periodOf(r)) || {label: periodOf(r), started: 0, succeeded: 0, failed: 0};
    p.started += r.calls_started; p.succeeded += r.calls_succeeded; p.failed += r.calls_failed;
    out.set(p.label, p);
  }
  return [...out.values()].map((p) => ({...p, rate: p.succeeded + p.failed ? p.succeeded / (p.succeeded + p.failed) : null}));
}

async function volumePanel(month, by) {
  const q = new URLSearchParams({by, ...monthDays(month)});
  const got = await report(`/api/reports/volume?${q}`);
  const title = "Call volume and success rate";
  if (got.empty) return section(title, got.empty);
  const unit = by === "hour" ? "hour" : "day";
  const periods = perPeriod(got.rows);
  return section(title,
    h("p", {class: "sub"}, `Per UTC ${unit} of each call's start. A call fails when the caller heard the fallback ` +
      "(an unhandled error, a webhook over its time budget, the fallback URL) or an engine guard or unhandled outcome " +
      "ended it; success rate = succeeded / (succeeded + failed), calls in progress left out."),
    h("div", {class: "charts"},
      chartBlock(`Calls per ${unit}`, periods.map((p) => ({label: p.label, value: p.started}))),
      chartBlock(`Success rate per ${unit}`, periods.map((p) => ({label: p.label, value: p.rate, kind: "rate"})), percent, 1)),
    table(`Calls per ${unit} and flow`, [unit === "hour" ? "Hour (UTC)" : "Day (UTC)", "Flow", "Calls", "Completed",
      "Succeeded", "Failed", "In progress", "Success rate", "Fallback answers"], got.rows.map((r) => [periodOf(r),
      r.flow_id || "(no flow)", plain(r.calls_started), plain(r.calls_completed), plain(r.calls_succeeded),
      plain(r.calls_failed), plain(r.calls_in_progress), percent(r.success_rate), plain(r.fallback_answers)])));
}

async function billingPanel(month) {
  const got = await report(`/api/reports/billing${month ? `?month=${enc(month)}` : ""}`);
  const title = "Calls and cost per month";
  if (got.empty) return section(title, got.empty);
  const rows = [...got.rows].sort((a, b) => a.month.localeCompare(b.month));
  return section(title,
    h("p", {class: "sub"}, "The billing report: per UTC month of each call's start."),
    chartBlock("Calls per month", rows.map((r) => ({label: r.month.slice(0, 7), value: r.calls}))),
    table("Calls and cost per month", ["Month", "Calls", "Not completed", "Billable minutes", "Webhook steps",
      "Platform cost", "Twilio voice"], rows.map((r) => [r.month.slice(0, 7), plain(r.calls), plain(r.calls_not_completed),
      plain(r.billable_minutes), plain(r.webhook_steps), money(r.platform_cost_usd), money(r.twilio_voice_usd)])));
}

const ms = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(1)} ms`);

function scopeLine(answer) {
  const source = answer.source === "cloudmonitoring" ? "Cloud Monitoring's log-based metrics" : "this server's own recorder";
  return h("p", {class: "sub"}, `The last ${answer.minutes} minutes of every tenant's calls on this platform ` +
    `(the metrics carry no tenant label), from ${source}.`);
}

/** The webhooks report once for both of its panels: {answer} or {empty}. */
async function webhooks() {
  try {
    return {answer: await get("/api/reports/webhooks")};
  } catch (error) {
    if (error instanceof ApiFailure && [404, 500, 501, 503].includes(error.status)) {
      return {empty: h("p", {class: "unavailable"}, `Not available on this stack (/api/reports/webhooks answered ${error.status}: ${error.message}).`)};
    }
    throw error;
  }
}

function latencyPanel(got) {
  const title = "Webhook latency";
  if (got.empty) return section(title, got.empty);
  const rows = got.answer.functions;
  if (!rows.length) return section(title, scopeLine(got.answer), h("p", {class: "empty-state"}, `Nothing to draw yet: ${got.answer.note || "no webhook requests."}`));
  return section(title, scopeLine(got.answer),
    h("div", {class: "charts"},
      chartBlock("p50 latency per function", rows.map((r) => ({label: r.function, value: r.p50_ms})), ms),
      chartBlock("p95 latency per function", rows.map((r) => ({label: r.function, value: r.p95_ms, kind: "loss"})), ms)),
    table("Webhook latency per function", ["Function", "Requests", "p50", "p95", "Mean", "Slowest"],
      rows.map((r) => [r.function, plain(r.requests), ms(r.p50_ms), ms(r.p95_ms), ms(r.mean_ms), ms(r.max_ms)])));
}

function fallbackPanel(got) {
  const title = "Fallback answers";
  if (got.empty) return section(title, got.empty);
  const rows = got.answer.fallbacks;
  const minute = (r) => r.minute.slice(11, 16);
  if (!rows.length) {
    return section(title, scopeLine(got.answer), h("p", {class: "empty-state"},
      `No caller heard the fallback in the last ${got.answer.minutes} minutes.`));
  }
  return section(title, scopeLine(got.answer),
    chartBlock("Fallback answers per minute and reason", rows.map((r) => ({label: `${minute(r)} ${r.reason}`, value: r.answers, kind: "loss"}))),
    table("Fallback answers per minute", ["Minute (UTC)", "Reason", "Function", "Answers"],
      rows.map((r) => [r.minute.slice(0, 16).replace("T", " "), r.reason, r.function, plain(r.answers)])));
}

async function costsPanel(month) {
  const got = await report(`/api/reports/costs${month ? `?month=${enc(month)}` : ""}`);
  const title = "Calls and cost per flow version";
  if (got.empty) return section(title, got.empty);
  const name = (r) => `${r.flow_id || "(no flow)"}@${r.flow_version || "?"} ${r.month.slice(0, 7)}`;
  return section(title,
    chartBlock("Calls per flow version", got.rows.map((r) => ({label: name(r), value: r.calls}))),
    table("Cost per flow version", ["Flow", "Version", "Month", "Calls", "Billable minutes", "Platform cost per call",
      "Twilio voice per call"], got.rows.map((r) => [r.flow_id || "(no flow)", r.flow_version || "", r.month.slice(0, 7),
      plain(r.calls), plain(r.billable_minutes), money(r.platform_cost_per_call_usd), money(r.twilio_voice_per_call_usd)])));
}

async function queuesPanel(department, date) {
  const q = [department ? `department=${enc(department)}` : "", date ? `date=${enc(date)}` : ""].filter(Boolean).join("&");
  const got = await report(`/api/reports/queues${q ? `?${q}` : ""}`);
  const title = "Queue service levels";
  if (got.empty) return section(title, got.empty);
  const label = (r) => `${r.department_id} ${r.hour.slice(0, 13).replace("T", " ")}h`;
  return section(title,
    h("p", {class: "sub"}, "Per department and UTC hour: the share of answered callers answered within the department's service level."),
    h("div", {class: "charts"},
      chartBlock("Service level per hour", got.rows.map((r) => ({label: label(r), value: r.service_level, kind: "rate"})), percent, 1),
      chartBlock("Callers offered per hour", got.rows.map((r) => ({label: label(r), value: r.offered})))),
    table("Queues per hour", ["Department", "Hour (UTC)", "Offered", "Answered", "Abandoned", "Service level",
      "Average wait", "90% waited less than"], got.rows.map((r) => [r.department_id, r.hour.replace("T", " ").replace(":00:00Z", ":00"),
      plain(r.offered), plain(r.answered), plain(r.abandoned), percent(r.service_level),
      r.wait_average_seconds === null ? "—" : `${r.wait_average_seconds.toFixed(1)} s`,
      r.wait_p90_seconds === null ? "—" : `${r.wait_p90_seconds.toFixed(1)} s`])));
}

async function funnelPanel(flowId, version, onVersions) {
  const title = "Per-node funnel";
  if (!flowId) return section(title, h("p", {class: "empty-state"}, "Choose a flow above to see how far its callers get."));
  const got = await report(`/api/reports/funnel/${enc(flowId)}${version ? `?version=${enc(version)}` : ""}`, "nodes");
  if (got.answer) onVersions(got.answer.versions, got.answer.flow_version);
  if (got.empty) return section(`${title}: ${flowId}`, got.empty);
  const nodes = got.rows;
  const outcomes = (n) => n.outcomes.map((o) => `${o.outcome}: ${o.left}`).join(", ");
  return section(`${title}: ${flowId}@${got.answer.flow_version}`,
    h("div", {class: "charts"},
      chartBlock("Callers reaching each node", nodes.map((n) => ({label: n.node_id, value: n.callers}))),
      chartBlock("Callers hanging up at each node", nodes.map((n) => ({label: n.node_id, value: n.hung_up, kind: "loss"})))),
    table("Funnel by node, in the order callers reach them", ["Node", "Type", "Callers", "Entered", "Hung up", "Ended",
      "Average seconds", "Left by"], nodes.map((n) => [n.node_id, n.node_type || "", plain(n.callers), plain(n.entered),
      plain(n.hung_up), plain(n.ended), n.seconds_average === null ? "—" : n.seconds_average.toFixed(1), outcomes(n)])));
}

export async function render() {
  const {flows} = await get("/api/flows");
  // Plain text fields (the API names a malformed value): date and month pickers are one control to a
  // screen reader but several Tab stops to a keyboard, and differ between browsers.
  const month = h("input", {type: "text", id: uid("month"), placeholder: "YYYY-MM", inputmode: "numeric", size: 8,
    pattern: "[0-9]{4}-[0-9]{2}", spellcheck: "false"});
  const department = h("input", {type: "text", id: uid("mdept"), spellcheck: "false", size: 12});
  const date = h("input", {type: "text", id: uid("mdate"), placeholder: "YYYY-MM-DD", inputmode: "numeric", size: 11,
    pattern: "[0-9]{4}-[0-9]{2}-[0-9]{2}", spellcheck: "false"});
  const flow = select([["", "choose a flow"], ...flows.map((f) => [f.flowId, f.name || f.flowId])], "", {id: uid("mflow")});
  const version = select([["", "latest with calls"]], "", {id: uid("mver")});
  const by = select([["day", "day"], ["hour", "hour"]], "day", {id: uid("mby")});
  const setVersions = (versions, current) => {
    const chosen = version.value;
    replace(version, [["", "latest with calls"], ...versions.map((v) => [v, v])].map(([v, label]) =>
      h("option", {value: v, selected: v === chosen}, label)));
    if (current && !chosen) version.setAttribute("data-showing", current);
  };
  const panels = h("div", {class: "panels", "aria-live": "polite", "aria-busy": "false"});
  const draw = async () => {
    panels.setAttribute("aria-busy", "true");
    const [hooks, ...drawn] = await Promise.all([webhooks(), volumePanel(month.value.trim(), by.value),
      queuesPanel(department.value.trim(), date.value.trim()), funnelPanel(flow.value, version.value, setVersions),
      billingPanel(month.value.trim()), costsPanel(month.value.trim())]);
    replace(panels, drawn.slice(0, 1), latencyPanel(hooks), fallbackPanel(hooks), drawn.slice(1));
    panels.setAttribute("aria-busy", "false");
  };
  flow.addEventListener("change", () => { replace(version, h("option", {value: ""}, "latest with calls")); draw(); });
  for (const control of [month, by, department, date, version]) control.addEventListener("change", draw);
  await draw();
  const filters = h("form", {class: "inline filters", "aria-label": "Report filters"},
    field("Month (calls, costs)", month).row, field("Period (call volume)", by).row, field("Department (queues)", department).row, field("Day (queues)", date).row,
    field("Flow (funnel)", flow).row, field("Version (funnel)", version).row);
  filters.addEventListener("submit", (event) => { event.preventDefault(); draw(); });
  return h("div", {}, h("h1", {}, "Monitoring"),
    h("p", {class: "sub"}, "From the reports API, the same numbers as ivr report. Empty filters: everything."), filters, panels);
}
