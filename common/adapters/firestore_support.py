"""What the Firestore store needs besides RPCs: the JSON Firestore cannot hold, call documents, and
one typed error for outages.

Firestore cannot hold every JSON value: no array directly inside an array, no empty or __reserved__
map keys, integers within int64, strings that encode as UTF-8, at most 20 levels of nesting. A call's
``state`` carries what flows put in it, including parsed HTTP responses (``[[lat, lng], ...]`` is
common), so such a field is stored as its JSON text instead: never a failed webhook.

``translating_outages`` makes every public method of a store class raise ``StoreUnavailable`` for the
client's "did not answer" errors (UNAVAILABLE, DEADLINE_EXCEEDED, retries spent), chaining the
original; the class needs an ``_outages`` attribute holding those exception types.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from common.adapters.ports import CallRecord, StoreUnavailable


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (what the Firestore client does with one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain_datetime(value: datetime) -> datetime:
    """The client returns DatetimeWithNanoseconds; records hold plain datetimes."""
    return datetime.combine(value.date(), value.timetz())


_RESERVED_KEY = re.compile(r"__.*__", re.DOTALL)
_MAX_DEPTH = 20
_INT64 = range(-(2**63), 2**63)
ENCODED_FIELDS = ("state", "events", "pending_http", "outbox")  # CallRecord fields that may hold foreign JSON


def firestore_can_hold(value: Any, depth: int = 1) -> bool:
    """True when ``value`` (JSON-like) round-trips through a Firestore field at ``depth``."""
    if isinstance(value, dict):
        return depth <= _MAX_DEPTH and all(
            isinstance(k, str) and k != "" and not _RESERVED_KEY.fullmatch(k) and _utf8(k)
            and firestore_can_hold(v, depth + 1) for k, v in value.items())  # fmt: skip
    if isinstance(value, list):
        return depth <= _MAX_DEPTH and all(
            not isinstance(v, list) and firestore_can_hold(v, depth + 1) for v in value)  # fmt: skip
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return True
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, str):
        return _utf8(value)
    return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from json.loads('"\\ud800"')
        return False
    return True


def call_to_doc(call: CallRecord) -> dict[str, Any]:
    doc = call.model_dump(mode="json")
    doc["expires_at"] = utc(call.expires_at)  # a real timestamp: the TTL policy's field
    doc["outbox_since"] = utc(call.outbox_since) if call.outbox_since is not None else None  # the sweeper's
    for field in ENCODED_FIELDS:
        if not firestore_can_hold(doc[field]):
            doc[field] = json.dumps(doc[field], separators=(",", ":"))
    return doc


def _since(outbox: list[dict[str, Any]]) -> datetime | None:
    """The earliest occurred_at of an outbox (RFC 3339 UTC strings), as a Firestore timestamp."""
    earliest = min((str(r.get("occurred_at", "")) for r in outbox), default="")
    return utc(datetime.fromisoformat(earliest.replace("Z", "+00:00"))) if earliest else None


def outbox_fields(outbox: list[dict[str, Any]]) -> dict[str, Any]:
    """The two fields ``update_outbox`` writes, encoded like ``call_to_doc`` encodes them."""
    value: Any = outbox if firestore_can_hold(outbox) else json.dumps(outbox, separators=(",", ":"))
    return {"outbox": value, "outbox_since": _since(outbox)}


def call_from_doc(doc: dict[str, Any]) -> CallRecord:
    doc = dict(doc)
    for name in ("expires_at", "outbox_since"):
        if isinstance(doc.get(name), datetime):
            doc[name] = _plain_datetime(doc[name])
    for field in ENCODED_FIELDS:
        if isinstance(doc.get(field), str):  # stored as JSON text (see firestore_can_hold)
            doc[field] = json.loads(doc[field])
    return CallRecord.model_validate(doc)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def outage_errors() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions as gexc

    return (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError)


def _typed_outages(method: _Method) -> _Method:
    @functools.wraps(method)
    def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self._outages as exc:
            raise StoreUnavailable(f"Firestore did not answer {method.__name__}: {exc}") from exc

    return translated  # type: ignore[return-value]


def translating_outages(cls: type) -> type:
    """Every public method of ``cls`` raises StoreUnavailable for an outage (see the docstring)."""
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, _typed_outages(member))
    return cls
