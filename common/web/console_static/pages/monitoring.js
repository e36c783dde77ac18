// Monitoring: the reports API (/api/reports/*, the same JSON as `ivr report --json`) drawn as charts
// with their numbers in tables beside them. Only what a report serves is drawn: a report with no rows
// says why (its own `note`), a report the stack does not serve says so, and the measures no report
// serves yet (webhook latency, fallback answers) say where they live instead of showing a number.
import {h, s, replace, field, table, uid} from "../dom.js";
import {get, enc, ApiFailure} from "../api.js";
import {section, select} from "../ui.js";

const NOT_SERVED = [
  ["Webhook latency", "No report serves webhook latency yet: it is measured per request in the functions' request logs " +
    "and Cloud Monitoring (ivr.request latency_ms), not in the call events the reports read."],
  ["Fallback answers", "No report serves fallback answers yet: the call events the reports read do not mark a call " +
    "answered by its fallback flow or number."],
];

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

async function volumePanel(month) {
  const got = await report(`/api/reports/billing${month ? `?month=${enc(month)}` : ""}`);
  const title = "Call volume and success rate";
  if (got.empty) return section(title, got.empty);
  const rows = [...got.rows].sort((a, b) => a.month.localeCompare(b.month));
  const success = (r) => (r.calls ? (r.calls - r.calls_not_completed) / r.calls : null);
  return section(title,
    h("p", {class: "sub"}, "Per month (the billing report's period); a call succeeds when Twilio reports it completed."),
    h("div", {class: "charts"},
      chartBlock("Calls per month", rows.map((r) => ({label: r.month.slice(0, 7), value: r.calls}))),
      chartBlock("Success rate per month", rows.map((r) => ({label: r.month.slice(0, 7), value: success(r), kind: "rate"})), percent, 1)),
    table("Calls per month", ["Month", "Calls", "Not completed", "Success rate", "Billable minutes", "Webhook steps",
      "Platform cost", "Twilio voice"], rows.map((r) => [r.month.slice(0, 7), plain(r.calls), plain(r.calls_not_completed),
      percent(success(r)), plain(r.billable_minutes), plain(r.webhook_steps), money(r.platform_cost_usd), money(r.twilio_voice_usd)])));
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
  const setVersions = (versions, current) => {
    const chosen = version.value;
    replace(version, [["", "latest with calls"], ...versions.map((v) => [v, v])].map(([v, label]) =>
      h("option", {value: v, selected: v === chosen}, label)));
    if (current && !chosen) version.setAttribute("data-showing", current);
  };
  const panels = h("div", {class: "panels", "aria-live": "polite", "aria-busy": "false"});
  const draw = async () => {
    panels.setAttribute("aria-busy", "true");
    const drawn = await Promise.all([volumePanel(month.value.trim()), queuesPanel(department.value.trim(), date.value.trim()),
      funnelPanel(flow.value, version.value, setVersions), costsPanel(month.value.trim())]);
    replace(panels, drawn, NOT_SERVED.map(([title, why]) => section(title, h("p", {class: "empty-state"}, why))));
    panels.setAttribute("aria-busy", "false");
  };
  flow.addEventListener("change", () => { replace(version, h("option", {value: ""}, "latest with calls")); draw(); });
  for (const control of [month, department, date, version]) control.addEventListener("change", draw);
  await draw();
  const filters = h("form", {class: "inline filters", "aria-label": "Report filters"},
    field("Month (calls, costs)", month).row, field("Department (queues)", department).row, field("Day (queues)", date).row,
    field("Flow (funnel)", flow).row, field("Version (funnel)", version).row);
  filters.addEventListener("submit", (event) => { event.preventDefault(); draw(); });
  return h("div", {}, h("h1", {}, "Monitoring"),
    h("p", {class: "sub"}, "From the reports API, the same numbers as ivr report. Empty filters: everything."), filters, panels);
}
