// Schedules: a calendar of open and closed for the next weeks, holidays and overrides included.
// The calendar is the schedules API's own answer: starting now, GET .../status?at= gives open or
// closed, why, and the next change; following nextChange walks the weeks without re-implementing
// time zones, holidays or overrides in the browser.
import {h, s, replace, field, table, uid} from "../dom.js";
import {get, enc} from "../api.js";
import {problem, section, select} from "../ui.js";
import {navigate} from "../app.js";

const DAYS = 28;
const MAX_STEPS = 200;
const DAY_MS = 86400000;

export async function render(rest) {
  const {schedules} = await get("/api/schedules");
  if (!schedules.length) return h("div", {}, h("h1", {}, "Schedules"), h("p", {}, "No schedules yet."));
  const chosen = schedules.find((x) => x.name === rest[0]) || schedules[0];
  const chooser = select(schedules.map((x) => [x.name, x.name]), chosen.name, {id: uid("sched")});
  chooser.addEventListener("change", () => navigate(`#/schedules/${enc(chooser.value)}`));
  const detail = await get(`/api/schedules/${enc(chosen.name)}`);
  return h("div", {}, h("h1", {}, "Schedules"), field("Schedule", chooser).row,
    await calendar(chosen.name, detail), rules(detail));
}

async function walk(name, zone) {
  const now = new Date((await get(`/api/schedules/${enc(name)}/status`)).at);  // the service's clock
  const start = new Date(now.getTime() - localParts(now, zone).minutes * 60000 - (now.getTime() % 60000));
  const first = await get(`/api/schedules/${enc(name)}/status?at=${enc(start.toISOString())}`);
  const horizon = new Date(start.getTime() + DAYS * DAY_MS);
  const spans = [];
  let status = first, at = start;
  for (let i = 0; i < MAX_STEPS; i += 1) {
    const next = status.nextChange ? new Date(status.nextChange) : horizon;
    const end = next > horizon ? horizon : next;
    spans.push({start: at, end, open: status.open, reason: status.reason});
    if (end >= horizon) break;
    at = end;
    status = await get(`/api/schedules/${enc(name)}/status?at=${enc(at.toISOString())}`);
  }
  return {start, horizon, spans};
}

function localParts(date, timeZone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", weekday: "short"}).formatToParts(date).map((p) => [p.type, p.value]));
  return {day: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}`, weekday: parts.weekday,
    minutes: Number(parts.hour) * 60 + Number(parts.minute)};
}

function reasonText(reason) {
  if (reason.startsWith("holiday:")) return `holiday (${reason.slice(8)})`;
  if (reason.startsWith("override:")) return `override (${reason.slice(9)})`;
  return reason === "closedWeekly" ? "outside weekly hours" : reason;
}

async function calendar(name, detail) {
  let walked;
  try { walked = await walk(name, detail.timezone); } catch (error) { return section("Next weeks", problem(error)); }
  const zone = detail.timezone;
  const days = new Map();
  for (let i = 0; i < DAYS; i += 1) {
    const p = localParts(new Date(walked.start.getTime() + i * DAY_MS), zone);
    days.set(p.day, {day: p.day, weekday: p.weekday, open: [], notes: new Set()});
  }
  for (const span of walked.spans) {
    // cut the span at each local midnight it crosses
    let from = span.start;
    while (from < span.end) {
      const a = localParts(from, zone);
      let to = span.end;
      const b = localParts(new Date(to.getTime() - 1), zone);
      if (b.day !== a.day) {
        // step forward to the next local day boundary (found by minutes left in the local day)
        to = new Date(from.getTime() + (1440 - a.minutes) * 60000 - (from.getTime() % 60000));
      }
      const entry = days.get(a.day);
      if (entry) {
        const endMinutes = b.day !== a.day ? 1440 : localParts(to, zone).minutes || 1440;
        if (span.open) entry.open.push([a.minutes, endMinutes]);
        if (span.reason.startsWith("holiday:") || span.reason.startsWith("override:")) entry.notes.add(reasonText(span.reason));
      }
      if (to <= from) break;
      from = to;
    }
  }
  const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  const list = [...days.values()];
  const rows = list.map((d) => [`${d.weekday} ${d.day}`,
    d.open.length ? d.open.map(([a, b]) => `${hhmm(a)}–${hhmm(b)}`).join(", ") : "closed", [...d.notes].join("; ")]);
  const W = 600, label = 110, rowH = 16;
  const pic = s("svg", {viewBox: `0 0 ${W} ${list.length * rowH + 20}`, class: "calendar", "aria-hidden": "true"},
    [0, 6, 12, 18, 24].map((hr) => s("text", {x: label + ((W - label) * hr) / 24, y: 10, class: "chart-label"}, String(hr))),
    list.map((d, i) => s("g", {class: d.notes.size ? "special" : ""},
      s("text", {x: 0, y: 24 + i * rowH, class: "chart-label"}, `${d.weekday} ${d.day.slice(5)}`),
      s("rect", {x: label, y: 14 + i * rowH, width: W - label, height: rowH - 4, class: "closed"}),
      d.open.map(([a, b]) => s("rect", {x: label + ((W - label) * a) / 1440, y: 14 + i * rowH, width: ((W - label) * (b - a)) / 1440,
        height: rowH - 4, class: "open"})))));
  return section(`Next ${DAYS / 7} weeks (${zone} time)`, pic,
    table(`Open hours per day in ${zone}`, ["Day", "Open", "Holiday or override"], rows));
}

function rules(detail) {
  const holidays = (detail.holidays || []).map((x) => [x.type, x.name || "", x.date || x.start || (x.month ? `${x.month}/${x.day || x.weekday}` : ""), x.end || ""]);
  const overrides = (detail.overrides || []).map((o) => [o.start, o.end, o.mode, o.reason || ""]);
  return section("Rules", table("Holidays", ["Kind", "Name", "From", "Until"], holidays, {empty: "No holidays."}),
    table("Overrides", ["From", "Until", "Mode", "Reason"], overrides, {empty: "No overrides."}));
}
