// The console's shell: sign-in, the role's pages, hash routing (#/flows, #/flows/ID, ...).
import {h, replace} from "./dom.js";
import {api, session, identity, ApiFailure} from "./api.js";
import {say, problem} from "./ui.js";

// What each role may do (common/service/access.py GRANTS); what it may not is not offered.
const GRANTS = {
  admin: ["read", "edit", "deploy", "keys"],
  editor: ["read", "edit"],
  deployer: ["read", "deploy"],
  viewer: ["read"],
  agent: [],
};

export const me = {tenant: null, role: null, keyId: null, may: (permission) => false};

// [hash, label, module, permission]: the order is the navigation's order.
const PAGES = [
  ["flows", "Flows", "./pages/flows.js", "read"],
  ["numbers", "Numbers & history", "./pages/numbers.js", "read"],
  ["departments", "Departments & agents", "./pages/departments.js", "read"],
  ["calls", "Live calls", "./pages/calls.js", "read"],
  ["schedules", "Schedules", "./pages/schedules.js", "read"],
  ["monitoring", "Monitoring", "./pages/monitoring.js", "read"],
  ["agent", "My status", "./pages/agent.js", "agent"],
];

function allowed() {
  return PAGES.filter(([, , , permission]) => (permission === "agent" ? me.role === "agent" : me.may(permission)));
}

function signInForm(message) {
  const input = h("input", {id: "api-key", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", "aria-describedby": "api-key-help"});
  const form = h("form", {class: "card signin", "aria-labelledby": "signin-title"},
    h("h1", {id: "signin-title"}, "Sign in"),
    message ? h("div", {class: "problem", role: "alert"}, message) : null,
    h("div", {class: "field"},
      h("label", {for: "api-key"}, "API key"), input,
      h("span", {class: "help", id: "api-key-help"},
        "Kept in this tab only (session storage) and sent as a bearer token; closing the tab signs you out.")),
    h("button", {type: "submit"}, "Sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    session.signIn(input.value.trim());
    start();
  });
  replace(document.getElementById("nav"));
  replace(document.getElementById("who"));
  replace(document.getElementById("main"), form);
  input.focus();
}

function renderNav(current) {
  const links = allowed().map(([hash, label]) =>
    h("a", {href: `#/${hash}`, "aria-current": hash === current ? "page" : null}, label));
  replace(document.getElementById("nav"), h("ul", {}, links.map((a) => h("li", {}, a))));
  const out = h("button", {type: "button", class: "secondary", id: "sign-out"}, "Sign out");
  out.addEventListener("click", () => { session.signOut(); identity.author = ""; location.hash = ""; signInForm(); });
  replace(document.getElementById("who"), h("span", {}, `${me.tenant} · ${me.role}`), " ", out);
}

let routed = false;
// Each route() is numbered: a page still loading when the hash changes again (a click during the
// first page's fetch) must not replace the page asked for after it.
let latest = 0;

async function route() {
  const mine = ++latest;
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const pages = allowed();
  const found = pages.find(([hash]) => hash === page) || pages[0];
  if (!found) {
    replace(document.getElementById("main"), h("p", {}, "This key's role may not use any page of the console."));
    return;
  }
  renderNav(found[0]);
  const main = document.getElementById("main");
  replace(main, h("p", {}, "Loading…"));
  try {
    const module = await import(found[2]);
    const view = await module.render(rest, me);
    if (mine !== latest) return;
    replace(main, view);
    say("");
    const heading = main.querySelector("h1");
    document.title = `${heading ? heading.textContent : found[1]} · IVR console`;
    if (routed) main.focus({preventScroll: true});  // a page change, not the first load: read from the top
    routed = true;
  } catch (error) {
    if (mine !== latest) return;
    if (error instanceof ApiFailure && error.status === 401) { session.signOut(); signInForm(error.message); return; }
    replace(main, h("h1", {}, found[1]), problem(error));
  }
}

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function start() {
  if (!session.key()) { signInForm(); return; }
  try {
    const who = (await api("GET", "/api/whoami")).body;
    Object.assign(me, who, {may: (p) => (GRANTS[who.role] || []).includes(p)});
    identity.author = `console ${who.keyId}`;
  } catch (error) {
    session.signOut();
    signInForm(error instanceof ApiFailure ? error.message : "The API did not answer; try again.");
    return;
  }
  await route();
}

window.addEventListener("hashchange", () => { if (session.key() && me.role) route(); });
// The skip link moves the focus to the page's content; followed as a link it would set the hash to
// #main, which the router would read as a page.
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
start();
