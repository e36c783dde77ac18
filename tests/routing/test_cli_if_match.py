"""``ivr departments put`` and ``ivr agents put`` guard against lost updates with If-Match, over a real
socket (werkzeug on 127.0.0.1, the CLI's own HTTP client) against the live stack with routing."""

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


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, RoutedStack]]:
    from werkzeug.serving import make_server

    monkeypatch.delenv("IVR_API_KEY", raising=False)
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


def test_a_stale_department_put_is_refused_and_explained(served: tuple[str, RoutedStack], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url, routed = served
    assert run(capsys, url, "departments", "put", write(tmp_path, "s.json", {"id": "sales", "name": "Sales"}))[0] == 0
    mine = json.loads(run(capsys, url, "departments", "get", "sales", "--json")[1])
    theirs = dict(mine, name="Sales (theirs)")
    assert run(capsys, url, "departments", "put", write(tmp_path, "theirs.json", theirs))[0] == 0  # same etag: ok
    stored = routed.store.get_department("demo", "sales")
    assert stored.settings.name == "Sales (theirs)" and stored.etag != mine["etag"]

    code, _, err = run(capsys, url, "departments", "put", write(tmp_path, "mine.json", dict(mine, name="Mine")))
    lines = [line for line in err.splitlines() if " werkzeug " not in line]  # the test server's request log
    assert code == 1 and lines[0].startswith(f"ivr: HTTP 409 conflict: department 'sales' is now {stored.etag}")
    assert lines[1] == (f"  - the department changed since etag {mine['etag']} was read (someone else saved it), "
                        "so nothing was changed")  # fmt: skip
    assert "`ivr departments get sales --json > sales.json`" in lines[2] and "--force" in lines[2]
    assert routed.store.get_department("demo", "sales") == stored  # nothing changed

    code, _, err = run(capsys, url, "departments", "put", write(tmp_path, "m.json", {"id": "sales", "name": "M"}),
                       "--if-match", "not-the-etag")  # fmt: skip
    assert code == 1 and "since etag not-the-etag was read" in err
    code, _, _ = run(capsys, url, "departments", "put", write(tmp_path, "m2.json", {"id": "sales", "name": "M"}),
                       "--if-match", stored.etag)  # fmt: skip
    assert code == 0 and routed.store.get_department("demo", "sales").settings.name == "M"
    code, _, _ = run(capsys, url, "departments", "put", write(tmp_path, "mine.json", dict(mine, name="Forced")),
                       "--force")  # fmt: skip
    assert code == 0 and routed.store.get_department("demo", "sales").settings.name == "Forced"

    current = routed.store.get_department("demo", "sales").etag
    code, _, err = run(capsys, url, "departments", "delete", "sales", "--if-match", mine["etag"])
    assert code == 1 and "changed since etag" in err and routed.store.get_department("demo", "sales") is not None
    assert run(capsys, url, "departments", "delete", "sales", "--if-match", current)[0] == 0
    assert routed.store.get_department("demo", "sales") is None


def test_an_agent_put_sends_the_files_etag(served: tuple[str, RoutedStack], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    url, routed = served
    assert run(capsys, url, "departments", "put", write(tmp_path, "s.json", {"id": "sales", "name": "Sales"}))[0] == 0
    ann = {"id": "ann", "name": "Ann", "contact": "+15005550001", "departments": [{"department": "sales"}]}
    assert run(capsys, url, "agents", "put", write(tmp_path, "ann.json", ann))[0] == 0
    fetched = json.loads(run(capsys, url, "agents", "get", "ann", "--json")[1])
    assert run(capsys, url, "agents", "status", "ann", "available")[0] == 0  # live status keeps the etag
    code, _, _ = run(capsys, url, "agents", "put", write(tmp_path, "a1.json", dict(fetched, name="Ann B")))
    assert code == 0 and routed.store.get_agent("demo", "ann").status == "available"
    code, _, err = run(capsys, url, "agents", "put", write(tmp_path, "a2.json", dict(fetched, name="Ann C")))
    assert code == 1 and "the agent changed since etag" in err and "ivr agents get ann --json" in err
    assert routed.store.get_agent("demo", "ann").settings.name == "Ann B"


def test_a_412_from_a_proxy_is_explained_too() -> None:
    args = argparse.Namespace(command="agents")
    failure = cli_routing._stale(412, {"error": {"message": "Precondition Failed"}}, args, "abc", "ann")
    assert str(failure) == "HTTP 412 precondition_failed: Precondition Failed"
    assert failure.detail_lines()[0].startswith("the agent changed since etag abc was read")
