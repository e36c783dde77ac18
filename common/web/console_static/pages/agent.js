// An agent key's own panel: who it is, its status, and the three statuses it may set.
import {h, replace, seconds} from "../dom.js";
import {api, get, enc} from "../api.js";
import {problem, say} from "../ui.js";

export async function render() {
  const {agent} = await get("/console/api/me");
  if (!agent) return h("div", {}, h("h1", {}, "My status"), h("p", {}, "This key is not bound to an agent; ask a supervisor to set the agent's apiKeyId."));
  const status = h("p", {class: "big-status", role: "status"});
  const out = h("div", {"aria-live": "polite"});
  const show = (a) => replace(status, `${a.name}: ${a.status}`, a.statusSince ? ` since ${a.statusSince.slice(11, 19)}` : "");
  show(agent);
  const buttons = ["available", "away", "offline"].map((value) => {
    const b = h("button", {type: "button", "data-status": value}, value === "available" ? "Available" : value === "away" ? "Away" : "Offline");
    b.addEventListener("click", async () => {
      try {
        const updated = (await api("POST", `/api/agents/${enc(agent.id)}/status`, {status: value})).body;
        show(updated);
        replace(out);
        say(`Status: ${updated.status}`);
      } catch (error) { replace(out, problem(error)); }
    });
    return b;
  });
  return h("div", {}, h("h1", {}, "My status"), status,
    h("div", {class: "actions", role: "group", "aria-label": "Set my status"}, buttons), out,
    h("p", {class: "sub"}, `Calls handled: ${agent.callsHandled}; talk time ${seconds(agent.talkSeconds)}`));
}
