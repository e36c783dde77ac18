// Numbers: what runs where per environment; the deployment history (who, when, from -> to).
import {h, replace, field, table, when, uid} from "../dom.js";
import {get, enc} from "../api.js";
import {problem, section, select} from "../ui.js";

export async function render() {
  const [{numbers}, {deployments}] = await Promise.all([get("/api/numbers"), get("/api/deployments?limit=100")]);
  const byEnv = new Map();
  for (const n of numbers) byEnv.set(n.environment, [...(byEnv.get(n.environment) || []), n]);
  const envSections = [...byEnv.keys()].sort().map((env) => table(`Environment ${env}`,
    ["Number", "Runs", "Schedules", "Fallback", "Since", "By"],
    byEnv.get(env).map((n) => {
      const d = n.deployment;
      return [n.phoneNumber, d ? h("a", {href: `#/flows/${enc(d.flowId)}`}, `${d.flowId}@${d.version}`) : "nothing (not in service)",
        d && d.schedules.length ? d.schedules.join(", ") : "", d && d.fallbackFlow ? `${d.fallbackFlow}@${d.fallbackVersion}` : "",
        d ? when(d.createdAt) : "", d ? d.createdBy : ""];
    })));
  const filter = select([["", "every number"], ...numbers.map((n) => [n.phoneNumber, n.phoneNumber])], "", {id: uid("hist")});
  const history = h("div", {}, historyTable(deployments));
  filter.addEventListener("change", async () => {
    try {
      const q = filter.value ? `number=${enc(filter.value)}&` : "";
      replace(history, historyTable((await get(`/api/deployments?${q}limit=100`)).deployments));
    } catch (error) { replace(history, problem(error)); }
  });
  return h("div", {}, h("h1", {}, "Numbers and deployment history"),
    section("What runs where", envSections.length ? envSections : h("p", {}, "No numbers registered.")),
    section("Deployment history", field("Show", filter).row, history));
}

function historyTable(deployments) {
  return table("Deployments, newest first", ["When", "Who", "Kind", "Environment", "Changes", "Message"],
    deployments.map((d) => [when(d.createdAt), d.createdBy || "(unknown)", d.kind, d.environment,
      h("ul", {class: "plain"}, d.changes.map((c) => h("li", {}, `${c.phoneNumber}: ${c.from || "nothing"} → ${c.to || "nothing"}`))),
      d.message || ""]), {empty: "No deployments yet."});
}
