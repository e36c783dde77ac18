"""ivr report webhooks: from a running stack's GET /api/reports/webhooks over real HTTP (after a
simulated call and a fallback request), and with --project straight from Cloud Monitoring (a fake
client); tables, JSON, and what a bad option or an unreachable stack says."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
from livestack import ACCOUNT_A, DEMO_NUMBER, Stack, build_stack, wsgi_app

from common import bootstrap, cli
from common.reports import webhook_metrics
from common.reports.webhook_recorder import RECORDER


@pytest.fixture
def served(memory_store: Any) -> Iterator[tuple[Stack, str]]:
    from werkzeug.serving import make_server

    stack = build_stack(memory_store, all_examples=False)
    server = make_server("127.0.0.1", 0, wsgi_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stack, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        bootstrap.install(None)


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", "webhooks", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_stacks_webhooks_per_function_and_route(served: tuple[Stack, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    stack, url = served
    RECORDER.clear()
    steps = sum(1 for e in stack.call(DEMO_NUMBER, ["1"]).exchanges if "/webhook/voice/step" in e.url)
    stack.signed_post("/webhook/voice/fallback", {"CallSid": "CA" + "d" * 32, "To": DEMO_NUMBER,
                                                  "AccountSid": ACCOUNT_A})  # fmt: skip
    capsys.readouterr()  # the stack's own log lines
    code, out, _ = report(capsys, "--url", url, "--minutes", "5")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "webhooks of every tenant, the last 5 minutes, from the stack's recorder"
    assert lines[1].split() == ["function", "requests", "p50", "ms", "p95", "ms", "mean", "ms", "max", "ms"]
    table = {line.split()[0]: line.split()[1] for line in lines[3:] if line and not line.startswith(("-", "minute"))}
    assert table["flow_step"] == str(steps) and table["incoming_call"] == "3"  # incoming, status, fallback
    fallback = next(line for line in lines if "fallback_url" in line).split()
    assert fallback[1:] == ["fallback_url", "incoming_call", "1"]

    code, out, _ = report(capsys, "--url", url, "--by-route", "--json")
    body = json.loads(out)
    assert (code, body["report"], body["source"], body["scope"]) == (0, "webhooks", "process", "platform")
    assert sorted({r["route"] for r in body["latency"]}) == ["voice.fallback", "voice.incoming", "voice.status",
                                                             "voice.step"]  # fmt: skip
    code, out, _ = report(capsys, "--url", url, "--by-route")
    assert code == 0 and "voice.incoming" in out and "route" in out.splitlines()[1]


def test_cloud_monitoring_of_a_project(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[str] = []

    class Client:
        def list_time_series(self, request: Any, timeout: float) -> list[Any]:
            asked.append(request.name)
            return []

    monkeypatch.setattr(webhook_metrics.CloudMonitoringWebhooks, "client", property(lambda self: Client()))
    code, out, err = report(capsys, "--project", "ivr-prod", "--minutes", "10")
    assert (code, asked) == (0, ["projects/ivr-prod", "projects/ivr-prod"])
    assert out.splitlines() == ["webhooks of every tenant, the last 10 minutes, from Cloud Monitoring"]
    assert "no webhook requests" in err

    class Failing:
        def list_time_series(self, request: Any, timeout: float) -> list[Any]:
            raise RuntimeError("403 Permission monitoring.timeSeries.list denied")

    monkeypatch.setattr(webhook_metrics.CloudMonitoringWebhooks, "client", property(lambda self: Failing()))
    code, out, err = report(capsys, "--project", "ivr-prod")
    assert (code, out) == (1, "") and "Cloud Monitoring of project ivr-prod did not answer: 403" in err


def test_bad_options_and_no_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = report(capsys, "--minutes", "0")
    assert code == 2 and "--minutes: 0 is out of range; use 1 to 60" in err
    code, _, err = report(capsys, "--url", "http://127.0.0.1:9")
    assert code == 1 and "not reachable at http://127.0.0.1:9" in err
