// Flows: the list; one flow's versions, diff, picture, validation; deploy, promote, roll back.
import {h, replace, field, table, when, uid} from "../dom.js";
import {api, get, enc} from "../api.js";
import {problem, confirmChange, section, select, say, showFieldErrors} from "../ui.js";
import {flowGraph} from "../graph.js";
import {navigate} from "../app.js";

export async function render(rest, me) {
  return rest[0] ? flowPage(rest[0], me) : listPage();
}

async function listPage() {
  const {flows} = await get("/api/flows");
  const rows = flows.map((f) => [
    h("a", {href: `#/flows/${enc(f.flowId)}`}, f.name || f.flowId),
    f.flowId, f.latestVersion || "none", String(f.versions ?? ""),
    (f.deployedTo || []).map((d) => `${d.phoneNumber} (${d.environment}, ${d.version}${d.role === "fallback" ? ", fallback" : ""})`).join("; ") || "nowhere",
    `${when(f.updatedAt)} ${f.updatedBy ? `by ${f.updatedBy}` : ""}`]);
  return h("div", {}, h("h1", {}, "Flows"),
    table("The tenant's flows", ["Name", "Id", "Latest version", "Versions", "Deployed to", "Draft saved"], rows,
      {empty: "No flows yet: push one with ivr push or the designer."}));
}

async function flowPage(flowId, me) {
  const base = `/api/flows/${enc(flowId)}`;
  const [draft, {versions}, {numbers}, {flows}, {schedules}] = await Promise.all([
    get(base), get(`${base}/versions`), get("/api/numbers"), get("/api/flows"), get("/api/schedules")]);
  const ctx = {flowId, base, draft, versions, numbers, flows, schedules, me};
  const page = h("div", {class: "flow-page"},
    h("p", {}, h("a", {href: "#/flows"}, "← All flows")),
    h("h1", {}, draft.name || flowId),
    h("p", {class: "sub"}, `Flow id ${flowId}`, draft.description ? ` · ${draft.description}` : ""),
    versionsSection(ctx), diffSection(ctx), graphSection(ctx), await validationSection(ctx));
  if (me.may("deploy")) page.append(deploySection(ctx), promoteSection(ctx), rollbackSection(ctx));
  return page;
}

function versionsSection({versions}) {
  const rows = [...versions].reverse().map((v) => [v.version, v.author || "(unknown)", v.message || "", when(v.createdAt)]);
  return section("Versions", table("Published versions, newest first", ["Version", "Author", "Message", "Published"], rows,
    {empty: "No version published yet."}));
}

function versionChoices(versions, withDraft = true) {
  const list = [...versions].reverse().map((v) => [v.version, v.version]);
  return withDraft ? [["draft", "draft"], ...list] : list;
}

function fmt(value) {
  return value === undefined || value === null ? "(none)" : typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

function diffSection({base, versions}) {
  const choices = versionChoices(versions);
  const from = select(choices, choices[1] ? choices[1][0] : "draft", {id: uid("from")});
  const to = select(choices, "draft", {id: uid("to")});
  const out = h("div", {class: "diff", "aria-live": "polite"});
  const form = h("form", {class: "inline"}, field("From", from).row, field("To", to).row,
    h("button", {type: "submit"}, "Show changes"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const d = await get(`${base}/diff?from=${enc(from.value)}&to=${enc(to.value)}`);
      replace(out, renderDiff(d));
    } catch (error) { replace(out, problem(error)); }
  });
  return section("Changes between versions", form, out);
}

function renderDiff(d) {
  if (d.identical) return h("p", {}, `${d.from} and ${d.to} do the same thing (layout is ignored).`);
  const items = [];
  const changeList = (changes) => h("ul", {}, changes.map((c) => h("li", {}, h("code", {}, c.field), `: ${fmt(c.from)} → ${fmt(c.to)}`)));
  for (const node of d.nodesAdded) items.push(h("li", {class: "added"}, `Node added: ${node.id} (${node.type})`));
  for (const node of d.nodesRemoved) items.push(h("li", {class: "removed"}, `Node removed: ${node.id} (${node.type})`));
  for (const node of d.nodesChanged) items.push(h("li", {class: "changed"}, `Node changed: ${node.id}`, changeList(node.changes)));
  for (const edge of d.edgesAdded) items.push(h("li", {class: "added"}, `Connection added: ${edge.source} → ${edge.target}`));
  for (const edge of d.edgesRemoved) items.push(h("li", {class: "removed"}, `Connection removed: ${edge.source} → ${edge.target}`));
  for (const edge of d.edgesChanged) items.push(h("li", {class: "changed"}, `Connection changed: ${edge.id}`, changeList(edge.changes)));
  if (d.flowChanged.length) items.push(h("li", {class: "changed"}, "Flow settings changed", changeList(d.flowChanged)));
  return h("div", {}, h("h3", {}, `${d.from} → ${d.to}`), h("ul", {class: "diff-list"}, items));
}

function graphSection({base, draft, versions}) {
  const which = select(versionChoices(versions), "draft", {id: uid("graph-of")});
  const holder = h("div", {}, flowGraph(draft));
  which.addEventListener("change", async () => {
    try {
      const doc = which.value === "draft" ? draft : (await get(`${base}/versions/${enc(which.value)}`)).document;
      replace(holder, flowGraph(doc));
    } catch (error) { replace(holder, problem(error)); }
  });
  return section("Picture", field("Show", which).row, holder);
}

async function validationSection({flowId}) {
  let body;
  try {
    const report = await get(`/console/api/flows/${enc(flowId)}/validation`);
    const issues = [...report.errors, ...report.warnings];
    body = issues.length
      ? h("ul", {class: "issues"}, issues.map((i) => h("li", {class: i.severity},
        h("strong", {}, i.severity), ` ${i.code}`, i.node_id ? ` at node ${i.node_id}` : "", i.field ? ` (${i.field})` : "", `: ${i.message}`)))
      : h("p", {}, "The draft has no problems.");
  } catch (error) { body = problem(error); }
  return section("Problems in the draft", body);
}

function environments(numbers) {
  return [...new Set(numbers.map((n) => n.environment))].sort();
}

function running(n) {
  return n.deployment ? `${n.deployment.flowId}@${n.deployment.version}` : "nothing";
}

function numberChecks(numbers, name) {
  const box = h("fieldset", {class: "checks"}, h("legend", {}, "Numbers"));
  const fill = (list) => {
    for (const old of box.querySelectorAll(".check")) old.remove();
    if (!list.length) box.append(h("p", {class: "check"}, "No number in this environment."));
    for (const n of list) {
      const id = uid(name);
      box.append(h("div", {class: "check"}, h("input", {type: "checkbox", id, value: n.phoneNumber}),
        h("label", {for: id}, `${n.phoneNumber} (runs ${running(n)})`)));
    }
  };
  const chosen = () => [...box.querySelectorAll("input:checked")].map((i) => i.value);
  return {box, fill, chosen};
}

function resultLine(out, view) {
  replace(out, h("p", {class: "ok", role: "status"}, `Done: ${view.kind} ${view.id} — `,
    (view.changes || []).map((c) => `${c.phoneNumber}: ${c.from || "nothing"} → ${c.to || "nothing"}`).join("; ")));
}

function deploySection(ctx) {
  const {flowId, base, versions, numbers, flows, schedules} = ctx;
  const envs = environments(numbers);
  const env = select(envs.map((e) => [e, e]), envs.includes("production") ? "production" : envs[0], {id: uid("env")});
  const version = select(versionChoices(versions, false).concat([["", "publish the draft"]]),
    versions.length ? versions[versions.length - 1].version : "", {id: uid("ver"), "data-field": "version"});
  const nums = numberChecks(numbers, "deploy-number");
  const scheduleBox = h("fieldset", {class: "checks"}, h("legend", {}, "Schedules (open: this flow; closed: the fallback)"),
    schedules.length ? schedules.map((sch) => { const id = uid("sch"); return h("div", {class: "check"},
      h("input", {type: "checkbox", id, value: sch.name}), h("label", {for: id}, sch.name)); })
      : h("p", {}, "No schedules."));
  const fallback = select([["", "none"], ...flows.filter((f) => f.flowId !== flowId).map((f) => [f.flowId, f.name || f.flowId])], "",
    {id: uid("fb"), "data-field": "fallbackFlow"});
  const message = h("input", {type: "text", id: uid("msg"), maxlength: 500, "data-field": "message"});
  const out = h("div", {"aria-live": "polite"});
  const refill = () => nums.fill(numbers.filter((n) => n.environment === env.value));
  env.addEventListener("change", refill);
  refill();
  const form = h("form", {}, field("Environment", env).row, field("Version", version).row, nums.box, scheduleBox,
    field("Fallback flow", fallback).row, field("Message", message).row, h("button", {type: "submit"}, "Review deploy…"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const phoneNumbers = nums.chosen();
    const chosenSchedules = [...scheduleBox.querySelectorAll("input:checked")].map((i) => i.value);
    if (!phoneNumbers.length) { replace(out, problem("Choose at least one number.")); return; }
    const target = `${flowId}@${version.value || "(the draft, published now)"}`;
    const lines = phoneNumbers.map((p) => `${p} (${env.value}): ${running(numbers.find((n) => n.phoneNumber === p))} → ${target}`);
    lines.push(chosenSchedules.length ? `schedules: ${chosenSchedules.join(", ")}; when all are closed: ${fallback.value || "(no fallback)"}` : "no schedules: the flow answers at all hours");
    if (!(await confirmChange(`Deploy ${flowId}`, lines, "Deploy"))) { say("Deploy cancelled."); return; }
    const body = {environment: env.value, phoneNumbers, schedules: chosenSchedules, message: message.value};
    if (version.value) body.version = version.value;
    if (fallback.value) body.fallbackFlow = fallback.value;
    try {
      resultLine(out, (await api("POST", `${base}/deploy`, body)).body);
      say("Deployed.");
      setTimeout(() => navigate(location.hash), 1200);
    } catch (error) { showFieldErrors(form, error); replace(out, problem(error)); }
  });
  return section("Deploy", form);
}

async function latestIn(flowId, environment) {
  const {deployments} = await get(`/api/deployments?flowId=${enc(flowId)}&environment=${enc(environment)}&limit=20`);
  return deployments.find((d) => d.kind !== "undeploy") || null;
}

function promoteSection({flowId, base, numbers}) {
  const envs = environments(numbers);
  const from = select(envs.map((e) => [e, e]), envs.includes("staging") ? "staging" : envs[0], {id: uid("pfrom")});
  const to = select(envs.map((e) => [e, e]), envs.includes("production") ? "production" : envs[0], {id: uid("pto")});
  const nums = numberChecks(numbers, "promote-number");
  const out = h("div", {"aria-live": "polite"});
  const refill = () => nums.fill(numbers.filter((n) => n.environment === to.value));
  to.addEventListener("change", refill);
  refill();
  const form = h("form", {}, field("From environment", from).row, field("To environment", to).row, nums.box,
    h("button", {type: "submit"}, "Review promotion…"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const phoneNumbers = nums.chosen();
    if (!phoneNumbers.length) { replace(out, problem("Choose at least one number.")); return; }
    let source;
    try { source = await latestIn(flowId, from.value); } catch (error) { replace(out, problem(error)); return; }
    if (!source) { replace(out, problem(`${flowId} is not deployed in ${from.value}: nothing to promote.`)); return; }
    const target = `${source.flowId}@${source.version}`;
    const lines = phoneNumbers.map((p) => `${p} (${to.value}): ${running(numbers.find((n) => n.phoneNumber === p))} → ${target}`);
    lines.push(source.schedules.length ? `schedules: ${source.schedules.join(", ")}; fallback ${source.fallbackFlow}@${source.fallbackVersion}` : "no schedules");
    if (!(await confirmChange(`Promote ${flowId} from ${from.value} to ${to.value}`, lines, "Promote"))) { say("Promotion cancelled."); return; }
    try {
      resultLine(out, (await api("POST", `${base}/promote`, {from: from.value, to: to.value, phoneNumbers})).body);
      setTimeout(() => navigate(location.hash), 1200);
    } catch (error) { replace(out, problem(error)); }
  });
  return section("Promote", form);
}

function rollbackSection({flowId, base, numbers, versions}) {
  const mine = numbers.filter((n) => n.deployment && n.deployment.flowId === flowId);
  const envs = [...new Set(mine.map((n) => n.environment))].sort();
  if (!envs.length) return section("Roll back", h("p", {}, "No number runs this flow."));
  const env = select(envs.map((e) => [e, e]), envs[0], {id: uid("renv")});
  const targetChoice = select([["previous", "what each number ran before"], ...versionChoices(versions, false).map(([v]) => [v, `version ${v}`]),
    ["undeploy", "nothing (take the numbers off)"]], "previous", {id: uid("rto")});
  const nums = numberChecks(mine, "rollback-number");
  const out = h("div", {"aria-live": "polite"});
  const refill = () => nums.fill(mine.filter((n) => n.environment === env.value));
  env.addEventListener("change", refill);
  refill();
  const form = h("form", {}, field("Environment", env).row, field("Back to", targetChoice).row, nums.box,
    h("button", {type: "submit"}, "Review rollback…"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const phoneNumbers = nums.chosen();
    if (!phoneNumbers.length) { replace(out, problem("Choose at least one number.")); return; }
    const lines = [];
    for (const p of phoneNumbers) {
      const n = mine.find((x) => x.phoneNumber === p);
      let after;
      if (targetChoice.value === "undeploy") after = "nothing (not in service)";
      else if (targetChoice.value !== "previous") after = `${flowId}@${targetChoice.value}`;
      else {
        try {
          const {deployments} = await get(`/api/deployments?number=${enc(p)}&limit=100`);
          const current = deployments.find((d) => d.id === n.deployment.id);
          const change = current && current.changes.find((c) => c.phoneNumber === p);
          after = change ? change.from || "nothing (not in service)" : "(unknown: no history)";
        } catch (error) { replace(out, problem(error)); return; }
      }
      lines.push(`${p} (${env.value}): ${running(n)} → ${after}`);
    }
    if (!(await confirmChange(`Roll back ${flowId}`, lines, "Roll back"))) { say("Rollback cancelled."); return; }
    const body = {environment: env.value, phoneNumbers};
    if (targetChoice.value === "undeploy") body.undeploy = true;
    else if (targetChoice.value !== "previous") body.version = targetChoice.value;
    try {
      resultLine(out, (await api("POST", `${base}/rollback`, body)).body);
      say("Rolled back.");
      setTimeout(() => navigate(location.hash), 1200);
    } catch (error) { replace(out, problem(error)); }
  });
  return section("Roll back", form);
}
