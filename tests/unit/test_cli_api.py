"""The ``ivr`` commands that talk to a stack, against a stand-in: a real HTTP server on 127.0.0.1 that
checks each request's method, path, headers and body and answers JSON shaped like the API contract.

Each test lists the exchanges it expects, in order; the stand-in answers 599 to anything else, so a
command that sends the wrong request fails loudly.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flowkit import document, say, start

from common import cli
from common.config import DEV_API_KEY

KEY = "ivr_test_key_of_the_cli"
PLATFORM_KEY = "ivr_platform_admin_key_for_tests"
NUMBER = "+13072249663"


@dataclass
class Exchange:
    method: str
    path: str
    status: int = 200
    reply: Any = None
    body: Any = None  # the JSON body the command must send (None: no body)
    key: str | None = KEY  # the bearer key it must send (None: no Authorization header)


@dataclass
class StandIn:
    expected: list[Exchange] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""

    def expect(self, *exchanges: Exchange) -> None:
        self.expected.extend(exchanges)


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            stand_in.seen.append({"method": self.command, "path": self.path, "body": body,
                                  "headers": dict(self.headers)})  # fmt: skip
            want = stand_in.expected.pop(0) if stand_in.expected else None
            wrong = []
            if want is None:
                wrong.append("no request expected")
            else:
                if (self.command, self.path) != (want.method, want.path):
                    wrong.append(f"expected {want.method} {want.path}")
                auth = self.headers.get("Authorization")
                if auth != (f"Bearer {want.key}" if want.key else None):
                    wrong.append(f"Authorization {auth!r}")
                if body != want.body:
                    wrong.append(f"body {body!r} != {want.body!r}")
                if want.body is not None and self.headers.get("Content-Type") != "application/json":
                    wrong.append(f"Content-Type {self.headers.get('Content-Type')!r}")
            if wrong:
                stand_in.problems.append(f"{self.command} {self.path}: {'; '.join(wrong)}")
                status, reply = 599, {"error": {"code": "stand_in", "message": "; ".join(wrong)}}
            else:
                assert want is not None
                status, reply = want.status, want.reply
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 503:
                self.send_header("Retry-After", "5")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    stand_in = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("IVR_API_URL", stand_in.url)
    monkeypatch.setenv("IVR_API_KEY", KEY)
    monkeypatch.delenv("IVR_PLATFORM_ADMIN_KEY", raising=False)
    yield stand_in
    server.shutdown()
    server.server_close()
    assert stand_in.problems == []
    assert stand_in.expected == [], "requests the command never sent"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


FLOWS = {"flows": [
    {"flowId": "support_line", "name": "Acme support line", "etag": "abc-1", "updatedAt": "2026-01-05T15:00:00+00:00",
     "updatedBy": "ada", "versions": 3, "latestVersion": "1.2.0",
     "deployedTo": [{"phoneNumber": NUMBER, "environment": "production", "version": "1.2.0", "role": "flow"},
                    {"phoneNumber": "+13072240001", "environment": "staging", "version": "1.1.0",
                     "role": "fallback"}]},
    {"flowId": "draft_only", "name": "Not yet", "etag": "def-2", "updatedAt": "2026-01-04T09:00:00+00:00",
     "updatedBy": "", "versions": 0, "latestVersion": None, "deployedTo": []},
]}  # fmt: skip
NUMBERS = {"numbers": [
    {"phoneNumber": NUMBER, "environment": "production", "fallbackDial": "+14155550100",
     "deployment": {"id": "d1", "flowId": "support_line", "version": "1.2.0", "schedules": ["business_hours"],
                    "fallbackFlow": "after_hours", "fallbackVersion": "1.0.0", "createdAt": "2026-01-05T15:00:00+00:00",
                    "createdBy": "ada"}},
    {"phoneNumber": "+13072240009", "environment": "staging", "fallbackDial": None, "deployment": None},
]}  # fmt: skip


# --- listing: tables for people, --json for scripts -------------------------------------------------


def test_flows_prints_a_table(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/flows", reply=FLOWS))
    code, out, err = run(capsys, "flows")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["FLOW", "NAME", "VERSIONS", "LATEST", "DEPLOYED", "TO", "UPDATED", "BY"]
    assert lines[1].startswith("support_line  Acme support line  3         1.2.0   "
                               "+13072249663@production v1.2.0, +13072240001@staging v1.1.0 (fallback)")  # fmt: skip
    assert lines[2].split()[:5] == ["draft_only", "Not", "yet", "0", "-"]
    assert len(lines) == 3


def test_flows_json_is_the_api_answer(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/flows", reply=FLOWS))
    code, out, _ = run(capsys, "flows", "list", "--json")
    assert code == 0
    assert json.loads(out) == FLOWS


def test_flows_empty_says_how_to_add_one(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/flows", reply={"flows": []}))
    assert run(capsys, "flows") == (0, "no flows yet: save one with `ivr push FLOW.json`\n", "")


def test_flows_delete_and_its_conflict(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("DELETE", "/api/flows/old_menu", reply={"deleted": "old_menu"}),
               Exchange("DELETE", "/api/flows/support_line", 409, {"error": {
                   "code": "flow_deployed", "message": "flow 'support_line' runs on 1 number; roll it off first",
                   "details": [{"phoneNumber": NUMBER, "environment": "production"}]}}))  # fmt: skip
    assert run(capsys, "flows", "delete", "old_menu") == (0, "deleted flow old_menu (its deployment history is "
                                                             "kept)\n", "")  # fmt: skip
    code, out, err = run(capsys, "flows", "delete", "support_line")
    assert (code, out) == (1, "")
    assert err == ("ivr: HTTP 409 flow_deployed: flow 'support_line' runs on 1 number; roll it off first\n"
                   f"  - phoneNumber {NUMBER}, environment production\n")  # fmt: skip


def test_numbers_table_and_release(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/numbers", reply=NUMBERS),
               Exchange("DELETE", "/api/numbers/%2B13072240009", reply={"released": "+13072240009"}))  # fmt: skip
    code, out, _ = run(capsys, "numbers")
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == ["NUMBER", "ENVIRONMENT", "FLOW", "VERSION", "SCHEDULES", "FALLBACK", "FLOW",
                              "FALLBACK", "DIAL", "SINCE"]  # fmt: skip
    assert first.split() == [NUMBER, "production", "support_line", "1.2.0", "business_hours", "after_hours@1.0.0",
                             "+14155550100", "2026-01-05T15:00:00+00:00"]  # fmt: skip
    assert second.split() == ["+13072240009", "staging", "-", "-", "-", "-", "-", "-"]
    assert run(capsys, "numbers", "release", "+13072240009") == (0, "released +13072240009\n", "")


def test_keys_list_create_rotate_revoke(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(
        Exchange("GET", "/api/keys", reply={"keys": [
            {"keyId": "k1", "label": "dev", "role": "admin", "createdAt": "2026-01-01", "lastUsedAt": "2026-01-05",
             "revoked": False},
            {"keyId": "k0", "label": "old", "role": "viewer", "createdAt": "2025-12-01", "revoked": True}]}),
        Exchange("POST", "/api/keys", 201, {"keyId": "k2", "key": "ivr_new_secret", "role": "deployer", "label": "ci"},
                 body={"role": "deployer", "label": "ci"}),
        Exchange("POST", "/api/keys/k2/rotate", 201, {"keyId": "k3", "key": "ivr_rotated_secret", "replaces": "k2"}),
        Exchange("DELETE", "/api/keys/k3", reply={"revoked": "k3"}),
    )  # fmt: skip
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["KEY", "ID", "ROLE", "LABEL", "CREATED", "LAST", "USED", "STATUS"],
        ["k1", "admin", "dev", "2026-01-01", "2026-01-05", "active"],
        ["k0", "viewer", "old", "2025-12-01", "-", "revoked"]]  # fmt: skip
    code, out, _ = run(capsys, "keys", "create", "--role", "deployer", "--label", "ci")
    assert code == 0
    assert out.startswith("created key k2 (role deployer)\nkey      ivr_new_secret\n")
    assert "shown once" in out
    code, out, _ = run(capsys, "keys", "rotate", "k2")
    assert out.startswith("key k3 replaces k2 (now revoked)\nkey      ivr_rotated_secret\n")
    assert run(capsys, "keys", "revoke", "k3") == (0, "revoked key k3\n", "")


def test_keys_create_needs_a_role(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "create")
    assert code == 2
    assert "needs --role (admin, editor, deployer, viewer, agent)" in err


# --- tenants: the platform admin key --------------------------------------------------------------------


TENANT = {"id": "acme", "name": "Acme Inc", "twilioAccountSid": "AC" + "1" * 32, "createdAt": "2026-01-05"}


def test_tenants_use_the_platform_key(api: StandIn, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("IVR_PLATFORM_ADMIN_KEY", PLATFORM_KEY)
    monkeypatch.setattr("sys.stdin", io.StringIO("token-from-stdin\n"))
    sid = TENANT["twilioAccountSid"]
    api.expect(
        Exchange("GET", "/api/platform/tenants", reply={"tenants": [TENANT]}, key=PLATFORM_KEY),
        Exchange("POST", "/api/platform/tenants", 201, {"tenant": TENANT, "adminKey": {"keyId": "k9", "key": "ivr_a"}},
                 body={"id": "acme", "name": "Acme Inc", "twilioAccountSid": sid, "twilioAuthToken": "tok"},
                 key=PLATFORM_KEY),
        Exchange("PUT", "/api/platform/tenants/acme/twilio", reply=TENANT, key=PLATFORM_KEY,
                 body={"twilioAccountSid": sid, "twilioAuthToken": "token-from-stdin"}),
    )  # fmt: skip
    code, out, _ = run(capsys, "tenants", "list")
    assert code == 0
    assert out.splitlines()[1].split() == ["acme", "Acme", "Inc", sid, "2026-01-05"]
    code, out, _ = run(capsys, "tenants", "create", "acme", "--name", "Acme Inc", "--account-sid", sid,
                       "--auth-token", "tok")  # fmt: skip
    assert code == 0
    assert out.startswith("created tenant acme\nadmin key id k9\nkey      ivr_a\n")
    code, out, _ = run(capsys, "tenants", "link", "acme", "--account-sid", sid, "--auth-token", "-")
    assert (code, out) == (0, f"tenant acme now uses Twilio account {sid}\n")


def test_tenants_without_a_platform_key_is_a_usage_error(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tenants", "list")
    assert code == 2
    assert "needs the platform admin key: give --platform-key or set $IVR_PLATFORM_ADMIN_KEY" in err


# --- health -------------------------------------------------------------------------------------------


def test_health_ok_sends_no_key(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/health", reply={"status": "ok", "store": "ok", "version": "0.1.0"}, key=None))
    assert run(capsys, "health") == (0, f"ok: {api.url} (store ok, version 0.1.0)\n", "")


def test_health_degraded_exits_1(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/health", 503, {"status": "degraded", "store": "deadline exceeded"}, key=None),
               Exchange("GET", "/api/health", 503, {"status": "degraded", "store": "deadline exceeded"}, key=None))
    code, out, _ = run(capsys, "health")
    assert (code, out) == (1, f"degraded: {api.url} answers, but its store does not: deadline exceeded\n")
    code, out, _ = run(capsys, "health", "--json")
    assert (code, json.loads(out)) == (1, {"status": "degraded", "store": "deadline exceeded"})


# --- errors: a flow's problems, a missing file, no stack ------------------------------------------------


def test_push_of_an_invalid_flow_prints_each_problem(api: StandIn, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:  # fmt: skip
    flow = document([start(), say("hello", "x")])
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow), encoding="utf-8")
    report = {"errors": [
        {"severity": "error", "code": "invalid_field", "message": "timeout is 90; use 1 to 60 seconds",
         "node_id": "menu", "edge_id": None, "field": "data.timeout"},
        {"severity": "error", "code": "no_start_node", "message": "the flow has no start node; add one",
         "node_id": None, "edge_id": None, "field": None}],
        "warnings": [{"severity": "warning", "code": "unhandled_outcome", "message": "outcome 'next' has no edge",
                      "node_id": "hello", "edge_id": None, "field": None}]}  # fmt: skip
    api.expect(Exchange("PUT", "/api/flows/test_flow", 422, {"error": {
        "code": "flow_invalid", "message": "2 error(s); the flow was not saved", "details": report}}, body=flow))
    code, out, err = run(capsys, "push", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "ivr: HTTP 422 flow_invalid: 2 error(s); the flow was not saved",
        "  - error: node 'menu', field 'data.timeout': timeout is 90; use 1 to 60 seconds",
        "  - error: the flow has no start node; add one",
        "  - warning: node 'hello': outcome 'next' has no edge",
    ]


def test_field_errors_of_a_request_are_printed_by_field(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("POST", "/api/flows/f/versions", 400, {"error": {
        "code": "invalid_request", "message": "version: bad", "details": [{"field": "version", "message": "bad"}]}},
        body={"version": "1", "message": ""}))  # fmt: skip
    code, _, err = run(capsys, "publish", "f", "--version", "1")
    assert code == 1
    assert err.splitlines()[1] == "  - version: bad"


def test_push_of_a_missing_file_says_it_cannot_be_read(api: StandIn, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:  # fmt: skip
    code, _, err = run(capsys, "push", str(tmp_path / "nope.json"))
    assert code == 2
    assert err == f"ivr: cannot read {tmp_path / 'nope.json'}: No such file or directory\n"
    assert "HTTP" not in err


def _closed_port() -> int:
    from common.cli_stack import free_port

    return free_port()


@pytest.mark.parametrize("argv", [["versions", "f"], ["flows"], ["health"], ["call", NUMBER, "-i", "1"]],
                         ids=lambda a: a[0])  # fmt: skip
def test_no_stack_says_it_is_not_reachable_and_how_to_start_one(capsys: pytest.CaptureFixture[str],
                                                               argv: list[str]) -> None:  # fmt: skip
    url = f"http://127.0.0.1:{_closed_port()}"
    code, out, err = run(capsys, *argv, "--url", url)
    assert (code, out) == (1, "")
    assert err.startswith(f"ivr: the stack is not reachable at {url}")
    assert "`ivr run`" in err and "HTTP 0" not in err


# --- where the stack is: --url, $IVR_API_URL, $PORT, :8080 ---------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({"IVR_API_URL": "https://ivr.example.com", "PORT": "9000"}, "https://ivr.example.com",
                     id="IVR_API_URL-wins"),
        pytest.param({"PORT": "9000"}, "http://127.0.0.1:9000", id="PORT"),
        pytest.param({}, "http://127.0.0.1:8080", id="default"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["call", NUMBER], ["push", "f.json"], ["flows"], ["health"], ["keys", "list"]],
                         ids=lambda c: c[0])  # fmt: skip
def test_url_default(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str,
                     command: list[str]) -> None:  # fmt: skip
    for name in ("IVR_API_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.build_parser().parse_args(command).url == expected
    assert cli.build_parser().parse_args([*command, "--url", "http://other:1"]).url == "http://other:1"


def test_port_reaches_the_stand_in(api: StandIn, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("IVR_API_URL")
    monkeypatch.setenv("PORT", api.url.rsplit(":", 1)[1])
    monkeypatch.delenv("IVR_API_KEY")
    api.expect(Exchange("GET", "/api/flows", reply={"flows": []}, key=DEV_API_KEY))
    assert run(capsys, "flows")[0] == 0
    assert api.seen[0]["headers"]["X-Ivr-Author"]


def test_api_key_option_wins_over_the_environment(api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    api.expect(Exchange("GET", "/api/numbers", reply={"numbers": []}, key="ivr_from_option"))
    assert run(capsys, "numbers", "--api-key", "ivr_from_option") == (0, "no numbers registered\n", "")
