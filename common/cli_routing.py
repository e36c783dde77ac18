"""``ivr departments`` and ``ivr agents``: department routing's settings and live state on a running stack.

    ivr departments [list] | get ID | put FILE.json | delete ID | stats ID | live ID
    ivr agents [list] [--department D] | get ID | put FILE.json | delete ID
             | status ID available|away|offline

Tables and short summaries for people; ``--json`` prints the API's JSON unchanged, for scripts. The
stack and the key are found like every admin command's (``--url``, ``--api-key``: see cli_common).

``put`` takes a JSON file holding the document and its ``id`` (what ``get --json`` prints can be
edited and put back: the fields the stack keeps itself, such as ``etag``, ``status`` or
``callsHandled``, are left out of the request). An invalid document is not stored; each problem is
printed with its field (``escalation[1].department``).

Lost updates: ``put`` sends ``If-Match`` with ``--if-match ETAG`` or, without it, the ``etag`` of the
file (what ``get --json`` printed), so a document someone changed meanwhile is refused (409, or 412
from a proxy) and the refusal says how to go on: get it again, re-apply, put. ``--force`` replaces
whatever is stored. ``delete --if-match ETAG`` deletes only that version.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote, unquote, urlencode

from common import cli_admin
from common.cli_common import (
    ApiFailure,
    HelpFormatter,
    UsageError,
    load_json,
    print_json,
    request,
    table,
)

STATUSES = ("available", "away", "offline")
AGENT_STATUS_ORDER = ("available", "offered", "busy", "wrap-up", "away", "offline")
#: What a ``get --json`` answer holds besides the document itself: never sent back on ``put``.
KEPT_BY_THE_STACK = frozenset({"id", "etag", "updatedAt", "updatedBy", "status", "statusSince", "wrapUpUntil",
                               "missedInARow", "callsHandled", "talkSeconds", "handleEwmaSeconds"})  # fmt: skip


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None, if_match: str | None = None) -> Any:
    if if_match is None:
        return cli_admin.request(args, method, path, body)
    return _conditional(args, method, path, body, if_match)


def _conditional(args: argparse.Namespace, method: str, path: str, body: Any, etag: str) -> Any:
    """One API call with ``If-Match``; a refused one (409 conflict, 412) is explained by ``_stale``."""
    tag = etag if etag == "*" or etag.startswith(('"', "W/")) else f'"{etag}"'
    try:
        return request(args.url, method, path, body, cli_admin.api_key(args), headers={"If-Match": tag})[1]
    except ApiFailure as failure:
        data = failure.body
        if failure.status in (409, 412) and isinstance(data, dict) and \
                (failure.status == 412 or failure.code == "conflict"):  # fmt: skip
            raise _stale(failure.status, data, args, etag, unquote(path.rsplit("/", 1)[-1])) from None
        raise


def _stale(status: int, data: dict[str, Any], args: argparse.Namespace, etag: str, ident: str) -> ApiFailure:
    """A refused If-Match, explained: what was sent and what to do next."""
    what = "department" if args.command == "departments" else "agent"
    given = data.get("error")
    error: dict[str, Any] = given if isinstance(given, dict) else {}
    steps = [f"the {what} changed since etag {etag} was read (someone else saved it), so nothing was changed",
             f"get it again (`ivr {args.command} get {ident} --json > {ident}.json`), apply your change to that and "
             "put it back; or put with --force to replace whatever is stored"]  # fmt: skip
    return ApiFailure(status, {"error": {**error, "code": error.get("code") or "precondition_failed",
                                         "message": error.get("message") or "If-Match did not hold",
                                         "details": steps}})  # fmt: skip


def _etag_to_send(args: argparse.Namespace, raw: dict[str, Any]) -> str | None:
    if args.force:
        return None
    if args.if_match:
        return str(args.if_match)
    etag = raw.get("etag")
    return etag if isinstance(etag, str) and etag else None


def _out(args: argparse.Namespace, data: Any, text: str) -> int:
    if args.json:
        print_json(data)
    else:
        print(text)
    return 0


def _needs_id(args: argparse.Namespace, what: str) -> str:
    if not args.target:
        raise UsageError(f"'ivr {args.command} {args.action}' needs the {what} ID")
    return str(args.target)


def _document(path: str, what: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(id, the body to send, the file as read)."""
    document = load_json(path)
    if not isinstance(document, dict):
        raise UsageError(f"{path}: a {what} document is a JSON object")
    ident = document.get("id")
    if not isinstance(ident, str) or not ident:
        raise UsageError(f"{path}: the {what} document needs its \"id\" (e.g. \"id\": \"sales\")")
    return ident, {k: v for k, v in document.items() if k not in KEPT_BY_THE_STACK}, document


def _ladder(steps: list[dict[str, Any]]) -> str:
    def step(s: dict[str, Any]) -> str:
        argument = {"raisePriority": f" to {s.get('to')}" if s.get("to") is not None else f" by {s.get('by')}",
                    "overflow": f" {s.get('department')}"}.get(s["action"], "")  # fmt: skip
        return f"{s['afterSeconds']}s {s['action']}{argument}"

    return ", ".join(step(s) for s in steps)


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


# -- departments --------------------------------------------------------------------------------------


def _department_rows(departments: list[dict[str, Any]]) -> str:
    rows = [(d["id"], d.get("name"), d.get("strategy"), d.get("joinWhenEmpty"), d.get("schedule"),
             f"{d.get('ringTimeoutSeconds')}s", _seconds(d.get("maxWaitSeconds")), d.get("maxQueueSize"),
             _ladder(d.get("escalation") or [])) for d in departments]  # fmt: skip
    headers = ["DEPARTMENT", "NAME", "STRATEGY", "JOIN", "SCHEDULE", "RING", "MAX WAIT", "MAX QUEUE", "LADDER"]
    return table(rows, headers, "no departments yet: add one with `ivr departments put DEPARTMENT.json`")


def _stats_text(s: dict[str, Any]) -> str:
    by_priority = ", ".join(f"{p}: {n}" for p, n in (s.get("waitingByPriority") or {}).items()) or "-"
    agents = ", ".join(f"{n} {status}" for status, n in (s.get("agents") or {}).items() if n) or "none"
    level, abandoned = s.get("serviceLevel"), s.get("abandonmentRate")
    longest = _seconds(s.get("longestWaitSeconds"))
    return "\n".join([
        f"department      {s.get('department')} (at {s.get('at')})",
        f"waiting         {s.get('waiting')} (by priority {by_priority}); longest {longest}",
        f"expected wait   {_seconds(s.get('expectedWaitSeconds'))} for a caller joining now",
        f"agents          {agents}",
        f"service level   {'-' if level is None else f'{level:.0%}'} answered within "
        f"{s.get('serviceLevelSeconds')}s ({s.get('answered')} answered in the last hour)",
        f"abandonment     {'-' if abandoned is None else f'{abandoned:.0%}'} of ended calls "
        f"({s.get('abandoned')} abandoned in the last hour)",
    ])  # fmt: skip


def _live_text(live: dict[str, Any]) -> str:
    callers = [(c["position"], c.get("caller"), c.get("priority"), c.get("kind"), _seconds(c.get("waitedSeconds")),
                c.get("callSid")) for c in live.get("callers", [])]  # fmt: skip
    more = f" (first {len(callers)} shown)" if live.get("truncated") else ""
    lines = [f"{live['department']}: {live['waiting']} waiting{more}, expected wait "
             f"{_seconds(live.get('expectedWaitSeconds'))}", "",
             table(callers, ["POS", "CALLER", "PRIORITY", "KIND", "WAITED", "CALL"], "nobody is waiting")]  # fmt: skip
    ringing = [(r.get("caller"), r.get("priority"), ", ".join(r.get("agents") or []), r.get("callSid"))
               for r in live.get("ringing", [])]  # fmt: skip
    if ringing:
        lines += ["", table(ringing, ["RINGING", "PRIORITY", "AGENTS", "CALL"])]
    talking = [(t.get("caller"), t.get("agent"), _seconds(t.get("talkSeconds")), t.get("callSid"))
               for t in live.get("talking", [])]  # fmt: skip
    if talking:
        lines += ["", table(talking, ["TALKING", "AGENT", "FOR", "CALL"])]
    agents = [(status, a["id"], a.get("name"), a.get("tier"), a.get("since"))
              for status in AGENT_STATUS_ORDER for a in (live.get("agents") or {}).get(status, [])]  # fmt: skip
    lines += ["", table(agents, ["STATUS", "AGENT", "NAME", "TIER", "SINCE"], "no agents serve this department")]
    return "\n".join(lines)


def cmd_departments(args: argparse.Namespace) -> int:
    base = "/api/departments"
    if args.action == "list":
        data = _call(args, "GET", base)
        return _out(args, data, _department_rows(data.get("departments", [])))
    if args.action == "put":
        if not args.target:
            raise UsageError("'ivr departments put' needs the FILE.json")
        ident, document, raw = _document(args.target, "department")
        data = _call(args, "PUT", f"{base}/{quote(ident, safe='')}", document, _etag_to_send(args, raw))
        return _out(args, data, f"saved department {data['id']} (etag {data['etag']})")
    ident = quote(_needs_id(args, "department"), safe="")
    if args.action == "delete":
        data = _call(args, "DELETE", f"{base}/{ident}", if_match=args.if_match)
        return _out(args, data, f"deleted department {data.get('deleted', args.target)}")
    if args.action == "stats":
        data = _call(args, "GET", f"{base}/{ident}/stats")
        return _out(args, data, _stats_text(data))
    if args.action == "live":
        data = _call(args, "GET", f"{base}/{ident}/live")
        return _out(args, data, _live_text(data))
    data = _call(args, "GET", f"{base}/{ident}")
    return _out(args, data, _department_rows([data]))


# -- agents -------------------------------------------------------------------------------------------


def _agent_rows(agents: list[dict[str, Any]]) -> str:
    def memberships(a: dict[str, Any]) -> str:
        return ", ".join(f"{m['department']}" + (f" (tier {m['tier']})" if m.get("tier", 1) != 1 else "")
                         for m in a.get("departments") or [])  # fmt: skip

    rows = [(a["id"], a.get("name"), a.get("contact"), a.get("status"), a.get("statusSince"), memberships(a),
             a.get("callsHandled"), a.get("apiKeyId")) for a in agents]  # fmt: skip
    headers = ["AGENT", "NAME", "CONTACT", "STATUS", "SINCE", "DEPARTMENTS", "CALLS", "KEY"]
    return table(rows, headers, "no agents yet: add one with `ivr agents put AGENT.json`")


def cmd_agents(args: argparse.Namespace) -> int:
    base = "/api/agents"
    if args.action == "list":
        query = f"?{urlencode({'department': args.department})}" if args.department else ""
        data = _call(args, "GET", base + query)
        return _out(args, data, _agent_rows(data.get("agents", [])))
    if args.action == "put":
        if not args.target:
            raise UsageError("'ivr agents put' needs the FILE.json")
        ident, document, raw = _document(args.target, "agent")
        data = _call(args, "PUT", f"{base}/{quote(ident, safe='')}", document, _etag_to_send(args, raw))
        return _out(args, data, f"saved agent {data['id']} (etag {data['etag']}; status {data['status']})")
    ident = quote(_needs_id(args, "agent"), safe="")
    if args.action == "delete":
        data = _call(args, "DELETE", f"{base}/{ident}", if_match=args.if_match)
        return _out(args, data, f"deleted agent {data.get('deleted', args.target)}")
    if args.action == "status":
        if args.status not in STATUSES:
            raise UsageError(f"'ivr agents status {args.target}' needs the new status: {' | '.join(STATUSES)}")
        data = _call(args, "POST", f"{base}/{ident}/status", {"status": args.status})
        return _out(args, data, f"agent {data['id']} is {data['status']} (since {data.get('statusSince')})")
    data = _call(args, "GET", f"{base}/{ident}")
    return _out(args, data, _agent_rows([data]))


def add_commands(sub: Any) -> None:
    def command(name: str, func: Any, help_text: str, epilog: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                                    formatter_class=HelpFormatter)  # fmt: skip
        cli_admin.add_api_options(p)
        p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
        p.add_argument("--if-match", metavar="ETAG", help="put/delete only if the stored etag is still ETAG "
                       "(put defaults to the file's etag)")  # fmt: skip
        p.add_argument("--force", action="store_true", help="put: replace whatever is stored (no If-Match)")
        p.set_defaults(func=func, command=name)
        return p

    p = command("departments", cmd_departments, "departments that callers queue for: settings, stats, live view",
                "examples:\n  ivr departments\n  ivr departments put sales.json\n  ivr departments get sales --json\n"
                "  ivr departments put sales.json --if-match 3f2a9c1b0d4e5f60-77d0aa12\n"
                "  ivr departments stats sales\n  ivr departments live support\n  ivr departments delete old_desk\n\n"
                "FILE.json holds the department and its id, e.g.\n"
                '  {"id": "sales", "name": "Sales", "strategy": "longestIdle",\n'
                '   "escalation": [{"afterSeconds": 120, "action": "overflow", "department": "support"}]}')
    p.add_argument("action", nargs="?", choices=["list", "get", "put", "delete", "stats", "live"], default="list")
    p.add_argument("target", nargs="?", metavar="ID|FILE", help="the department (the FILE.json for put)")
    p = command("agents", cmd_agents, "the people departments connect callers to, and their availability",
                "examples:\n  ivr agents\n  ivr agents list --department sales\n  ivr agents put ann.json\n"
                "  ivr agents status ann available\n  ivr agents status ann away --api-key $ANNS_AGENT_KEY\n\n"
                "FILE.json holds the agent and its id, e.g.\n"
                '  {"id": "ann", "name": "Ann", "contact": "+15005550001",\n'
                '   "departments": [{"department": "sales", "tier": 1}], "apiKeyId": "key_0123abcd"}\n\n'
                "An agent key (role agent) bound by apiKeyId may set that agent's status, and only theirs.")
    p.add_argument("action", nargs="?", choices=["list", "get", "put", "delete", "status"], default="list")
    p.add_argument("target", nargs="?", metavar="ID|FILE", help="the agent (the FILE.json for put)")
    p.add_argument("status", nargs="?", help="the new status (status): available, away or offline")
    p.add_argument("--department", help="only the agents serving this department (list)")
