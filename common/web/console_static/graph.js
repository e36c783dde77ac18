// A read-only picture of a flow: nodes where the designer put them (position.x/y), edges as lines
// with arrowheads, every text as an SVG text node. Keyboard: each node is focusable and announces
// its type and label; choosing one shows its fields beside the picture.
import {h, s, replace} from "./dom.js";

const W = 180, H = 56, PAD = 40;

function label(node) {
  const d = node.data || {};
  return String(d.label || d.name || node.id);
}

function summary(node) {
  const d = node.data || {};
  return String(d.prompt || d.message || d.text || d.say || "");
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

export function flowGraph(document) {
  const nodes = Array.isArray(document.nodes) ? document.nodes : [];
  const edges = Array.isArray(document.edges) ? document.edges : [];
  const at = new Map();
  nodes.forEach((node, i) => {
    const p = node.position || {};
    const x = Number.isFinite(p.x) ? p.x : (i % 4) * (W + 60);
    const y = Number.isFinite(p.y) ? p.y : Math.floor(i / 4) * (H + 60);
    at.set(node.id, {x, y});
  });
  const xs = [...at.values()].map((p) => p.x), ys = [...at.values()].map((p) => p.y);
  const minX = Math.min(0, ...xs) - PAD, minY = Math.min(0, ...ys) - PAD;
  const width = Math.max(...xs, 0) + W + PAD - minX, height = Math.max(...ys, 0) + H + PAD - minY;

  const details = h("div", {class: "node-details", "aria-live": "polite"},
    h("p", {}, "Choose a node to see its fields."));
  const show = (node) => {
    const rows = Object.entries(node.data || {}).map(([key, value]) =>
      [h("th", {scope: "row"}, key), h("td", {}, typeof value === "string" ? value : JSON.stringify(value))]);
    replace(details, h("h3", {}, `${label(node)} (${node.type || "node"}, id ${node.id})`),
      h("table", {class: "data"}, h("tbody", {}, rows.map((cells) => h("tr", {}, cells)))));
  };

  const lines = edges.filter((e) => at.has(e.source) && at.has(e.target)).map((edge) => {
    const a = at.get(edge.source), b = at.get(edge.target);
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
    const tag = edge.sourceHandle || edge.label;
    return s("g", {class: "edge"},
      s("line", {x1, y1, x2, y2, "marker-end": "url(#arrow)"}),
      tag ? s("text", {x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2, class: "edge-label"}, clip(String(tag), 20)) : null);
  });
  const boxes = nodes.map((node) => {
    const p = at.get(node.id);
    const text = summary(node);
    const g = s("g", {class: `node node-${String(node.type || "").replace(/[^A-Za-z0-9_-]/g, "")}`, tabindex: "0",
      role: "button", "data-node": node.id, "aria-label": `${node.type || "node"} ${label(node)}`},
      s("title", {}, `${label(node)}${text ? `: ${text}` : ""}`),
      s("rect", {x: p.x, y: p.y, width: W, height: H, rx: 8}),
      s("text", {x: p.x + 10, y: p.y + 22, class: "node-label"}, clip(label(node), 24)),
      s("text", {x: p.x + 10, y: p.y + 42, class: "node-type"}, clip(text || String(node.type || ""), 28)));
    g.addEventListener("click", () => show(node));
    g.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); show(node); } });
    return g;
  });
  const svg = s("svg", {viewBox: `${minX} ${minY} ${width} ${height}`, class: "graph", role: "group",
    "aria-label": `Flow graph: ${nodes.length} nodes, ${edges.length} connections`},
    s("defs", {}, s("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8,
      orient: "auto-start-reverse"}, s("path", {d: "M 0 0 L 10 5 L 0 10 z"}))),
    ...lines, ...boxes);
  return h("div", {class: "graph-wrap"}, h("div", {class: "graph-scroll"}, svg), details);
}
