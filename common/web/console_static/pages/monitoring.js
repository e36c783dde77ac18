// Monitoring from the reports API (/api/reports/*). Each panel is one report: a path, a title and a
// way to draw its rows; a report the stack does not serve yet shows "not available". To add a panel
// (webhook latency, fallback answers, queue service levels, queue events), add one entry to PANELS.
import {h, s, replace, table, uid, field} from "../dom.js";
import {get, enc, ApiFailure} from "../api.js";
import {section, select} from "../ui.js";

// rows: the array in the answer; x: the label column; y: the numeric columns to chart.
const PANELS = [
  {title: "Call volume", path: () => "/api/reports/volume", rows: "rows", x: ["period", "day", "hour"], y: ["calls"]},
  {title: "Success rate", path: () => "/api/reports/volume", rows: "rows", x: ["period", "day", "hour"], y: ["successRate", "success_rate"], percent: true},
  {title: "Per-node funnel", path: (flow) => (flow ? `/api/reports/funnel?flowId=${enc(flow)}` : null), rows: "rows",
    x: ["nodeId", "node_id", "node"], y: ["entered", "hungUp", "hung_up"], needsFlow: true},
];

function pick(row, names) {
  return names.find((n) => n in row);
}

function barChart(title, rows, xName, yName, percent) {
  const values = rows.map((r) => Number(r[yName]) || 0);
  const max = Math.max(1, ...values);
  const bar = 22, width = 560, label = 160;
  return s("svg", {viewBox: `0 0 ${width} ${rows.length * (bar + 6) + 10}`, class: "chart", role: "img",
    "aria-label": `${title}: chart of ${yName} by ${xName}`},
  rows.map((r, i) => {
    const v = values[i], w = Math.max(1, ((width - label - 60) * v) / max), y = 5 + i * (bar + 6);
    return s("g", {}, s("text", {x: 0, y: y + 16, class: "chart-label"}, String(r[xName]).slice(0, 22)),
      s("rect", {x: label, y, width: w, height: bar, class: "chart-bar"}),
      s("text", {x: label + w + 6, y: y + 16, class: "chart-value"}, percent ? `${(v * 100).toFixed(1)}%` : String(v)));
  }));
}

async function panel(spec, flow) {
  const path = spec.path(flow);
  if (!path) return section(spec.title, h("p", {}, "Choose a flow to see its funnel."));
  try {
    const body = await get(path);
    const rows = Array.isArray(body) ? body : body[spec.rows] || [];
    if (!rows.length) return section(spec.title, h("p", {}, "No data in this period."));
    const xName = pick(rows[0], spec.x) || Object.keys(rows[0])[0];
    const yName = pick(rows[0], spec.y);
    const columns = Object.keys(rows[0]);
    return section(spec.title, yName ? barChart(spec.title, rows, xName, yName, spec.percent) : null,
      table(spec.title, columns, rows.map((r) => columns.map((c) => (typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c]))))));
  } catch (error) {
    if (error instanceof ApiFailure && [404, 500, 501, 503].includes(error.status)) {
      return section(spec.title, h("p", {class: "unavailable"}, "Not available on this stack yet (", path, " answered ", String(error.status), ")."));
    }
    return section(spec.title, h("p", {class: "problem"}, error.message));
  }
}

export async function render() {
  const {flows} = await get("/api/flows");
  const chooser = select([["", "choose a flow"], ...flows.map((f) => [f.flowId, f.name || f.flowId])], "", {id: uid("mflow")});
  const panels = h("div", {class: "panels"});
  const draw = async () => replace(panels, ...(await Promise.all(PANELS.map((p) => panel(p, chooser.value)))));
  chooser.addEventListener("change", draw);
  await draw();
  return h("div", {}, h("h1", {}, "Monitoring"), field("Flow for the funnel", chooser).row, panels);
}
