// Live calls: in progress (current node, time in call, path so far), refreshed; one call's transcript.
import {h, replace, field, table, when, seconds, uid} from "../dom.js";
import {get, enc, ApiFailure} from "../api.js";
import {problem, section, every} from "../ui.js";
import {navigate} from "../app.js";

const REFRESH_MS = 2000;

export async function render(rest) {
  return rest[0] ? callPage(rest[0]) : listPage();
}

function openBySid() {
  const sid = h("input", {type: "text", id: uid("sid"), spellcheck: "false", placeholder: "CA…", required: true});
  const form = h("form", {class: "inline"}, field("Call sid", sid).row, h("button", {type: "submit"}, "Open call"));
  form.addEventListener("submit", (event) => { event.preventDefault(); navigate(`#/calls/${enc(sid.value.trim())}`); });
  return form;
}

function pathText(path) {
  return path.length ? path.join(" → ") : "";
}

function listPage() {
  const activeBody = h("div", {});
  const recentBody = h("div", {});
  const stamp = h("p", {class: "sub"});
  const page = h("div", {}, h("h1", {}, "Live calls"), stamp,
    section("In progress", activeBody), section("Recently finished", recentBody), section("Find a call", openBySid()));
  const row = (c) => [h("a", {href: `#/calls/${enc(c.callSid)}`}, c.callSid), c.caller || "", c.number,
    `${c.flowId}@${c.version}`, c.currentNode || "", seconds(c.secondsInCall), pathText(c.path)];
  every(REFRESH_MS, page, async () => {
    try {
      const [active, ended] = await Promise.all([get("/api/calls?active=true&limit=100"), get("/api/calls?active=false&limit=20")]);
      replace(stamp, `Updated ${active.at.slice(11, 19)} UTC, every ${REFRESH_MS / 1000} s`);
      replace(activeBody, table("Calls in progress", ["Call", "Caller", "Number", "Flow", "Now at", "In call", "Path so far"],
        active.calls.map(row), {empty: "No call in progress."}));
      replace(recentBody, table("Finished calls", ["Call", "Caller", "Number", "Flow", "Outcome", "Duration", "Path"],
        ended.calls.map((c) => [h("a", {href: `#/calls/${enc(c.callSid)}`}, c.callSid), c.caller || "", c.number,
          `${c.flowId}@${c.version}`, c.outcome || "", seconds(c.secondsInCall), pathText(c.path)]), {empty: "No finished call."}));
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 501) {
        replace(activeBody, h("p", {}, "Listing calls is not available on this stack yet; open one call by its sid below."));
        replace(recentBody);
      } else replace(activeBody, problem(error));
    }
  });
  return page;
}

function eventText(e) {
  const data = Object.entries(e.data || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
  return data;
}

async function callPage(sid) {
  const meta = h("div", {});
  const transcript = h("div", {});
  const page = h("div", {}, h("p", {}, h("a", {href: "#/calls"}, "← All calls")), h("h1", {}, `Call ${sid}`), meta,
    section("Transcript", transcript));
  const draw = (c) => {
    replace(meta, h("dl", {class: "facts"},
      h("dt", {}, "Status"), h("dd", {"data-call-status": c.status}, c.status, c.callStatus ? ` (${c.callStatus})` : ""),
      h("dt", {}, "Caller"), h("dd", {}, c.caller || ""), h("dt", {}, "Number"), h("dd", {}, c.number),
      h("dt", {}, "Flow"), h("dd", {}, h("a", {href: `#/flows/${enc(c.flowId)}`}, `${c.flowId}@${c.version}`)),
      h("dt", {}, "Started"), h("dd", {}, when(c.startedAt)), h("dt", {}, c.status === "active" ? "In call" : "Duration"),
      h("dd", {}, seconds(c.secondsInCall)), h("dt", {}, "Now at"), h("dd", {}, c.currentNode || "—"),
      h("dt", {}, "Outcome"), h("dd", {}, c.outcome || "—"), h("dt", {}, "Path"),
      h("dd", {}, h("ol", {class: "path"}, c.path.map((n) => h("li", {}, n))))));
    replace(transcript, table("Nodes and events in order", ["Step", "At", "Node", "Event", "Details"],
      c.events.map((e) => [String(e.seq ?? ""), when(e.at), e.nodeId || "", e.type, eventText(e)]), {empty: "No events."}),
    c.eventsTruncated ? h("p", {}, "Only the first events are shown.") : null);
  };
  const first = await get(`/api/calls/${enc(sid)}`);
  draw(first);
  if (first.status === "active") {
    every(REFRESH_MS, page, async () => {
      try { draw(await get(`/api/calls/${enc(sid)}`)); } catch (error) { replace(meta, problem(error)); }
    });
  }
  return page;
}
