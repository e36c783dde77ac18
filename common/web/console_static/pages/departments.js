// Departments and agents: live queues, settings with the escalation ladder, agents and their status.
import {h, replace, field, table, uid, seconds} from "../dom.js";
import {api, get, enc, ApiFailure} from "../api.js";
import {problem, section, select, every, showFieldErrors, say} from "../ui.js";
import {navigate} from "../app.js";

const STRATEGIES = ["longestIdle", "roundRobin", "fewestCalls", "leastTalkTime", "ringAll", "random", "linear"];
const JOIN = ["always", "staffed", "available"];
const ACTIONS = ["raisePriority", "overflow", "offerCallback", "voicemail", "timeout"];
const STATUSES = ["available", "offered", "busy", "wrap-up", "away", "offline"];

export async function render(rest, me) {
  let departments;
  try {
    ({departments} = await get("/api/departments"));
  } catch (error) {
    if (error instanceof ApiFailure && error.code === "routing_not_configured") {
      return h("div", {}, h("h1", {}, "Departments and agents"), h("p", {}, "Department routing is not configured on this stack."));
    }
    throw error;
  }
  const chosen = departments.find((d) => d.id === rest[0]) || departments[0];
  const tabs = h("ul", {class: "tabs"}, departments.map((d) => h("li", {},
    h("a", {href: `#/departments/${enc(d.id)}`, "aria-current": chosen && d.id === chosen.id ? "page" : null}, d.name))));
  const page = h("div", {}, h("h1", {}, "Departments and agents"), departments.length ? h("nav", {"aria-label": "Departments"}, tabs) : h("p", {}, "No departments yet."));
  const {agents} = await get("/api/agents");
  if (chosen) page.append(liveSection(chosen));
  if (chosen && me.may("edit")) page.append(settingsSection(chosen, departments));
  page.append(agentsSection(agents, departments, me));
  if (me.may("edit")) page.append(newDepartmentSection(), newAgentSection(departments));
  return page;
}

function liveSection(department) {
  const body = h("div", {"aria-live": "off"});
  const stamp = h("p", {class: "sub"});
  const wrap = section(`Queue now: ${department.name}`, stamp, body);
  every(3000, wrap, async () => {
    try {
      const live = await get(`/api/departments/${enc(department.id)}/live`);
      replace(stamp, `Updated ${live.at.slice(11, 19)} UTC · ${live.waiting} waiting · expected wait ${seconds(live.expectedWaitSeconds)}`,
        live.truncated ? " · more callers than shown" : "");
      const callers = table("Waiting callers", ["Position", "Caller", "Priority", "Waiting", "Kind"],
        live.callers.map((c) => [String(c.position), c.caller || c.callSid, String(c.priority), seconds(c.waitedSeconds), c.kind]),
        {empty: "Nobody is waiting."});
      const talking = table("On a call", ["Agent", "Call", "Talking"], live.talking.map((t) => [t.agent, t.callSid, seconds(t.talkSeconds)]),
        {empty: "No one is talking."});
      const ringing = table("Being offered", ["Call", "Agents"], live.ringing.map((r) => [r.callSid, (r.agents || []).join(", ")]),
        {empty: "No offer is ringing."});
      const byStatus = h("dl", {class: "statuses"}, STATUSES.flatMap((st) => [
        h("dt", {}, `${st} (${live.agentCounts[st] ?? 0})`),
        h("dd", {"data-status": st}, (live.agents[st] || []).map((a) => a.name).join(", ") || "—")]));
      replace(body, callers, ringing, talking, h("h3", {}, "Agents by status"), byStatus);
    } catch (error) { replace(body, problem(error)); }
  });
  return wrap;
}

function num(value, name) {
  return h("input", {type: "number", inputmode: "numeric", value: value ?? "", "data-field": name, id: uid(name)});
}

function ladderRow(step, index, departments, list) {
  const after = num(step.afterSeconds, `escalation[${index}].afterSeconds`);
  const action = select(ACTIONS.map((a) => [a, a]), step.action || "raisePriority", {id: uid("act"), "data-field": `escalation[${index}].action`});
  const by = num(step.by, `escalation[${index}].by`);
  const dept = select([["", "(none)"], ...departments.map((d) => [d.id, d.name])], step.department || "",
    {id: uid("dep"), "data-field": `escalation[${index}].department`});
  const remove = h("button", {type: "button", class: "secondary"}, `Remove step ${index + 1}`);
  const row = h("fieldset", {class: "ladder-step"}, h("legend", {}, `Step ${index + 1}`),
    field("After seconds", after).row, field("Action", action).row, field("Raise by", by).row, field("Overflow to", dept).row, remove);
  row.read = () => {
    const out = {afterSeconds: after.value === "" ? null : Number(after.value), action: action.value};
    if (by.value !== "") out.by = Number(by.value);
    if (dept.value) out.department = dept.value;
    return out;
  };
  remove.addEventListener("click", () => { row.remove(); list.renumber(); });
  return row;
}

function settingsSection(department, departments) {
  const name = h("input", {type: "text", value: department.name, "data-field": "name", id: uid("name"), required: true});
  const schedule = h("input", {type: "text", value: department.schedule || "", "data-field": "schedule", id: uid("sched")});
  const strategy = select(STRATEGIES.map((x) => [x, x]), department.strategy, {"data-field": "strategy", id: uid("strat")});
  const join = select(JOIN.map((x) => [x, x]), department.joinWhenEmpty, {"data-field": "joinWhenEmpty", id: uid("join")});
  const numbers = ["ringTimeoutSeconds", "wrapUpSeconds", "maxQueueSize", "maxWaitSeconds", "serviceLevelSeconds", "autopauseAfter"]
    .map((key) => [key, num(department[key], key)]);
  const steps = h("div", {class: "ladder"});
  const list = {renumber: () => {
    const current = [...steps.children].map((row) => row.read());
    replace(steps, current.map((st, i) => ladderRow(st, i, departments, list)));
  }};
  replace(steps, (department.escalation || []).map((st, i) => ladderRow(st, i, departments, list)));
  const add = h("button", {type: "button", class: "secondary"}, "Add escalation step");
  add.addEventListener("click", () => { steps.append(ladderRow({action: "raisePriority"}, steps.children.length, departments, list)); });
  const ladderError = field("Escalation ladder", h("output", {"data-field": "escalation", id: uid("ladder")}, ""));
  const out = h("div", {"aria-live": "polite"});
  const form = h("form", {}, field("Name", name).row, field("Schedule (empty: always open)", schedule).row,
    field("Strategy", strategy).row, field("Join when empty", join).row,
    ...numbers.map(([key, input]) => field(key.replace(/([A-Z])/g, " $1").toLowerCase(), input).row),
    ladderError.row, steps, add, h("div", {class: "actions"}, h("button", {type: "submit"}, "Save department")), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {...stripLive(department), name: name.value, schedule: schedule.value || null, strategy: strategy.value,
      joinWhenEmpty: join.value, escalation: [...steps.children].map((row) => row.read())};
    for (const [key, input] of numbers) body[key] = input.value === "" ? null : Number(input.value);
    try {
      const saved = await api("PUT", `/api/departments/${enc(department.id)}`, body, {ifMatch: `"${department.etag}"`});
      Object.assign(department, saved.body);
      showFieldErrors(form, null);
      replace(out, h("p", {class: "ok"}, "Saved."));
      say("Department saved.");
    } catch (error) {
      const unplaced = showFieldErrors(form, error);
      replace(out, problem(error), unplaced.length ? h("p", {}, `Also: ${unplaced.join("; ")}`) : null);
    }
  });
  return section(`Settings: ${department.name}`, form);
}

function stripLive(department) {
  const {id, etag, updatedAt, updatedBy, ...settings} = department;
  return settings;
}

function agentsSection(agents, departments, me) {
  const rows = agents.map((a) => {
    const cells = [a.name, a.id, a.status, (a.departments || []).map((m) => `${m.department} (tier ${m.tier})`).join(", "), String(a.callsHandled)];
    if (me.may("edit")) {
      const choose = select(["available", "away", "offline"].map((x) => [x, x]), a.status === "available" || a.status === "away" ? a.status : "offline",
        {id: uid("st"), "aria-label": `Status of ${a.name}`});
      const set = h("button", {type: "button", "data-agent": a.id}, "Set");
      const out = h("span", {"aria-live": "polite"});
      set.addEventListener("click", async () => {
        try {
          const updated = (await api("POST", `/api/agents/${enc(a.id)}/status`, {status: choose.value})).body;
          replace(out, ` ${updated.status}`);
          say(`${updated.name} is ${updated.status}.`);
        } catch (error) { replace(out, problem(error)); }
      });
      cells.push(h("span", {class: "inline"}, choose, set, out));
    }
    return cells;
  });
  const headers = ["Name", "Id", "Status", "Departments", "Calls"];
  if (me.may("edit")) headers.push("Set status");
  return section("Agents", table("The tenant's agents", headers, rows, {empty: "No agents yet."}));
}

function newDepartmentSection() {
  const id = h("input", {type: "text", "data-field": "departmentId", id: uid("did"), required: true});
  const name = h("input", {type: "text", "data-field": "name", id: uid("dname"), required: true});
  const out = h("div", {"aria-live": "polite"});
  const form = h("form", {}, field("Department id", id, "letters, digits, _ . -").row, field("Name", name).row,
    h("button", {type: "submit"}, "Create department"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PUT", `/api/departments/${enc(id.value)}`, {name: name.value}, {ifMatch: undefined});
      navigate(`#/departments/${enc(id.value)}`);
    } catch (error) { showFieldErrors(form, error); replace(out, problem(error)); }
  });
  return section("New department", form);
}

function newAgentSection(departments) {
  const id = h("input", {type: "text", "data-field": "agentId", id: uid("aid"), required: true});
  const name = h("input", {type: "text", "data-field": "name", id: uid("aname"), required: true});
  const contact = h("input", {type: "text", "data-field": "contact", id: uid("contact"), required: true});
  const key = h("input", {type: "text", "data-field": "apiKeyId", id: uid("akey")});
  const memberships = departments.map((d, i) => {
    const check = h("input", {type: "checkbox", id: uid("member"), value: d.id});
    const tier = h("input", {type: "number", min: 1, max: 9, value: 1, id: uid("tier"), "data-field": `departments[${i}].tier`,
      "aria-label": `Tier in ${d.name}`});
    return {d, check, tier, row: h("div", {class: "check"}, check, h("label", {for: check.id}, d.name), " tier ", tier,
      h("span", {class: "field-error", id: `${tier.id}-error`}))};
  });
  const out = h("div", {"aria-live": "polite"});
  const form = h("form", {}, field("Agent id", id).row, field("Name", name).row,
    field("Contact", contact, "E.164 number, sip:user@host or client:identity").row,
    h("fieldset", {class: "checks"}, h("legend", {}, "Departments and tiers (1 is offered first)"), memberships.map((m) => m.row)),
    field("API key id (role agent) for the agent's own status", key).row,
    h("button", {type: "submit"}, "Create agent"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = memberships.filter((m) => m.check.checked);
    chosen.forEach((m, i) => m.tier.setAttribute("data-field", `departments[${i}].tier`));
    const body = {name: name.value, contact: contact.value,
      departments: chosen.map((m) => ({department: m.d.id, tier: Number(m.tier.value)}))};
    if (key.value) body.apiKeyId = key.value;
    try {
      await api("PUT", `/api/agents/${enc(id.value)}`, body);
      navigate(location.hash);
      say("Agent created.");
    } catch (error) { showFieldErrors(form, error); replace(out, problem(error)); }
  });
  return section("New agent", form);
}
