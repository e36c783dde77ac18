"""``ivr`` commands that list and manage what a stack holds: flows, numbers, API keys, tenants, health.

    ivr flows [list] | ivr flows delete FLOW_ID
    ivr numbers [list] | ivr numbers release NUMBER
    ivr keys list | create --role ROLE [--label L] | revoke KEY_ID | rotate KEY_ID
    ivr tenants list | get ID | create ID --name N --account-sid AC... --auth-token T
                | link ID --account-sid AC... --auth-token T      (the platform admin key)
    ivr health

Lists print a table for people; ``--json`` prints the API's JSON for scripts. A key the API creates
is printed once, as the API shows it once. ``tenants`` authenticates with the platform admin key
(``--platform-key``, else $IVR_PLATFORM_ADMIN_KEY), the others with a tenant's key (see cli_admin).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import quote

from common import cli_admin
from common.cli_common import ApiFailure, HelpFormatter, UsageError, print_json, table
from common.cli_common import request as http_request

ROLES = ("admin", "editor", "deployer", "viewer", "agent")


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return cli_admin.request(args, method, path, body)


def _out(args: argparse.Namespace, data: Any, text: str) -> int:
    if args.json:
        print_json(data)
    else:
        print(text)
    return 0


def _deployed_to(flow: dict[str, Any]) -> str:
    places = [f"{d['phoneNumber']}@{d['environment']} v{d['version']}" + (" (fallback)" if d.get("role") == "fallback"
              else "") for d in flow.get("deployedTo") or []]  # fmt: skip
    return ", ".join(places)


def cmd_flows(args: argparse.Namespace) -> int:
    if args.action == "delete":
        if not args.flow_id:
            raise UsageError("'ivr flows delete' needs the FLOW_ID")
        data = _call(args, "DELETE", f"/api/flows/{quote(args.flow_id, safe='')}")
        return _out(args, data, f"deleted flow {data.get('deleted', args.flow_id)} (its deployment history is kept)")
    flows = _call(args, "GET", "/api/flows")
    rows = [(f["flowId"], f.get("name"), f.get("versions"), f.get("latestVersion"), _deployed_to(f),
             f.get("updatedAt"), f.get("updatedBy")) for f in flows.get("flows", [])]  # fmt: skip
    return _out(args, flows, table(rows, ["FLOW", "NAME", "VERSIONS", "LATEST", "DEPLOYED TO", "UPDATED", "BY"],
                                   "no flows yet: save one with `ivr push FLOW.json`"))  # fmt: skip


def cmd_numbers(args: argparse.Namespace) -> int:
    if args.action == "release":
        if not args.number:
            raise UsageError("'ivr numbers release' needs the NUMBER")
        data = _call(args, "DELETE", f"/api/numbers/{quote(args.number, safe='')}")
        return _out(args, data, f"released {data.get('released', args.number)}")
    numbers = _call(args, "GET", "/api/numbers")
    rows = []
    for n in numbers.get("numbers", []):
        d = n.get("deployment") or {}
        fallback = f"{d['fallbackFlow']}@{d.get('fallbackVersion')}" if d.get("fallbackFlow") else ""
        rows.append((n["phoneNumber"], n.get("environment"), d.get("flowId"), d.get("version"),
                     ",".join(d.get("schedules") or []), fallback, n.get("fallbackDial"),
                     d.get("createdAt")))  # fmt: skip
    headers = ["NUMBER", "ENVIRONMENT", "FLOW", "VERSION", "SCHEDULES", "FALLBACK FLOW", "FALLBACK DIAL", "SINCE"]
    return _out(args, numbers, table(rows, headers, "no numbers registered"))


def _shown_once(data: dict[str, Any]) -> str:
    return f"key      {data['key']}\n         (shown once: store it now; the stack keeps only its hash)"


def cmd_keys(args: argparse.Namespace) -> int:
    base = "/api/keys"
    if args.action == "list":
        keys = _call(args, "GET", base)
        rows = [(k["keyId"], k.get("role"), k.get("label"), k.get("createdAt"), k.get("lastUsedAt"),
                 "revoked" if k.get("revoked") else "active") for k in keys.get("keys", [])]  # fmt: skip
        return _out(args, keys, table(rows, ["KEY ID", "ROLE", "LABEL", "CREATED", "LAST USED", "STATUS"]))
    if args.action == "create":
        if not args.role:
            raise UsageError(f"'ivr keys create' needs --role ({', '.join(ROLES)})")
        data = _call(args, "POST", base, {"role": args.role, "label": args.label or ""})
        return _out(args, data, f"created key {data['keyId']} (role {data.get('role')})\n{_shown_once(data)}")
    if not args.key_id:
        raise UsageError(f"'ivr keys {args.action}' needs the KEY_ID")
    if args.action == "revoke":
        data = _call(args, "DELETE", f"{base}/{quote(args.key_id, safe='')}")
        return _out(args, data, f"revoked key {data.get('revoked', args.key_id)}")
    data = _call(args, "POST", f"{base}/{quote(args.key_id, safe='')}/rotate")
    return _out(args, data, f"key {data['keyId']} replaces {data.get('replaces', args.key_id)} (now revoked)\n"
                            f"{_shown_once(data)}")  # fmt: skip


def _platform(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    key = args.platform_key or os.environ.get("IVR_PLATFORM_ADMIN_KEY")
    if not key:
        raise UsageError("tenant administration needs the platform admin key: give --platform-key or set "
                         "$IVR_PLATFORM_ADMIN_KEY")  # fmt: skip
    return http_request(args.url, method, path, body, key)[1]


def _auth_token(args: argparse.Namespace) -> str:
    if not args.account_sid or not args.auth_token:
        raise UsageError(f"'ivr tenants {args.action}' needs --account-sid AC... and --auth-token TOKEN "
                         "('-' reads the token from standard input)")  # fmt: skip
    return sys.stdin.readline().strip() if args.auth_token == "-" else str(args.auth_token)


def cmd_tenants(args: argparse.Namespace) -> int:
    if args.action == "list":
        tenants = _platform(args, "GET", "/api/platform/tenants")
        rows = [(t["id"], t.get("name"), t.get("twilioAccountSid"), t.get("createdAt"))
                for t in tenants.get("tenants", [])]  # fmt: skip
        return _out(args, tenants, table(rows, ["TENANT", "NAME", "TWILIO ACCOUNT", "CREATED"]))
    if not args.tenant_id:
        raise UsageError(f"'ivr tenants {args.action}' needs the tenant ID")
    path = f"/api/platform/tenants/{quote(args.tenant_id, safe='')}"
    if args.action == "get":
        t = _platform(args, "GET", path)
        return _out(args, t, table([(t["id"], t.get("name"), t.get("twilioAccountSid"), t.get("createdAt"))],
                                   ["TENANT", "NAME", "TWILIO ACCOUNT", "CREATED"]))  # fmt: skip
    if args.action == "create":
        if not args.name:
            raise UsageError("'ivr tenants create' needs --name")
        body = {"id": args.tenant_id, "name": args.name, "twilioAccountSid": args.account_sid,
                "twilioAuthToken": _auth_token(args)}  # fmt: skip
        data = _platform(args, "POST", "/api/platform/tenants", body)
        key = data.get("adminKey") or {}
        return _out(args, data, f"created tenant {data.get('tenant', {}).get('id', args.tenant_id)}\n"
                                f"admin key id {key.get('keyId')}\n{_shown_once(key)}")  # fmt: skip
    body = {"twilioAccountSid": args.account_sid, "twilioAuthToken": _auth_token(args)}
    data = _platform(args, "PUT", f"{path}/twilio", body)
    return _out(args, data, f"tenant {args.tenant_id} now uses Twilio account {args.account_sid}")


def cmd_health(args: argparse.Namespace) -> int:
    try:
        data = http_request(args.url, "GET", "/api/health")[1]
    except ApiFailure as exc:
        if exc.status != 503:
            raise
        body = exc.body if isinstance(exc.body, dict) and "status" in exc.body else \
            {"status": "degraded", "store": exc.message}  # fmt: skip
        if args.json:
            print_json(body)
        else:
            print(f"degraded: {args.url} answers, but its store does not: {body.get('store')}")
        return 1
    _out(args, data, f"{data.get('status')}: {args.url} (store {data.get('store')}, version {data.get('version')})")
    return 0 if data.get("status") == "ok" else 1


def add_commands(sub: Any) -> None:
    def command(name: str, func: Any, help_text: str, epilog: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                    epilog=epilog, formatter_class=HelpFormatter)  # fmt: skip
        cli_admin.add_api_options(p)
        p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
        p.set_defaults(func=func)
        return p

    p = command("flows", cmd_flows, "list the tenant's flows, or delete one",
                "examples:\n  ivr flows\n  ivr flows --json\n  ivr flows delete old_menu")
    p.add_argument("action", nargs="?", choices=["list", "delete"], default="list")
    p.add_argument("flow_id", nargs="?", help="the flow to delete")
    p = command("numbers", cmd_numbers, "list the tenant's numbers and what they run, or release one",
                "examples:\n  ivr numbers\n  ivr numbers release +13072249663")
    p.add_argument("action", nargs="?", choices=["list", "release"], default="list")
    p.add_argument("number", nargs="?", help="the E.164 number to release")
    p = command("keys", cmd_keys, "the tenant's API keys (needs an admin key)",
                "examples:\n  ivr keys list\n  ivr keys create --role deployer --label ci\n"
                "  ivr keys rotate k_123\n  ivr keys revoke k_123")
    p.add_argument("action", choices=["list", "create", "revoke", "rotate"])
    p.add_argument("key_id", nargs="?", help="the key to revoke or rotate")
    p.add_argument("--role", choices=ROLES, help="role of the new key")
    p.add_argument("--label", help="what the new key is for")
    p = command("tenants", cmd_tenants, "platform administration: tenants and their Twilio accounts",
                "examples:\n  ivr tenants list\n"
                "  ivr tenants create acme --name 'Acme Inc' --account-sid AC... --auth-token -\n"
                "  ivr tenants link acme --account-sid AC... --auth-token -\n\n"
                "--auth-token - reads the token from standard input, so it stays out of the shell history.")
    p.add_argument("action", choices=["list", "get", "create", "link"])
    p.add_argument("tenant_id", nargs="?", help="the tenant (all actions but list)")
    p.add_argument("--name", help="display name (create)")
    p.add_argument("--account-sid", help="Twilio account or sub-account SID, AC... (create, link)")
    p.add_argument("--auth-token", help="its auth token, or - to read it from standard input (create, link)")
    p.add_argument("--platform-key", help="platform admin key (default: $IVR_PLATFORM_ADMIN_KEY)")
    p = command("health", cmd_health, "is the stack up, and its store? (exit 0 ok, 1 degraded or unreachable)",
                "example:\n  ivr health --url https://ivr.example.com")
