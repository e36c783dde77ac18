"""Logs of the functions: one structured line per request, in Cloud Logging's JSON, readable locally.

    install("flow_step")                    once, at import of a function's main.py (idempotent)
    @observed("flow_step")                  around the entry point: the request's context and its line
    annotate(tenant="t1", call_event="started")   what the code learns while it serves the request

Rules owned here:
- Format: ``IVR_LOG_FORMAT=json|text``; default json when ``K_SERVICE`` is set (Cloud Run, which runs
  Cloud Functions 2nd gen), text otherwise (``ivr run``, tests). ``IVR_LOG_LEVEL`` (default INFO).
  The JSON is what Cloud Logging's agent turns into a LogEntry: ``severity``, ``message``, ``time``,
  ``logging.googleapis.com/trace`` (``projects/<project>/traces/<id>``), ``.../spanId`` (16 hex
  digits) and ``.../trace_sampled``, from ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` or else W3C
  ``traceparent``; a malformed header is ignored, never copied into a log.
- Every record logged while a request is served (on its thread, or on a worker thread started with
  ``contextvars.copy_context()``) carries the request's ``function``, ``route``, ``call_sid`` and
  ``tenant``. When the entry point returns, one line with ``kind: "request"`` adds ``status``,
  ``status_class``, ``latency_ms`` and whatever was annotated: the log-based metrics in Terraform
  (terraform/modules/platform/monitoring_metrics.tf) count and measure these lines.
- Bounded values only in the fields the metrics use as labels: ``route`` comes from a fixed table
  (never a raw path), ``call_event``/``failure``/``http_node`` are words of this code base. Tenants
  and call sids are log fields, never metric labels (docs/monitoring.md, "Cardinality").
- Nothing secret: no header, form or body is ever logged here, and the values of the secret
  environment variables (Twilio auth tokens, the API-key pepper, the platform key) are replaced by
  ``[redacted]`` in every formatted line, whatever logged them.
- Cheap: no I/O but the one write of each line; the clock is read three times per request.
- Every webhook request's latency and fallback answer also go to the process's bounded recorder
  (``common.reports.webhook_recorder``), which ``GET /api/reports/webhooks`` reads on a local stack;
  it is fed whatever the log level, so turning lines off does not turn the numbers off.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from common.reports.webhook_recorder import RECORDER

TRACE_HEADER = "X-Cloud-Trace-Context"
MAX_FORM_BYTES = 64 * 1024  # = voice.MAX_BODY_BYTES: larger bodies are refused unread, so never read here
REDACTED = "[redacted]"
SECRET_ENV = ("TWILIO_AUTH_TOKEN", "IVR_API_KEY_PEPPER", "IVR_PLATFORM_ADMIN_KEY")

_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_SID = re.compile(r"[A-Za-z0-9]{1,64}")
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_WORD = re.compile(r"[a-z0-9_.-]{1,40}")
# = common.core.queue_twiml.KINDS (a test keeps them equal; importing it here would import twilio)
_DEPARTMENT_KINDS = frozenset({"hold", "menu", "connect", "whisper", "accept", "dial-result", "callback-confirm",
                               "callback-number", "callback-agent", "callback-result", "callback-status",
                               "voicemail"})  # fmt: skip
_VOICE_ROUTES = frozenset({"incoming", "status", "fallback", "step"})
# The attributes every LogRecord has: anything else on a record came from ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


@dataclass(slots=True)
class RequestContext:
    function: str
    route: str = "other"
    method: str = ""
    trace: str | None = None
    span_id: str | None = None
    sampled: bool | None = None
    call_sid: str = ""
    tenant: str = ""
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("ivr_request", default=None)
_secrets: tuple[str, ...] = ()
_installed: logging.Handler | None = None
_install_lock = threading.Lock()
log = logging.getLogger("ivr.request")


def current() -> RequestContext | None:
    return _current.get()


def annotate(**values: Any) -> None:
    """Add what the code learnt to the request being served (no-op outside a request). ``call_sid`` and
    ``tenant`` are checked (an id of at most 64 characters), every other value must be a short word."""
    context = _current.get()
    if context is None:
        return
    for key, value in values.items():
        if key == "call_sid":
            context.call_sid = value if isinstance(value, str) and _SID.fullmatch(value) else context.call_sid
        elif key == "tenant":
            context.tenant = value if isinstance(value, str) and _TENANT.fullmatch(value) else context.tenant
        elif isinstance(value, bool | int | float) or (isinstance(value, str) and _WORD.fullmatch(value)):
            context.fields[key] = value


def parse_trace(headers: Any, project: str | None) -> tuple[str | None, str | None, bool | None]:
    """(``projects/<p>/traces/<id>``, span id as 16 hex digits, sampled) from the request's headers."""
    trace_id = span = None
    sampled: bool | None = None
    match = _CLOUD_TRACE.fullmatch((headers.get(TRACE_HEADER) or "").strip())
    if match:
        trace_id = match.group(1).lower()
        if match.group(2) and int(match.group(2)) < 2**64:
            span = f"{int(match.group(2)):016x}"
        sampled = None if match.group(3) is None else match.group(3) == "1"
    else:
        parent = _TRACEPARENT.fullmatch((headers.get("traceparent") or "").strip())
        if parent:
            trace_id, span, sampled = parent.group(1), parent.group(2), int(parent.group(3), 16) & 1 == 1
    if trace_id is None or set(trace_id) == {"0"}:
        return None, None, None
    return (f"projects/{project}/traces/{trace_id}" if project else trace_id), span, sampled


def route_of(path: str) -> str:
    """A bounded name for the metrics' ``route`` label: a raw path could be anything a caller sends."""
    parts = path.rstrip("/").split("/")
    if path.startswith("/webhook/voice/") and len(parts) == 4:
        return f"voice.{parts[3]}" if parts[3] in _VOICE_ROUTES else "other"
    if path.startswith("/webhook/departments/") and len(parts) == 4:
        return f"departments.{parts[3]}" if parts[3] in _DEPARTMENT_KINDS else "other"
    if path == "/api/departments/route":
        return "departments.route"
    if path.startswith("/api/departments/tasks/"):
        return "task.routing"
    if path.startswith("/api/monitoring/tasks/"):
        return "task.monitoring"
    if path.startswith("/api/"):
        return "api"
    if path == "/console" or path.startswith("/console/"):
        return "console"
    return "other"


def begin(function: str, request: Any, project: str | None = None) -> RequestContext:
    path = request.path or "/"
    environ = request.environ
    if _CLOUD_TRACE_KEY not in environ and _TRACEPARENT_KEY not in environ:  # Twilio: neither; Cloud Run adds the first
        trace = span = sampled = None
    else:
        trace, span, sampled = parse_trace(request.headers, project or os.environ.get("GOOGLE_CLOUD_PROJECT"))
    context = RequestContext(function=function, route=route_of(path), method=request.method or "",
                             trace=trace, span_id=span, sampled=sampled)  # fmt: skip
    if path.startswith("/webhook/"):
        _from_webhook(context, request, environ)
    return context


_CLOUD_TRACE_KEY, _TRACEPARENT_KEY = "HTTP_X_CLOUD_TRACE_CONTEXT", "HTTP_TRACEPARENT"  # the headers' WSGI names
_FORM_TYPE = "application/x-www-form-urlencoded"


def _from_webhook(context: RequestContext, request: Any, environ: Mapping[str, Any]) -> None:
    """CallSid (Twilio's form) and tenant (``t``, department webhooks), only from a form the handler
    would read anyway: POST, form-encoded, with a Content-Length it accepts. Read from the WSGI
    environ where it can be (this runs on every webhook): the same checks as ``annotate``."""
    if request.method != "POST":
        return
    length = request.content_length
    if length is None or length > MAX_FORM_BYTES:
        return
    if str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower() == _FORM_TYPE:
        sid = request.form.get("CallSid", "")
        if isinstance(sid, str) and _SID.fullmatch(sid):
            context.call_sid = sid
    if "t=" in str(environ.get("QUERY_STRING", "")):  # no "t" parameter: the query is not parsed for it
        tenant = request.args.get("t", "")
        if isinstance(tenant, str) and _TENANT.fullmatch(tenant):
            context.tenant = tenant


def status_of(result: Any) -> int:
    if isinstance(result, tuple) and len(result) >= 2 and isinstance(result[1], int):
        return result[1]
    code = getattr(result, "status_code", None)
    return code if isinstance(code, int) else 200


def finish(context: RequestContext, status: int) -> None:
    latency_ms = round((time.perf_counter() - context.started) * 1000, 2)
    failure = context.fields.get("failure")
    RECORDER.record(context.function, context.route, latency_ms, failure if isinstance(failure, str) else None)
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 and status != 404 else logging.INFO
    if not log.isEnabledFor(level):
        return
    extra = {"kind": "request", "status": status, "status_class": f"{status // 100}xx", "latency_ms": latency_ms,
             "method": context.method, **context.fields}  # fmt: skip
    log.log(level, "%s %s %s in %.1f ms", context.method, context.route, status, latency_ms, extra=extra)


Handler = Callable[[Any], Any]


def observed(function: str) -> Callable[[Handler], Handler]:
    """Serve each request inside its context and end it with its request line. An exception that
    escapes the entry point is logged with its traceback (the framework then answers 500)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(request: Any) -> Any:
            context = begin(function, request)
            token = _current.set(context)
            status = 500
            try:
                result = handler(request)
                status = status_of(result)
                return result
            except Exception:
                context.fields["failure"] = "unhandled_error"
                log.exception("%s %s escaped %s", context.method, context.route, function)
                raise
            finally:
                finish(context, status)
                _current.reset(token)

        return run

    return decorate


# -- formatting ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    found = {k: _jsonable(v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    nested = found.pop("json_fields", None)  # google-cloud-logging's convention for structured fields
    if isinstance(nested, dict):
        found.update(nested)
    return found


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class CloudJsonFormatter(logging.Formatter):
    """One JSON object per line, in the shape Cloud Logging reads from a Cloud Run container's output."""

    def __init__(self, function: str | None = None) -> None:
        super().__init__()
        self.function = function

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "logger": record.name,
        }
        context = _current.get()
        if context is not None:
            if context.trace:
                entry["logging.googleapis.com/trace"] = context.trace
            if context.span_id:
                entry["logging.googleapis.com/spanId"] = context.span_id
            if context.sampled is not None:
                entry["logging.googleapis.com/trace_sampled"] = context.sampled
            entry.update({"function": context.function, "route": context.route})
            if context.call_sid:
                entry["call_sid"] = context.call_sid
            if context.tenant:
                entry["tenant"] = context.tenant
        elif self.function:
            entry["function"] = self.function
        entry.update(_extras(record))
        if record.exc_info:  # Error Reporting reads a stack trace from stack_trace
            entry["stack_trace"] = self.formatException(record.exc_info)
        if record.levelno >= logging.ERROR:
            entry["logging.googleapis.com/sourceLocation"] = {"file": record.pathname, "line": record.lineno,
                                                              "function": record.funcName}  # fmt: skip
        return _redact(json.dumps(entry, ensure_ascii=False, default=str))


class HumanFormatter(logging.Formatter):
    """``12:00:01.234 INFO  ivr.voice  [flow_step voice.step CA12ab… demo] message  key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        context = _current.get()
        where = ""
        if context is not None:
            parts = [context.function, context.route, context.call_sid[:12], context.tenant]
            where = " [" + " ".join(p for p in parts if p) + "]"
        extras = _extras(record)
        tail = "  " + " ".join(f"{k}={v}" for k, v in extras.items()) if extras else ""
        line = f"{stamp} {record.levelname:<7} {record.name}{where} {record.getMessage()}{tail}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return _redact(line)


# -- installing ------------------------------------------------------------------------------------


def log_format(environ: Mapping[str, str] | None = None) -> str:
    values: Mapping[str, str] = os.environ if environ is None else environ
    chosen = (values.get("IVR_LOG_FORMAT") or "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    return "json" if values.get("K_SERVICE") else "text"


def secrets_from(environ: dict[str, str]) -> tuple[str, ...]:
    """The secret values of the environment: the variables above and the tokens of
    TWILIO_SUBACCOUNT_TOKENS (a JSON object). Short values are ignored (redacting "a" would maim logs)."""
    found = [environ.get(name, "") for name in SECRET_ENV]
    try:
        accounts = json.loads(environ.get("TWILIO_SUBACCOUNT_TOKENS") or "{}")
    except ValueError:
        accounts = {}
    if isinstance(accounts, dict):
        found.extend(str(v) for v in accounts.values())
    return tuple(sorted({s for s in found if len(s) >= 8}, key=len, reverse=True))


def protect(values: Iterable[str]) -> None:
    """Also redact these values (for example a tenant's auth token the process learnt at run time)."""
    global _secrets
    with _install_lock:
        _secrets = tuple(sorted({*_secrets, *(v for v in values if len(v) >= 8)}, key=len, reverse=True))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def install(function: str | None = None, stream: IO[str] | None = None, fmt: str | None = None,
            environ: dict[str, str] | None = None) -> logging.Handler:  # fmt: skip
    """Put the one handler of this module on the root logger (replacing the one a previous call put
    there, never anybody else's) and read the secrets to redact from the environment."""
    global _installed
    environ = dict(os.environ) if environ is None else environ
    chosen = fmt or log_format(environ)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(CloudJsonFormatter(function) if chosen == "json" else HumanFormatter())
    root = logging.getLogger()
    with _install_lock:
        if _installed is not None:
            root.removeHandler(_installed)
        root.addHandler(handler)
        _installed = handler
    protect(secrets_from(environ))
    level = logging.getLevelName((environ.get("IVR_LOG_LEVEL") or "INFO").upper())
    if isinstance(level, int) and (root.level == logging.NOTSET or root.level > level):
        root.setLevel(level)
    return handler
