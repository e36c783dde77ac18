"""common/observability.py: the request line's shape in Cloud Logging's JSON and as text, the trace
from X-Cloud-Trace-Context or traceparent, the request's context on every record (worker threads
too), severities, bounded annotations and routes, and redaction of the secrets."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from common import observability as obs

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TOKEN = "twilio-auth-token-0123456789abcdef"
SUB_TOKEN = "sub-account-token-fedcba9876543210"
CALL_SID = "CA" + "1" * 32


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The module's handler on a stream, in JSON, with two secrets to redact; the root logger's
    level and handlers put back afterwards. A function module imported by an earlier test has
    installed the module's handler already: ``install`` replaces it, and it is put back in its place."""
    root = logging.getLogger()
    level, before, previous, secrets = root.level, list(root.handlers), obs._installed, obs._secrets
    stream = io.StringIO()
    handler = obs.install("flow_step", stream=stream, fmt="json",
                          environ={"TWILIO_AUTH_TOKEN": TOKEN,
                                   "TWILIO_SUBACCOUNT_TOKENS": json.dumps({"AC1": SUB_TOKEN}),
                                   "IVR_API_KEY_PEPPER": "short"})  # fmt: skip
    assert previous not in root.handlers and root.handlers.count(handler) == 1  # replaced, never doubled
    yield stream
    root.removeHandler(handler)
    if previous is not None and previous in before:  # only where it was: handlers as they were before
        root.handlers.insert(before.index(previous), previous)
    obs._installed, obs._secrets = previous, secrets
    root.setLevel(level)
    assert root.handlers == before


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def request(path: str = "/webhook/voice/step", headers: dict[str, str] | None = None,
            form: dict[str, str] | None = None, method: str = "POST", query: str = "") -> Any:  # fmt: skip
    return EnvironBuilder(path=path, method=method, headers=list((headers or {}).items()), data=form,
                          query_string=query,
                          base_url="https://ivr.example.test").get_request()  # fmt: skip


def serve(handler: Any, req: Any, function: str = "flow_step") -> Any:
    return obs.observed(function)(handler)(req)


def test_request_line_in_cloud_loggings_shape(lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "ivr-prod")

    def handler(_: Any) -> Any:
        obs.annotate(tenant="acme", call_event="started")
        logging.getLogger("ivr.voice").info("turn served")
        return "<Response/>", 200, {}

    serve(handler, request(headers={obs.TRACE_HEADER: f"{TRACE_ID}/12345;o=1"},
                           form={"CallSid": CALL_SID, "From": "+15005550006", "To": "+13072249663"}))  # fmt: skip
    inner, line = records(lines)
    trace = f"projects/ivr-prod/traces/{TRACE_ID}"
    assert inner["message"] == "turn served" and inner["severity"] == "INFO" and inner["logger"] == "ivr.voice"
    for entry in (inner, line):
        assert entry["logging.googleapis.com/trace"] == trace
        assert entry["logging.googleapis.com/spanId"] == f"{12345:016x}"
        assert entry["logging.googleapis.com/trace_sampled"] is True
        assert (entry["function"], entry["route"], entry["call_sid"], entry["tenant"]) == \
            ("flow_step", "voice.step", CALL_SID, "acme")  # fmt: skip
    assert {k: line[k] for k in ("severity", "kind", "status", "status_class", "method", "call_event")} == \
        {"severity": "INFO", "kind": "request", "status": 200, "status_class": "2xx", "method": "POST",
         "call_event": "started"}  # fmt: skip
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    # The form is read for CallSid only: the caller's and the called number stay out of the logs.
    assert "+15005550006" not in lines.getvalue() and "+13072249663" not in lines.getvalue()


@pytest.mark.parametrize("headers, trace, span, sampled", [
    ({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}, TRACE_ID, "00f067aa0ba902b7", True),
    ({obs.TRACE_HEADER: f"{TRACE_ID};o=0"}, TRACE_ID, None, False),
    ({obs.TRACE_HEADER: TRACE_ID.upper()}, TRACE_ID, None, None),
    ({obs.TRACE_HEADER: f"{TRACE_ID}/{2**64}"}, TRACE_ID, None, None),  # a span id beyond 64 bits is dropped
    ({obs.TRACE_HEADER: "0" * 32 + "/1;o=1"}, None, None, None),  # the all-zero trace id is invalid
    ({obs.TRACE_HEADER: "<script>/1"}, None, None, None),
    ({"traceparent": "00-xyz-00f067aa0ba902b7-01"}, None, None, None),
])  # fmt: skip
def test_trace_header_parsing(headers: dict[str, str], trace: str | None, span: str | None,
                              sampled: bool | None) -> None:  # fmt: skip
    assert obs.parse_trace(headers, None) == (trace, span, sampled)


def test_a_malformed_trace_header_is_never_copied_into_a_line(lines: io.StringIO) -> None:
    serve(lambda _: ("", 200, {}), request(headers={obs.TRACE_HEADER: "not-a-trace\u2028injected"}))
    [line] = records(lines)
    assert "logging.googleapis.com/trace" not in line and "injected" not in lines.getvalue()


@pytest.mark.parametrize("content_type, query, call_sid, tenant", [
    ("application/x-www-form-urlencoded; charset=UTF-8", "t=acme", CALL_SID, "acme"),
    ("Application/X-WWW-Form-Urlencoded", "seq=2", CALL_SID, None),  # no t: the query is not read for one
    ("text/plain", "seq=2&t=acme", None, "acme"),  # not a form: the body is never parsed for CallSid
    ("application/x-www-form-urlencoded", "t=bad%20tenant!", CALL_SID, None),  # not an id: left out
    ("application/x-www-form-urlencoded", "at=acme", CALL_SID, None),  # "t=" inside another name
])  # fmt: skip
def test_call_sid_and_tenant_come_only_from_what_the_handler_reads(lines: io.StringIO, content_type: str, query: str,
                                                                   call_sid: str | None,
                                                                   tenant: str | None) -> None:  # fmt: skip
    body = f"CallSid={CALL_SID}&From=%2B15005550006"
    req = EnvironBuilder(path="/webhook/voice/step", method="POST", data=body, content_type=content_type,
                         query_string=query, base_url="https://ivr.example.test").get_request()  # fmt: skip
    serve(lambda _: ("", 200, {}), req)
    [line] = records(lines)
    assert (line.get("call_sid"), line.get("tenant")) == (call_sid, tenant)


def test_worker_threads_started_with_the_context_log_with_it(lines: io.StringIO) -> None:
    def handler(_: Any) -> Any:
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(logging.getLogger("ivr.worker").warning, "from a worker"))
        worker.start()
        worker.join()
        return "", 204, {}

    serve(handler, request(form={"CallSid": CALL_SID}, query="t=acme"))
    worker, line = records(lines)
    assert (worker["message"], worker["severity"], worker["call_sid"], worker["tenant"]) == \
        ("from a worker", "WARNING", CALL_SID, "acme")  # fmt: skip
    assert line["status"] == 204


@pytest.mark.parametrize("status, severity", [(200, "INFO"), (404, "INFO"), (403, "WARNING"), (502, "ERROR")])
def test_severity_follows_the_status(lines: io.StringIO, status: int, severity: str) -> None:
    serve(lambda _: ("", status, {}), request(path="/api/flows"))
    [line] = records(lines)
    assert (line["severity"], line["status_class"], line["route"]) == (severity, f"{status // 100}xx", "api")


def test_an_escaping_exception_is_a_500_line_with_its_stack(lines: io.StringIO) -> None:
    def handler(_: Any) -> Any:
        raise RuntimeError("engine exploded")

    with pytest.raises(RuntimeError):
        serve(handler, request())
    escaped, line = records(lines)
    assert escaped["severity"] == "ERROR" and "RuntimeError: engine exploded" in escaped["stack_trace"]
    assert escaped["logging.googleapis.com/sourceLocation"]["function"]
    assert (line["status"], line["failure"], line["severity"]) == (500, "unhandled_error", "ERROR")


def test_annotations_keep_only_bounded_values(lines: io.StringIO) -> None:
    def handler(_: Any) -> Any:
        obs.annotate(call_sid="CA with spaces", tenant="x" * 65, note="Has Capitals", detail="y" * 41,
                     ok=True, attempts=2, failure="fallback_url")  # fmt: skip
        return "", 200, {}

    serve(handler, request(form={"CallSid": CALL_SID}))
    [line] = records(lines)
    assert line["call_sid"] == CALL_SID and "tenant" not in line
    assert "note" not in line and "detail" not in line
    assert (line["ok"], line["attempts"], line["failure"]) == (True, 2, "fallback_url")
    obs.annotate(failure="outside a request")  # no request: nothing to annotate, and no error


def test_secrets_are_redacted_whoever_logs_them(lines: io.StringIO) -> None:
    log = logging.getLogger("some.library")
    log.warning("auth failed with token %s", TOKEN)
    log.warning("sub-account %s", SUB_TOKEN, extra={"echo": {"token": TOKEN}})
    obs.protect(["tenant-token-learnt-at-run-time"])
    log.error("relinked with tenant-token-learnt-at-run-time")
    log.info("short values such as %s are left alone", "short")
    text = lines.getvalue()
    assert TOKEN not in text and SUB_TOKEN not in text and "tenant-token-learnt-at-run-time" not in text
    first, second, third, fourth = records(lines)
    assert first["message"] == f"auth failed with token {obs.REDACTED}"
    assert second["echo"] == {"token": obs.REDACTED}
    assert third["message"] == f"relinked with {obs.REDACTED}"
    assert fourth["message"] == "short values such as short are left alone"


def test_the_text_format_is_readable_and_redacted() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    obs.install("incoming_call", stream=stream, fmt="text", environ={"TWILIO_AUTH_TOKEN": TOKEN})
    try:
        serve(lambda _: ("", 200, {}), request(path="/webhook/voice/incoming", form={"CallSid": CALL_SID}),
              function="incoming_call")  # fmt: skip
        logging.getLogger("ivr.x").warning("token %s", TOKEN)
    finally:
        root.removeHandler(obs._installed)  # type: ignore[arg-type]
        obs._installed = None
        root.setLevel(level)
    request_line, warning = stream.getvalue().splitlines()
    assert "INFO" in request_line and "[incoming_call voice.incoming CA1111111111]" in request_line
    assert "kind=request" in request_line and "status=200" in request_line
    assert warning.endswith(f"token {obs.REDACTED}")


def test_install_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    level = root.level
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        first = obs.install(stream=io.StringIO(), fmt="json", environ={})
        second = obs.install(stream=io.StringIO(), fmt="json", environ={})
        assert second in root.handlers and first not in root.handlers and other in root.handlers
    finally:
        root.removeHandler(other)
        root.removeHandler(obs._installed)  # type: ignore[arg-type]
        obs._installed = None
        root.setLevel(level)


@pytest.mark.parametrize("path, route", [
    ("/webhook/voice/step", "voice.step"), ("/webhook/voice/nope", "other"),
    ("/webhook/departments/hold", "departments.hold"), ("/webhook/departments/CA123", "other"),
    ("/api/departments/route", "departments.route"), ("/api/departments/tasks/dispatch", "task.routing"),
    ("/api/monitoring/tasks/queue-metrics", "task.monitoring"), ("/api/flows/f1/versions", "api"),
    ("/console/app.js", "console"), ("/wp-login.php", "other"),
])  # fmt: skip
def test_routes_are_a_fixed_table(path: str, route: str) -> None:
    assert obs.route_of(path) == route


@pytest.mark.parametrize("environ, chosen", [
    ({}, "text"), ({"K_SERVICE": "ivr-flow-step"}, "json"), ({"K_SERVICE": "x", "IVR_LOG_FORMAT": "text"}, "text"),
    ({"IVR_LOG_FORMAT": " JSON "}, "json"), ({"IVR_LOG_FORMAT": "xml"}, "text"),
])  # fmt: skip
def test_log_format_choice(environ: dict[str, str], chosen: str) -> None:
    assert obs.log_format(environ) == chosen


def test_secrets_from_the_environment() -> None:
    found = obs.secrets_from({"TWILIO_AUTH_TOKEN": TOKEN, "IVR_PLATFORM_ADMIN_KEY": "tiny",
                              "TWILIO_SUBACCOUNT_TOKENS": "not json",
                              "IVR_API_KEY_PEPPER": "pepper-of-the-keys"})  # fmt: skip
    assert found == (TOKEN, "pepper-of-the-keys")  # longest first, so a secret inside another is not half-redacted
