"""The local stack served like production (gunicorn, ``python -m common.devserver``), over real
sockets: a burst of simultaneous connections is answered in full, and the load harness measures a
run end to end (and reports failures when there are some).

Before ``serve`` raised the listen backlog, werkzeug's server (backlog 128) reset about one
connection in five of a 500-call burst; these tests open 1,000 at once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from common import config
from common.core import twiml
from common.loadgen import report
from common.loadgen.mix import default_mix
from common.loadgen.runner import Plan, Runner, counters

BURST = 1000


def _signed_incoming(base: str, index: int) -> bytes:
    params = {"CallSid": f"CA{index:032x}", "AccountSid": config.DEV_ACCOUNT_SID, "From": "+15005550006",
              "To": "+13072249663", "Direction": "inbound", "CallStatus": "ringing",
              "ApiVersion": "2010-04-01"}  # fmt: skip
    url = f"{base}/webhook/voice/incoming"
    signature = RequestValidator(config.DEV_AUTH_TOKEN).compute_signature(url, params)
    body = urlencode(params).encode()
    host = urlsplit(base).netloc
    head = (f"POST /webhook/voice/incoming HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {signature}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode() + body


def _burst(base: str, count: int) -> tuple[list[tuple[int, str]], list[str]]:
    """``count`` connections opened at the same moment, each sending one signed incoming webhook."""
    host, port = urlsplit(base).hostname or "", urlsplit(base).port or 80
    answers: list[tuple[int, str]] = []
    failures: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(count)

    def one(index: int) -> None:
        request = _signed_incoming(base, index)
        gate.wait()
        try:
            with socket.create_connection((host, port), timeout=60) as conn:
                conn.sendall(request)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            status_line, _, rest = data.partition(b"\r\n")
            answer = (int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode())
            with lock:
                answers.append(answer)
        except (OSError, IndexError, ValueError) as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")

    previous = threading.stack_size(256 * 1024)
    try:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    finally:
        threading.stack_size(previous)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers, failures


@pytest.mark.parametrize("server", ["gunicorn", "werkzeug"])
def test_a_burst_of_a_thousand_simultaneous_arrivals_is_answered_in_full(served: Callable[..., str],
                                                                          server: str) -> None:  # fmt: skip
    base = served(server, threads=32)
    answers, failures = _burst(base, BURST)
    assert failures == []
    assert len(answers) == BURST
    assert {status for status, _ in answers} == {200}
    assert [problem for _, body in answers for problem in twiml.check(body)] == []
    assert all("<Gather" in body for _, body in answers)  # the menu, not an apology


def test_the_harness_measures_a_run_with_duplicates(served: Callable[..., str]) -> None:
    base = served("gunicorn", threads=16)
    before = counters(base)
    plan = Plan(base, config.DEV_AUTH_TOKEN, config.DEV_ACCOUNT_SID, calls=40, rate=40.0, duplicate_rate=0.3,
                max_seconds=60)  # fmt: skip
    result = report.summarise(Runner(plan, default_mix()).run(), before, counters(base))
    assert result["calls"]["ended"] == 40 and result["calls"]["cutOff"] == 0
    assert result["errors"]["total"] == 0
    assert result["twimlViolations"]["total"] == 0
    assert result["duplicatesAnsweredDifferently"]["total"] == 0
    assert result["webhooks"]["duplicatesSent"] > 0
    assert {"incoming", "step", "status"} <= set(result["latency"])
    assert result["latency"]["incoming"]["n"] == 40 and result["latency"]["status"]["n"] == 40
    store = result["store"]
    assert store is not None and store["store"] == "MemoryStore"
    assert store["readsPerCall"] >= 2 and store["writesPerCall"] >= 2  # incoming and status at least
    workers = result["voiceWorkers"]  # every webhook and duplicate is one job at least
    assert workers is not None and workers["jobs"] >= result["webhooks"]["sent"] + result["webhooks"]["duplicatesSent"]
    assert 0 <= workers["onTheirCpu"] <= 1


def test_the_harness_reports_a_stack_that_does_not_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: refused
        plan = Plan(dead, config.DEV_AUTH_TOKEN, config.DEV_ACCOUNT_SID, calls=5, rate=50.0, max_seconds=20,
                    timeout=2)  # fmt: skip
        result = report.summarise(Runner(plan, default_mix()).run())
    assert result["errors"]["total"] >= 5
    assert any("connection" in kind for kind in result["errors"]["byKind"])
    assert result["calls"]["ended"] == 5 and result["calls"]["withProblems"] == 5
    assert result["store"] is None
