"""``ivr departments`` and ``ivr agents`` against a real stack: the local stack's functions and the routing
API served on 127.0.0.1 by werkzeug (a real socket, the CLI's own HTTP client), the embedded stores."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))  # the live stack's test kit
from livestack import build_stack
from routingkit import RoutedStack, attach_routing, routing_wsgi

from common import bootstrap, cli, cli_routing
from common.adapters.memory import MemoryStore
from common.adapters.ports import ApiKey
from common.service.admin import hash_key

AGENT_KEY = "ivr_agent_key_of_ann_for_tests"
SALES = {"id": "sales", "name": "Sales", "joinWhenEmpty": "always", "strategy": "roundRobin",
         "escalation": [{"afterSeconds": 120, "action": "raisePriority", "to": 100},
                        {"afterSeconds": 300, "action": "overflow", "department": "support"}]}  # fmt: skip


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, RoutedStack]]:
    from werkzeug.serving import make_server

    monkeypatch.delenv("IVR_API_KEY", raising=False)  # the stack knows the dev key, the CLI's default
    routed = attach_routing(build_stack(MemoryStore(), all_examples=False))
    werkzeug_log = logging.getLogger("werkzeug")  # its access lines would land in the CLI's captured stderr
    monkeypatch.setattr(werkzeug_log, "level", logging.WARNING)
    server = make_server("127.0.0.1", 0, routing_wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", routed
    server.shutdown()
    thread.join(5)
    bootstrap.install(None)


@pytest.fixture(autouse=True)
def with_routing_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ivr`` with these commands, whether or not cli.py registers them already."""
    real = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "departments" not in sub.choices:
            cli_routing.add_commands(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = cli.main([*argv, "--url", url])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_departments_put_list_get_stats_live_delete(served: tuple[str, RoutedStack], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url, routed = served
    code, out, err = run(capsys, url, "departments")
    assert (code, out) == (0, "no departments yet: add one with `ivr departments put DEPARTMENT.json`\n")
    code, _, err = run(capsys, url, "departments", "put", write(tmp_path, "sales.json", SALES))
    assert code == 1  # support does not exist yet: the ladder may not name it
    assert err.splitlines() == [
        "ivr: HTTP 422 department_invalid: escalation[1].department: department 'support' does not exist",
        "  - escalation[1].department: department 'support' does not exist"]
    assert routed.store.list_departments("demo") == []
    support = write(tmp_path, "support.json", {"id": "support", "name": "Support"})
    code, out, _ = run(capsys, url, "departments", "put", support)
    assert code == 0 and out.startswith("saved department support (etag ")
    assert run(capsys, url, "departments", "put", write(tmp_path, "sales.json", SALES))[0] == 0

    code, out, _ = run(capsys, url, "departments")
    lines = out.splitlines()
    assert lines[0].split() == ["DEPARTMENT", "NAME", "STRATEGY", "JOIN", "SCHEDULE", "RING", "MAX", "WAIT", "MAX",
                                "QUEUE", "LADDER"]  # fmt: skip
    assert lines[1].split()[:8] == ["sales", "Sales", "roundRobin", "always", "-", "20s", "30m00s", "100"]
    assert lines[1].endswith("120s raisePriority to 100, 300s overflow support")
    assert lines[2].split()[:3] == ["support", "Support", "longestIdle"]

    code, out, _ = run(capsys, url, "departments", "get", "sales", "--json")
    fetched = json.loads(out)
    assert fetched["id"] == "sales" and fetched["etag"] and fetched["strategy"] == "roundRobin"
    fetched["name"] = "Sales desk"  # what get --json prints goes back through put
    code, out, _ = run(capsys, url, "departments", "put", write(tmp_path, "edited.json", fetched))
    assert code == 0 and routed.store.get_department("demo", "sales").settings.name == "Sales desk"

    code, out, _ = run(capsys, url, "departments", "stats", "sales")
    assert code == 0 and out.splitlines()[1] == "waiting         0 (by priority -); longest 0s"
    assert json.loads(run(capsys, url, "departments", "stats", "sales", "--json")[1])["department"] == "sales"
    code, out, _ = run(capsys, url, "departments", "live", "sales")
    assert out.splitlines()[0] == "sales: 0 waiting, expected wait 3m00s"
    assert "nobody is waiting" in out and "no agents serve this department" in out

    code, _, err = run(capsys, url, "departments", "delete", "support")
    assert code == 1 and "other departments overflow into 'support': sales.escalation[1].department" in err
    code, out, _ = run(capsys, url, "departments", "delete", "sales")
    assert (code, out) == (0, "deleted department sales\n")
    code, _, err = run(capsys, url, "departments", "get", "sales")
    assert (code, err) == (1, "ivr: HTTP 404 not_found: department 'sales' does not exist\n")


def test_agents_put_list_status_and_the_live_view(served: tuple[str, RoutedStack], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url, routed = served
    routed.svc.store.put_api_key(ApiKey(key_hash=hash_key(AGENT_KEY, routed.svc.settings.api_key_pepper),
                                        tenant_id="demo", role="agent", key_id="key_ann1"))  # fmt: skip
    assert run(capsys, url, "departments", "put", write(tmp_path, "s.json", {"id": "sales", "name": "Sales"}))[0] == 0
    bad = {"id": "ann", "name": "Ann", "contact": "call me", "departments": [{"department": "sales"}]}
    code, _, err = run(capsys, url, "agents", "put", write(tmp_path, "bad.json", bad))
    assert code == 1 and err.splitlines()[1].startswith("  - contact: 'call me' is not an E.164 number")
    ann = {**bad, "contact": "+1 500 555 0001", "apiKeyId": "key_ann1"}
    code, out, _ = run(capsys, url, "agents", "put", write(tmp_path, "ann.json", ann))
    assert (code, out) == (0, f"saved agent ann (etag {routed.store.get_agent('demo', 'ann').etag}; status offline)\n")
    bob = {"id": "bob", "name": "Bob", "contact": "client:bob", "departments": [{"department": "sales", "tier": 2}]}
    assert run(capsys, url, "agents", "put", write(tmp_path, "bob.json", bob))[0] == 0

    code, out, _ = run(capsys, url, "agents", "status", "ann", "available", "--api-key", AGENT_KEY)
    assert code == 0 and out.startswith("agent ann is available (since ")
    code, _, err = run(capsys, url, "agents", "status", "bob", "available", "--api-key", AGENT_KEY)
    assert code == 1 and err.startswith("ivr: HTTP 403 forbidden: key key_ann1 is not bound to agent 'bob'")
    assert run(capsys, url, "agents", "status", "bob", "away")[0] == 0  # the dev key is an admin's
    code, _, err = run(capsys, url, "agents", "status", "bob", "busy")
    assert code == 2 and "needs the new status: available | away | offline" in err

    code, out, _ = run(capsys, url, "agents", "list", "--department", "sales")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["AGENT", "NAME", "CONTACT", "STATUS", "SINCE", "DEPARTMENTS", "CALLS", "KEY"]
    assert [r[:4] for r in rows[1:]] == [["ann", "Ann", "+15005550001", "available"], ["bob", "Bob", "client:bob",
                                                                                        "away"]]  # fmt: skip
    assert rows[1][-1] == "key_ann1" and "(tier 2)" in out
    listed = json.loads(run(capsys, url, "agents", "--json")[1])
    assert [a["id"] for a in listed["agents"]] == ["ann", "bob"]

    sid = routed.live_call("CA" + "4" * 32)
    joined = routed.api("POST", "/api/departments/route", json={"callSid": sid, "department": "sales"})
    assert joined.status_code == 201
    code, out, _ = run(capsys, url, "departments", "live", "sales")
    assert "RINGING" in out and f"+15005550006  50        ann     {sid}" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("offered", "away"))] == [
        ["offered", "ann"], ["away", "bob"]]
    code, _, err = run(capsys, url, "agents", "delete", "ann")
    assert code == 1 and "agent 'ann' is offered" in err
    assert run(capsys, url, "agents", "delete", "bob")[1] == "deleted agent bob\n"


def test_usage_errors(served: tuple[str, RoutedStack], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = served
    assert run(capsys, url, "departments", "get")[2] == "ivr: 'ivr departments get' needs the department ID\n"
    assert run(capsys, url, "agents", "put")[2] == "ivr: 'ivr agents put' needs the FILE.json\n"
    code, _, err = run(capsys, url, "departments", "put", write(tmp_path, "x.json", {"name": "No id"}))
    assert code == 2 and "needs its \"id\"" in err
    code, _, err = run(capsys, url, "departments", "put", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "http://127.0.0.1:9", "departments")
    assert code == 1 and "is not reachable" in err
