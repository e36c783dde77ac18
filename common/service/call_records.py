"""Small pure helpers of the call service: the raw events and fields it builds from Twilio's
parameters (``common.service.calls``)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from common.adapters.ports import CallRecord
from common.core.call import HttpRequest

SEQ = re.compile(r"[0-9]{1,9}")  # a step's seq: ASCII digits only (str.isdigit accepts '²'), bounded


def completed_event(record: CallRecord, now: datetime, billable: int | None, call_status: str,
                    outcome: str) -> dict[str, Any]:  # fmt: skip
    """The raw call.completed event: Twilio's billable duration, ours, and where the caller was."""
    try:
        ours: int | None = max(0, int((now - datetime.fromisoformat(record.created_at)).total_seconds()))
    except (TypeError, ValueError):
        ours = None
    path = list(record.state.path)  # an ended flow has no cursor: it ended where the path ends
    data = {"billable_seconds": billable, "call_status": call_status, "outcome": outcome, "path": path,
            "duration_seconds": ours, "end_reason": outcome, "webhook_steps": record.seq + 1,
            "ended_at_node": record.state.cursor or (path[-1] if path else None)}  # fmt: skip
    return {"type": "call.completed", "seq": record.seq, "at": now.isoformat(), "nodeId": None, "data": data}


def pending_http(actions: Any) -> dict[str, Any] | None:
    for action in actions:
        if isinstance(action, HttpRequest):
            return {"method": action.method, "url": action.url, "headers": action.headers,
                    "body": action.body, "content_type": action.content_type,
                    "timeout_seconds": action.timeout_seconds}  # fmt: skip
    return None


def count(text: str | None) -> int:
    """A count Twilio sends (a duration): 0 unless 1-9 ASCII digits, so no huge number reaches the store."""
    return int(text) if text and SEQ.fullmatch(text) else 0


def confidence(text: str | None) -> float | None:
    try:
        value = float(text) if text and len(text) <= 32 else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None
