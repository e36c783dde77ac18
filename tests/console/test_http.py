"""The console's HTTP side without a browser, through the live stack (every function behind the local
dispatcher): GET /api/calls and /api/calls/{sid} (common/web/calls_api.py), the console's files and
its two reads (common/web/console.py): keys and roles, tenant isolation, bad input named by field,
unknown query parameters refused, caching, and files that must never be served."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from callkit import attach
from livestack import API_KEY_A, API_KEY_B, DEMO_NUMBER, LOOKUP_NUMBER, TENANT_A, Stack, build_stack

from common import bootstrap
from common.adapters.ports import ApiKey, StoreUnavailable
from common.service.admin import hash_key
from common.web import console


@pytest.fixture
def stack(memory_store: Any) -> Iterator[Stack]:
    built = build_stack(memory_store, IVR_PLATFORM_ADMIN_KEY="platform-key-for-console-tests")
    yield built
    bootstrap.install(None)


def key(stack: Stack, role: str, tenant: str = TENANT_A) -> tuple[str, str]:
    secret, key_id = f"ivr_http_{role}_{tenant}_not_secret", f"key_{role}{len(tenant):04d}"
    stack.store.put_api_key(ApiKey(key_hash=hash_key(secret, stack.svc.settings.api_key_pepper), tenant_id=tenant,
                                   role=role, key_id=key_id, label="tests"))  # fmt: skip
    return secret, key_id


def error(response: Any) -> tuple[int, str, list[str]]:
    body = response.json["error"]
    return response.status_code, body["code"], [d.get("field") for d in body.get("details") or []]


# -- GET /api/calls ---------------------------------------------------------------------------------


def test_calls_are_listed_newest_first_with_where_each_call_is(stack: Stack) -> None:
    ended = stack.call(LOOKUP_NUMBER, ["hangup"]).call_sid
    stack.clock.at += timedelta(seconds=5)
    live = stack.sim().start(DEMO_NUMBER, inputs=["silence"])
    live.step(0)  # rung: the greeting played, the menu waits for a key
    stack.clock.at += timedelta(seconds=42)
    body = stack.api("GET", "/api/calls").json
    assert [c["callSid"] for c in body["calls"]] == [live.result.call_sid, ended]
    active = body["calls"][0]
    assert (active["status"], active["flowId"], active["number"], active["currentNode"]) == \
        ("active", "support_line", DEMO_NUMBER, "menu")  # fmt: skip
    assert active["secondsInCall"] == 42 and active["path"] == ["start", "greeting", "menu"]
    assert body["at"] == stack.clock.at.isoformat()
    assert (body["calls"][1]["status"], body["calls"][1]["currentNode"]) == ("ended", None)  # ended: at no node
    assert body["calls"][1]["path"] == ["start", "ask_account"]
    assert "events" not in active and "twiml" not in str(body).lower() and "variables" not in str(body)
    only_live = stack.api("GET", "/api/calls?active=true").json["calls"]
    assert [c["callSid"] for c in only_live] == [live.result.call_sid]
    assert [c["callSid"] for c in stack.api("GET", "/api/calls?active=false").json["calls"]] == [ended]
    assert len(stack.api("GET", "/api/calls?limit=1").json["calls"]) == 1


def test_one_call_has_its_events_in_order(stack: Stack) -> None:
    sid = stack.call(DEMO_NUMBER, ["2", "hangup"]).call_sid
    response = stack.api("GET", f"/api/calls/{sid}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    call = response.json
    types = [e["type"] for e in call["events"]]
    assert types[:2] == ["call.routed", "call.started"] and "input.accepted" in types
    assert call["eventsTruncated"] is False and call["status"] == "ended" and call["outcome"]
    assert call["path"][:4] == ["start", "greeting", "menu", "route"]


@pytest.mark.parametrize(("query", "field"), [
    ("active=maybe", "query.active"), ("active=", "query.active"), ("limit=0", "query.limit"),
    ("limit=201", "query.limit"), ("limit=ten", "query.limit"), ("actve=true", "query.actve"),
    ("tenant=tenant_b", "query.tenant"), ("=x", "query"),
])  # fmt: skip
def test_bad_or_unknown_query_parameters_are_400_naming_them(stack: Stack, query: str, field: str) -> None:
    assert error(stack.api("GET", f"/api/calls?{query}")) == (400, "invalid_request", [field])


def test_one_call_takes_no_query_parameter(stack: Stack) -> None:
    sid = stack.call(DEMO_NUMBER, ["hangup"]).call_sid
    assert error(stack.api("GET", f"/api/calls/{sid}?events=all")) == (400, "invalid_request", ["query.events"])


def test_a_tenant_sees_only_its_calls_and_another_tenants_sid_reads_as_missing(stack: Stack) -> None:
    sid = stack.call(DEMO_NUMBER, ["hangup"]).call_sid
    assert stack.api("GET", "/api/calls", key=API_KEY_B).json["calls"] == []
    theirs = stack.api("GET", f"/api/calls/{sid}", key=API_KEY_B)
    missing_sid = "CA" + "0" * 32
    missing = stack.api("GET", f"/api/calls/{missing_sid}", key=API_KEY_B)
    assert error(theirs) == error(missing) == (404, "not_found", [])
    worded = theirs.json["error"]["message"].replace(sid, "X")
    assert worded == missing.json["error"]["message"].replace(missing_sid, "X")


def test_a_sid_no_call_can_have_is_404_without_a_store_read(stack: Stack) -> None:
    reads: list[str] = []
    original = stack.store.read_call

    def counted(sid: str) -> Any:
        reads.append(sid)
        return original(sid)

    stack.store.read_call = counted
    for sid in ("CA123", "XX" + "0" * 32, "CA" + "0" * 31 + "!"):
        response = stack.api("GET", f"/api/calls/{sid}")
        assert response.status_code == 404 and "not a call sid" in response.json["error"]["message"]
    assert reads == []


def test_keys_and_roles(stack: Stack) -> None:
    viewer, _ = key(stack, "viewer")
    agent, _ = key(stack, "agent")
    assert stack.api("GET", "/api/calls", key=viewer).status_code == 200
    assert error(stack.api("GET", "/api/calls", key=None)) == (401, "unauthenticated", [])
    assert error(stack.api("GET", "/api/calls", key="ivr_nobody")) == (401, "unauthenticated", [])
    refused = stack.api("GET", "/api/calls", key=agent)
    assert error(refused) == (403, "forbidden", [])
    assert "role agent may not read calls" in refused.json["error"]["message"]
    platform = stack.api("GET", "/api/calls", key="platform-key-for-console-tests")
    assert error(platform) == (403, "forbidden", []) and "/api/platform" in platform.json["error"]["message"]


def test_other_methods_and_paths(stack: Stack) -> None:
    posted = stack.api("POST", "/api/calls", json={})
    assert error(posted) == (405, "method_not_allowed", []) and posted.headers["Allow"] == "GET"
    assert error(stack.api("GET", "/api/calls/CA" + "0" * 32 + "/events"))[:2] == (404, "not_found")


def test_a_store_that_does_not_answer_is_503_with_retry_after(stack: Stack) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("deadline exceeded")

    stack.store.list_calls = down
    response = stack.api("GET", "/api/calls")
    assert error(response) == (503, "store_unavailable", []) and int(response.headers["Retry-After"]) > 0


# -- the console's files ------------------------------------------------------------------------------


def test_the_shell_and_its_files_are_served_with_the_policy_and_caching(stack: Stack) -> None:
    shell = stack.api("GET", "/console", key=None)
    assert shell.status_code == 200 and shell.headers["Content-Type"] == "text/html; charset=utf-8"
    assert shell.headers["Cache-Control"] == "no-cache" and shell.headers["Content-Security-Policy"] == console.CSP
    assert shell.headers["X-Frame-Options"] == "DENY" and "Set-Cookie" not in shell.headers
    assert '<script type="module" src="/console/app.js">' in shell.get_data(as_text=True)
    assert "<script>" not in shell.get_data(as_text=True) and " on" not in shell.get_data(as_text=True).lower()
    assert stack.api("GET", "/console/", key=None).get_data() == shell.get_data()
    again = stack.api("GET", "/console", key=None, headers={"If-None-Match": shell.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    script = stack.api("GET", "/console/pages/flows.js", key=None)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == f"public, max-age={console.ASSET_MAX_AGE}"
    head = stack.api("HEAD", "/console/console.css", key=None)
    assert head.status_code == 200 and head.get_data() == b"" and head.headers["ETag"]
    posted = stack.api("POST", "/console/app.js", key=None)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("target", [
    "/console/../common/web/console.py", "/console/%2e%2e/common/web/console.py", "/console/pages/../../console.py",
    "/console/.hidden.js", "/console/console.py", "/console/pages", "/console/nope.js", "/console/app.js/x",
    "/console//etc/passwd.js", "/console/pages/%2fetc.js",
])  # fmt: skip
def test_nothing_outside_the_console_files_is_served(stack: Stack, target: str) -> None:
    response = stack.api("GET", target, key=None)
    assert response.status_code == 404, (target, response.get_data(as_text=True)[:200])
    assert response.headers["Content-Security-Policy"] == console.CSP


def test_every_module_the_console_imports_is_one_it_serves() -> None:
    files = set(console.manifest())
    static = console.STATIC
    for name in (n for n in files if n.endswith(".js")):
        text = (static / name).read_text(encoding="utf-8")
        base = (static / name).parent
        for target in re.findall(r"""(?:from\s+|import\()\s*["'](\.{1,2}/[^"']+)["']""", text):
            resolved = str((base / target).resolve().relative_to(static.resolve()))
            assert resolved in files, f"{name} imports {target}, which the console does not serve"


def test_no_console_file_turns_text_into_markup_or_code() -> None:
    """The escaping rule as a rule of the source: no HTML parsing of strings, no eval, no inline handlers."""
    banned = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                        r"setAttribute\(\s*[\"']on|\.on[a-z]+\s*=(?!=)|javascript:")  # fmt: skip
    for name in console.manifest():
        text = re.sub(r"^\s*//.*$|\s//\s.*$|/\*.*?\*/", "", (console.STATIC / name).read_text(encoding="utf-8"),
                      flags=re.MULTILINE | re.DOTALL)  # comments may name what the code never does
        if name == "dom.js":  # the one place that names javascript: (to refuse it) and on* (as listeners)
            text = re.sub(r"^.*(javascript:|startsWith\(\"on\"\)).*$", "", text, flags=re.MULTILINE)
        found = [m.group(0) for m in banned.finditer(text)]
        assert found == [], f"{name}: {found}"


# -- the console's reads ------------------------------------------------------------------------------


def test_me_is_the_agent_bound_to_an_agent_key(stack: Stack) -> None:
    routed = attach(stack)
    routed.department("sales")
    agent_key, agent_key_id = key(stack, "agent")
    unbound_key, _ = key(stack, "agent", tenant="tenant_b")
    routed.service.admin.put_agent(TENANT_A, "ann", {"name": "Ann", "contact": "+15552220001",
                                   "departments": [{"department": "sales", "tier": 1}]},
                                   api_key_id=agent_key_id)  # fmt: skip
    me = stack.api("GET", "/console/api/me", key=agent_key).json
    assert me["role"] == "agent" and (me["agent"]["id"], me["agent"]["status"]) == ("ann", "offline")
    assert stack.api("GET", "/console/api/me", key=unbound_key).json == {"role": "agent", "agent": None}
    assert stack.api("GET", "/console/api/me").json == {"role": "admin", "agent": None}
    assert error(stack.api("GET", "/console/api/me", key=None)) == (401, "unauthenticated", [])
    assert error(stack.api("GET", "/console/api/me", key="platform-key-for-console-tests"))[:2] == (403, "forbidden")
    asked = stack.api("GET", "/console/api/me?agent=bob", key=agent_key)
    assert error(asked) == (400, "invalid_request", ["query.agent"])


def test_validation_of_the_draft_is_the_tenants_own(stack: Stack) -> None:
    viewer, _ = key(stack, "viewer")
    agent, _ = key(stack, "agent")
    report = stack.api("GET", "/console/api/flows/support_line/validation", key=viewer)
    assert report.status_code == 200 and report.headers["Content-Security-Policy"] == console.CSP
    assert report.json["flowId"] == "support_line" and report.json["errors"] == []
    assert isinstance(report.json["warnings"], list) and report.json["etag"]
    assert error(stack.api("GET", "/console/api/flows/account_lookup/validation", key=API_KEY_B))[:2] == \
        (404, "not_found")  # tenant A's flow  # fmt: skip
    assert error(stack.api("GET", "/console/api/flows/__x__/validation"))[:2] == (404, "not_found")
    assert error(stack.api("GET", "/console/api/flows/support_line/validation", key=agent))[:2] == (403, "forbidden")
    assert error(stack.api("GET", "/console/api/flows/support_line/validation?strict=1")) == \
        (400, "invalid_request", ["query.strict"])  # fmt: skip
    posted = stack.api("POST", "/console/api/flows/support_line/validation", json={})
    assert error(posted)[:2] == (405, "method_not_allowed") and posted.headers["Allow"] == "GET"
    assert error(stack.api("GET", "/console/api/nothing"))[:2] == (404, "not_found")


def test_a_console_read_with_the_store_down_is_503(stack: Stack) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("deadline exceeded")

    stack.svc.admin.get_flow = down
    response = stack.api("GET", "/console/api/flows/support_line/validation")
    assert error(response) == (503, "store_unavailable", []) and response.headers["Retry-After"] == "5"


def test_api_key_is_unused_by_the_files(stack: Stack) -> None:
    """The files carry no tenant data, so they are the same with and without a key."""
    assert stack.api("GET", "/console/app.js", key=API_KEY_A).get_data() == \
        stack.api("GET", "/console/app.js", key=None).get_data()  # fmt: skip


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_stylesheets_colours_keep_text_readable() -> None:
    """WCAG AA: 4.5:1 for text, 3:1 for the focus ring against what it surrounds. The colours are read
    from console.css, so changing one there is checked here."""
    css = (console.STATIC / "console.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    colours |= {"white": "#ffffff", "nav": "#14213d", "problem-bg": "#fdeeee", "th-bg": "#eef1f5"}
    text_pairs = [("ink", "bg"), ("ink", "card"), ("muted", "bg"), ("muted", "card"), ("muted", "th-bg"),
                  ("ink", "th-bg"), ("accent", "card"), ("accent-ink", "accent"), ("white", "nav"),
                  ("nav", "white"), ("danger", "card"), ("ok", "card"), ("ink", "problem-bg"), ("white", "danger"),
                  ("special", "card")]  # fmt: skip
    low = [(fg, bg, round(contrast(colours[fg], colours[bg]), 2)) for fg, bg in text_pairs
           if contrast(colours[fg], colours[bg]) < 4.5]  # fmt: skip
    assert low == []
    ring = [(bg, round(contrast(colours["focus"], colours[bg]), 2)) for bg in ("card", "bg", "nav", "th-bg")]
    assert [(bg, ratio) for bg, ratio in ring if ratio < 3] == []
