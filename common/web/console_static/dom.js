// DOM building without markup: every text goes in as a text node (textContent), never as HTML.
// Attributes are set by name; "on*" keys attach listeners. There is no innerHTML anywhere in the
// console, so a tenant's text (flow names, node texts, agent names...) can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (name === "checked" || name === "selected" || name === "disabled") {
      el[name] = Boolean(value);
    } else if (/^(href|src|action|formaction|style|srcdoc)$/i.test(name) && /^\s*javascript:/i.test(String(value))) {
      throw new Error(`refusing a javascript: URL in ${name}`);
    } else if (name === "style") {
      throw new Error("inline styles are not allowed by the console's Content-Security-Policy");
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("p", {class: "x"}, "text", h("b", {}, name)): an element; strings become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  return append(el, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  return append(clear(el), children);
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control; returns {row, input, error}. The error line is announced with the field. */
export function field(label, control, help) {
  const id = control.id || uid("field");
  control.id = id;
  const error = h("span", {class: "field-error", id: `${id}-error`, role: "alert"});
  const described = [`${id}-error`];
  let helpEl = null;
  if (help) {
    helpEl = h("span", {class: "help", id: `${id}-help`}, help);
    described.push(`${id}-help`);
  }
  control.setAttribute("aria-describedby", described.join(" "));
  const row = h("div", {class: "field"}, h("label", {for: id}, label), control, helpEl, error);
  return {row, input: control, error};
}

export function table(caption, headers, rows, options = {}) {
  return h("table", {class: options.class || "data"},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", {scope: "col"}, name)))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))
      : h("tr", {}, h("td", {colspan: headers.length, class: "empty"}, options.empty || "Nothing yet."))));
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function seconds(total) {
  if (total === null || total === undefined) return "";
  const m = Math.floor(total / 60), sec = total % 60;
  return m ? `${m}m ${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
