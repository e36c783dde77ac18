// Shared pieces of the pages: the status line, error boxes, field errors, confirmations, refreshing.
import {h, replace} from "./dom.js";
import {ApiFailure} from "./api.js";

export function say(text) {
  replace(document.getElementById("status"), text);
}

/** A box saying what went wrong, with every detail line the API gave. */
export function problem(error) {
  if (!(error instanceof ApiFailure)) {
    return h("div", {class: "problem", role: "alert"}, String(error && error.message ? error.message : error));
  }
  const lines = [];
  const d = error.details;
  if (Array.isArray(d)) {
    for (const item of d) lines.push(typeof item === "string" ? item : [item.field, item.message].filter(Boolean).join(": "));
  } else if (d && Array.isArray(d.errors)) {
    for (const item of d.errors) lines.push([item.nodeId || item.node_id, item.message].filter(Boolean).join(": "));
  }
  return h("div", {class: "problem", role: "alert"},
    h("p", {}, `${error.status} ${error.code || ""}: ${error.message}`),
    lines.length ? h("ul", {}, lines.map((line) => h("li", {}, line))) : null);
}

/** Show each {field, message} of a refused write next to its control (data-field="path"). */
export function showFieldErrors(form, error) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const unplaced = [];
  const fields = error instanceof ApiFailure ? error.fields() : [];
  for (const {field, message} of fields) {
    const control = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      const line = document.getElementById(`${control.id}-error`);
      if (line) line.textContent = message;
    } else {
      unplaced.push(`${field}: ${message}`);
    }
  }
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
  return unplaced;
}

/**
 * Ask before a change: a modal dialog listing exactly what will change. Resolves true when confirmed.
 * `changes` is a list of nodes or strings (one line each).
 */
export function confirmChange(title, changes, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const cancel = h("button", {type: "button", class: "secondary"}, "Cancel");
    const ok = h("button", {type: "button", class: "danger", "data-confirm": ""}, confirmLabel);
    const dialog = h("dialog", {class: "confirm", "aria-labelledby": "confirm-title"},
      h("h2", {id: "confirm-title"}, title),
      h("p", {}, "This will change:"),
      h("ul", {class: "changes"}, changes.map((line) => h("li", {}, line))),
      h("div", {class: "actions"}, cancel, ok));
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Run `tick` as soon as `el` is on the page and every `ms` while it stays there (a page change stops it). */
export function every(ms, el, tick) {
  let timer = null, seen = false, tries = 0;
  const run = async () => {
    if (!el.isConnected) {
      if (!seen && tries++ < 100) timer = setTimeout(run, 50);
      return;
    }
    seen = true;
    try { await tick(); } finally { if (el.isConnected) timer = setTimeout(run, ms); }
  };
  timer = setTimeout(run, 0);
  return () => clearTimeout(timer);
}

export function section(title, ...children) {
  return h("section", {class: "card", "aria-label": title}, h("h2", {}, title), ...children);
}

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", {value: v, selected: v === value}, label)));
}
