"""The log-based metrics of terraform/modules/platform/monitoring_metrics.tf, evaluated over the JSON
lines a live stack really writes: a call through the webhooks over HTTP, then Twilio on the fallback
URL. Each metric's filter (as Terraform deploys it, locals resolved) must count exactly the lines it
is meant to, and every field it extracts must be in those lines.

The evaluator knows the few constructs the filters use (terms joined by AND; =, =~, >=, :*, NOT;
severity); the resource terms are true here, as every line comes from one of the platform's services.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_TESTS / "functions"))
sys.path.insert(0, str(_TESTS / "terraform"))
from hcl_tree import PLATFORM, locals_, resource  # noqa: E402
from livestack import BASE, DEMO_NUMBER, Stack, build_stack  # noqa: E402

from common import bootstrap  # noqa: E402
from common import observability as obs  # noqa: E402
from common.service import event_outbox  # noqa: E402

SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
_LOCAL = re.compile(r"\$\{local\.(\w+)\}")


def resolved(text: str) -> str:
    """A filter as Terraform renders it: locals substituted, HCL escapes undone."""
    values = locals_(PLATFORM)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return "RESOURCE" if name == "log_services_filter" else resolved(str(values[name]))

    return _LOCAL.sub(one, text).replace('\\"', '"').replace("\\\\", "\\")


def _field(entry: dict[str, Any], path: str) -> Any:
    if path == "severity":
        return entry.get("severity")
    assert path.startswith("jsonPayload."), path
    return entry.get(path.removeprefix("jsonPayload."))


def _term(entry: dict[str, Any], term: str) -> bool:
    term = term.strip()
    if term.startswith("NOT "):
        return not _term(entry, term[4:])
    if term == "RESOURCE" or term.startswith("resource."):
        return True
    if term.endswith(":*"):
        return _field(entry, term[:-2]) is not None
    match = re.fullmatch(r'([\w.]+)(=~|>=|=)(.+)', term)
    assert match, f"the evaluator does not know {term!r}"
    path, op, raw = match.groups()
    value = _field(entry, path)
    if path == "severity":
        return value is not None and SEVERITIES.index(value) >= SEVERITIES.index(raw)
    if op == ">=":
        return isinstance(value, int | float) and value >= float(raw)
    literal = json.loads(raw)
    if op == "=~":
        return isinstance(value, str) and re.search(literal, value) is not None
    return value == literal


def matches(entry: dict[str, Any], text: str) -> bool:
    return all(_term(entry, term) for term in text.split(" AND "))


def filters() -> dict[str, str]:
    found = {f"ivr_{name}": resolved(c["filter"]) for name, c in locals_(PLATFORM)["log_counters"].items()}
    for name in ("webhook_latency", "outbox_oldest_unpublished"):
        found[f"ivr_{name}"] = resolved(resource(PLATFORM, "google_logging_metric", name)["filter"])
    return found


@pytest.fixture
def logged(memory_store: Any) -> Iterator[tuple[Stack, io.StringIO]]:
    root = logging.getLogger()
    level = root.level
    stack = build_stack(memory_store, all_examples=False)
    stream = io.StringIO()
    obs.install(stream=stream, fmt="json", environ={})
    yield stack, stream
    root.removeHandler(obs._installed)  # type: ignore[arg-type]
    obs._installed = None
    root.setLevel(level)
    bootstrap.install(None)


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def counts(lines: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(matches(e, text) for e in lines) for name, text in filters().items()}


def test_a_completed_call_counts_as_started_and_completed(logged: tuple[Stack, io.StringIO]) -> None:
    stack, stream = logged
    result = stack.call(DEMO_NUMBER, ["1"])
    lines = entries(stream)
    requests = [e for e in lines if e.get("kind") == "request"]
    assert len(requests) == len(result.to_dict()["webhooks"]) >= 3
    assert counts(lines) == {
        "ivr_calls_started": 1, "ivr_calls_completed": 1, "ivr_fallback_answers": 0, "ivr_flow_errors": 0,
        "ivr_responses_5xx": 0, "ivr_event_publish_failures": 0,
        "ivr_webhook_latency": len(requests), "ivr_outbox_oldest_unpublished": 0,
    }  # fmt: skip
    completed = next(e for e in lines if matches(e, filters()["ivr_calls_completed"]))
    assert completed["call_status"] == "completed"


def test_twilio_on_the_fallback_url_is_a_fallback_answer(logged: tuple[Stack, io.StringIO]) -> None:
    stack, stream = logged
    params = {"CallSid": "CA" + "f" * 32, "AccountSid": "AC" + "a" * 32, "To": DEMO_NUMBER,
              "From": "+15005550006", "ErrorCode": "11200", "ErrorUrl": BASE + "/webhook/voice/step"}  # fmt: skip
    response = stack.signed_post("/webhook/voice/fallback", params)
    assert response.status_code == 200
    lines = entries(stream)
    found = counts(lines)
    assert (found["ivr_fallback_answers"], found["ivr_calls_started"], found["ivr_webhook_latency"]) == (1, 0, 1)
    assert found["ivr_flow_errors"] == 1, "the fallback's error line is an error while serving a call"
    answer = next(e for e in lines if matches(e, filters()["ivr_fallback_answers"]))
    assert (answer["failure"], answer["function"]) == ("fallback_url", "incoming_call")


def test_event_outbox_warnings_count_as_publish_failures(logged: tuple[Stack, io.StringIO]) -> None:
    _, stream = logged
    event_outbox.log.warning("events: could not acknowledge 3 events of call CA1: store down")
    event_outbox.log.info("events: published")
    assert counts(entries(stream))["ivr_event_publish_failures"] == 1


def test_every_extracted_field_is_in_the_lines_it_counts(logged: tuple[Stack, io.StringIO]) -> None:
    stack, stream = logged
    stack.call(DEMO_NUMBER, ["1"])
    lines = entries(stream)
    counters = locals_(PLATFORM)["log_counters"]
    for name, counter in counters.items():
        for label, path in counter["labels"].items():
            counted = [e for e in lines if matches(e, filters()[f"ivr_{name}"])]
            assert all(_field(e, path) is not None for e in counted), f"{name}.{label}: {path} missing"
    latency = resource(PLATFORM, "google_logging_metric", "webhook_latency")
    value = re.fullmatch(r"EXTRACT\((.+)\)", latency["value_extractor"])
    assert value is not None
    measured = [e for e in lines if matches(e, filters()["ivr_webhook_latency"])]
    assert measured and all(isinstance(_field(e, value.group(1)), float) for e in measured)
    for label, extractor in latency["label_extractors"].items():
        path = extractor.removeprefix("EXTRACT(").removesuffix(")")
        assert all(_field(e, path) for e in measured), label


def test_the_sweepers_line_carries_the_oldest_unpublished_age() -> None:
    """The sweeper logs kind=events_sweep with oldest_unpublished_seconds (common/web/events_api.py)."""
    source = (Path(__file__).resolve().parents[2] / "common" / "web" / "events_api.py").read_text(encoding="utf-8")
    assert '"events_sweep"' in source and "oldest_unpublished_seconds" in source
    line = {"kind": "events_sweep", "oldest_unpublished_seconds": 610.5, "severity": "WARNING"}
    assert matches(line, filters()["ivr_outbox_oldest_unpublished"])
    assert not matches({"kind": "request"}, filters()["ivr_outbox_oldest_unpublished"])
