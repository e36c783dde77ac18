"""``ivr`` subcommands that talk to the admin API of a running stack (local or deployed).

    ivr push FLOW.json                         save the draft (PUT /api/flows/{id})
    ivr publish FLOW_ID --version 1.2.0 -m ..  publish the draft as an immutable version
    ivr versions FLOW_ID                       list versions
    ivr deploy FLOW_ID --number +1... [--environment production] [--version 1.2.0]
               [--schedule business_hours ...] [--fallback agent_transfer] [-m MESSAGE]
    ivr promote FLOW_ID --number +1... [--from staging] [--to production]
    ivr rollback FLOW_ID --number +1... [--environment production] [--to-version V | --to-deployment ID]
    ivr diff FLOW_ID FROM TO                   semantic diff between versions ("draft" for the draft)
    ivr history [--number +1...] [--flow FLOW_ID] [--environment production]
    ivr schedules list | get NAME | put NAME FILE.json | delete NAME | status NAME [--at ISO]

Every command takes --url (default $IVR_API_URL, else http://127.0.0.1:$PORT, else :8080) and --api-key
(default $IVR_API_KEY, else the local stack's dev key); see ``cli_common``. API errors are printed with
each detail (a flow's problems with node id and field); exit status 1.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import quote, urlencode

from common.cli_common import URL_HELP, HelpFormatter, UsageError, default_url, load_json, print_json
from common.cli_common import request as http_request
from common.config import DEV_API_KEY


def api_key(args: argparse.Namespace) -> str:
    return str(args.api_key or os.environ.get("IVR_API_KEY") or DEV_API_KEY)


def request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return http_request(args.url, method, path, body, api_key(args))[1]


_print = print_json
_load = load_json


def cmd_push(args: argparse.Namespace) -> int:
    flow = _load(args.flow)
    _print(request(args, "PUT", f"/api/flows/{quote(str(flow.get('id', '')))}", flow))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    body = {"version": args.version, "message": args.message or ""}
    _print(request(args, "POST", f"/api/flows/{args.flow_id}/versions", body))
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    for v in request(args, "GET", f"/api/flows/{args.flow_id}/versions")["versions"]:
        print(f"{v['version']:>10}  {v['createdAt']}  {v['author'] or '-':12} {v['contentHash'][:12]}  {v['message']}")
    return 0


def _deployment_line(d: dict[str, Any]) -> str:
    changes = "; ".join(f"{c['phoneNumber']}: {c['from'] or '(nothing)'} -> {c['to']}" for c in d["changes"])
    gate = f" schedules={','.join(d['schedules'])} fallback={d['fallbackFlow']}@{d['fallbackVersion']}" \
        if d["schedules"] else ""  # fmt: skip
    who = d["createdBy"] or "-"
    return f"{d['createdAt']}  {d['kind']:8} {d['environment']:10} {d['id']}  {changes}{gate}  by {who}"


def cmd_deploy(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"environment": args.environment, "phoneNumbers": args.number, "schedules": args.schedule,
                            "fallbackFlow": args.fallback, "message": args.message or ""}  # fmt: skip
    if args.version:
        body["version"] = args.version
    print(_deployment_line(request(args, "POST", f"/api/flows/{args.flow_id}/deploy", body)))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    body = {"from": args.source, "to": args.target, "phoneNumbers": args.number, "message": args.message or ""}
    print(_deployment_line(request(args, "POST", f"/api/flows/{args.flow_id}/promote", body)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"environment": args.environment, "phoneNumbers": args.number, "message": args.message or ""}
    if args.to_version:
        body["version"] = args.to_version
    if args.to_deployment:
        body["deployment"] = args.to_deployment
    print(_deployment_line(request(args, "POST", f"/api/flows/{args.flow_id}/rollback", body)))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    query = urlencode({"from": args.old, "to": args.new})
    diff = request(args, "GET", f"/api/flows/{args.flow_id}/diff?{query}")
    if args.json:
        _print(diff)
        return 0
    if diff["identical"]:
        print(f"{args.old} and {args.new} are identical (layout aside)")
        return 0
    for kind in ("nodes", "edges"):
        for item in diff[f"{kind}Added"]:
            print(f"+ {kind[:-1]} {item['id']} ({item.get('type', item.get('source', ''))})")
        for item in diff[f"{kind}Removed"]:
            print(f"- {kind[:-1]} {item['id']}")
        for item in diff[f"{kind}Changed"]:
            for change in item["changes"]:
                print(f"~ {kind[:-1]} {item['id']} {change['field']}: {change['from']!r} -> {change['to']!r}")
    for change in diff["flowChanged"]:
        print(f"~ flow {change['field']}: {change['from']!r} -> {change['to']!r}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    wanted = {"number": args.number, "flowId": args.flow, "environment": args.environment}
    query = {k: v for k, v in wanted.items() if v}
    for d in request(args, "GET", "/api/deployments" + (f"?{urlencode(query)}" if query else ""))["deployments"]:
        print(_deployment_line(d))
    return 0


def cmd_schedules(args: argparse.Namespace) -> int:
    action, name = args.action, args.name
    if action != "list" and not name:
        raise UsageError(f"'ivr schedules {action}' needs a schedule NAME")
    if action == "list":
        for schedule in request(args, "GET", "/api/schedules")["schedules"]:
            rules = len(schedule.get("holidays", []))
            print(f"{schedule['name']:24} {schedule['timezone']:24} {rules} holiday rule(s)")
    elif action == "get":
        _print(request(args, "GET", f"/api/schedules/{name}"))
    elif action == "put":
        if not args.file:
            raise UsageError("'ivr schedules put NAME FILE.json' needs the FILE")
        _print(request(args, "PUT", f"/api/schedules/{name}", _load(args.file)))
    elif action == "delete":
        _print(request(args, "DELETE", f"/api/schedules/{name}"))
    else:
        suffix = f"?{urlencode({'at': args.at})}" if args.at else ""
        _print(request(args, "GET", f"/api/schedules/{name}/status{suffix}"))
    return 0


def add_api_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=default_url(), help=URL_HELP)
    p.add_argument("--api-key", help="API key (default: $IVR_API_KEY, else the local stack's dev key)")


def add_commands(sub: Any) -> None:
    def command(name: str, func: Any, help_text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                                    formatter_class=HelpFormatter)  # fmt: skip
        add_api_options(p)
        p.set_defaults(func=func, api=True)
        return p

    p = command("push", cmd_push, "save a flow draft from a FlowDesigner JSON file",
                "example:\n  ivr push examples/support_line.json\n\nAn invalid flow is not saved: each problem "
                "is printed with its node id, field and fix.")  # fmt: skip
    p.add_argument("flow", help="the flow document (JSON)")
    p = command("publish", cmd_publish, "publish the draft as an immutable version",
                "example:\n  ivr publish support_line --version 1.2.0 -m 'new sales menu'")
    p.add_argument("flow_id")
    p.add_argument("--version", required=True, help="MAJOR.MINOR.PATCH")
    p.add_argument("-m", "--message", help="what changed")
    p = command("versions", cmd_versions, "list a flow's published versions", "example:\n  ivr versions support_line")
    p.add_argument("flow_id")
    p = command("deploy", cmd_deploy, "deploy a flow version to numbers, all or none",
                "examples:\n  ivr deploy support_line --number +13072249663\n"
                "  ivr deploy support_line --number +13072249663 --environment staging --version 1.2.0\n"
                "  ivr deploy support_line --number +13072249663 --schedule business_hours --fallback after_hours")
    p.add_argument("flow_id")
    p.add_argument("--number", action="append", required=True, help="E.164 number (repeatable)")
    p.add_argument("--environment", default="production", help="environment the numbers serve")
    p.add_argument("--version", help="version to deploy (default: publish the draft, or reuse an identical version)")
    p.add_argument("--schedule", action="append", default=[], help="schedule gating the flow (repeatable)")
    p.add_argument("--fallback", help="flow serving while every schedule is closed")
    p.add_argument("-m", "--message", help="why")
    p = command("promote", cmd_promote, "deploy what one environment runs to another",
                "example:\n  ivr promote support_line --number +13072249663 --from staging --to production")
    p.add_argument("flow_id")
    p.add_argument("--number", action="append", required=True, help="E.164 number (repeatable)")
    p.add_argument("--from", dest="source", default="staging", help="environment to copy from")
    p.add_argument("--to", dest="target", default="production", help="environment to deploy to")
    p.add_argument("-m", "--message", help="why")
    p = command("rollback", cmd_rollback, "return numbers to their previous deployment",
                "examples:\n  ivr rollback support_line --number +13072249663\n"
                "  ivr rollback support_line --number +13072249663 --to-version 1.1.0")
    p.add_argument("flow_id")
    p.add_argument("--number", action="append", required=True, help="E.164 number (repeatable)")
    p.add_argument("--environment", default="production", help="environment to roll back")
    p.add_argument("--to-version", help="deploy this version instead of the previous deployment")
    p.add_argument("--to-deployment", help="return to this deployment id")
    p.add_argument("-m", "--message", help="why")
    p = command("diff", cmd_diff, "semantic diff between two versions",
                "examples:\n  ivr diff support_line 1.0.0 1.1.0\n  ivr diff support_line 1.1.0 draft")
    p.add_argument("flow_id")
    p.add_argument("old", help="a version, or 'draft'")
    p.add_argument("new", help="a version, or 'draft'")
    p.add_argument("--json", action="store_true", help="print the diff as JSON")
    p = command("history", cmd_history, "deployment history, newest first",
                "example:\n  ivr history --number +13072249663 --environment production")
    p.add_argument("--number", help="only deployments touching this number")
    p.add_argument("--flow", help="only this flow")
    p.add_argument("--environment", help="only this environment")
    p = command("schedules", cmd_schedules, "business-hours schedules",
                "examples:\n  ivr schedules list\n  ivr schedules put business_hours hours.json\n"
                "  ivr schedules status business_hours --at 2026-01-05T09:30:00-05:00")
    p.add_argument("action", choices=["list", "get", "put", "delete", "status"])
    p.add_argument("name", nargs="?", help="the schedule (all actions but list)")
    p.add_argument("file", nargs="?", help="the schedule document (put)")
    p.add_argument("--at", help="ISO 8601 instant with offset (status; default now)")
