"""Call events: the one schema every exported event obeys, and everything generated from it.

    CallEvent          one row of the ``call_events`` table (BigQuery, and the local DuckDB file)
    CATALOGUE          event type -> the model of its typed ``data`` attributes
    event_id(...)      the deterministic id: the same event, built again, has the same id
    bigquery_schema()  the table's columns  -> terraform/modules/platform/schemas/call_events.json
    json_schema()      the JSON Schema      -> terraform/modules/platform/schemas/call_event.schema.json
    duckdb_ddl()       the local table      -> terraform/modules/platform/schemas/call_events.duckdb.sql

Rules owned here:
- This module is the source of truth; the three files are generated from it
  (``python tools/generate_event_schemas.py``) and a test fails when a checked-in one is stale.
- A row's columns are fixed (``COLUMNS``); what differs per type lives in ``data``, whose keys are
  snake_case and whose attributes are typed per type (``CATALOGUE``). A type missing from the
  catalogue, a missing attribute or an unknown one is refused (``ValueError``): nothing is exported
  that the reports could not read.
- ``event_id`` is the first 32 hex digits of sha256(source id, index, type): the source is the call
  sid (or, for queue and agent events, the entry or agent document), the index the event's position
  in that source's stream. Replaying a webhook or republishing from the outbox rebuilds the same id,
  so readers deduplicate by it. The index is also the ``event_index`` column: the events of one
  webhook share ``occurred_at``, and readers order them by it within a call.
- Changes are additive (a new type, a new optional attribute, a new nullable column) and keep
  ``SCHEMA_VERSION``; anything else is a new version.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
EVENT_ID_HEX = 32


def event_id(source: str, index: int, type_: str) -> str:
    """Deterministic: the hex sha256 of source, index and type, cut to 32 digits."""
    return hashlib.sha256(f"{source}\x1f{index}\x1f{type_}".encode("utf-8", "replace")).hexdigest()[:EVENT_ID_HEX]


# --- the typed attributes per type ----------------------------------------------------------------


class Attributes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CallStartedData(Attributes):
    from_: str = Field(alias="from", description="the caller's number (Twilio's From)")
    to: str = Field(description="the dialled number")
    environment: str = Field(description="the number's environment: production, staging...")
    direction: Literal["inbound"] = "inbound"


class CallRoutedData(Attributes):
    reason: str = Field(description="why this flow serves the call: deployed, schedule_open, schedule_closed...")
    deployment_id: str | None = None


class NodeEnteredData(Attributes):
    node_type: str


class NodeLeftData(Attributes):
    outcome: str = Field(description="the outcome (edge label) taken: next, success, failed, 1, default, ...")
    duration_ms: int = Field(ge=0, description="time since the matching node.entered")


class InputAcceptedData(Attributes):
    variable: str
    attempt: int


class InputRejectedData(Attributes):
    reason: str = Field(description="noInput or noMatch")
    attempt: int


class DecisionMatchedData(Attributes):
    rule: str = Field(description="the rule id that matched, or default")


class HttpRequestedData(Attributes):
    method: str


class HttpCompletedData(Attributes):
    status_code: int
    ok: bool
    duration_ms: int | None = Field(None, description="the request as performed by the webhook")


class HttpFailedData(Attributes):
    error: str
    duration_ms: int | None = None


class TransferStartedData(Attributes):
    target: Literal["number", "sip", "client", "department"]
    priority: int | None = Field(None, description="0-999, department transfers only")


class TransferEndedData(Attributes):
    outcome: str


class RecordingEndedData(Attributes):
    duration_seconds: int
    recorded: bool
    late: bool = Field(False, description="the recording arrived after the call had moved on")


class CallFallbackData(Attributes):
    reason: str = Field(description="why the caller heard the fallback: fallback_url, worker_error, worker_timeout, "
                                    "store_unavailable, ...")
    region: str | None = Field(None, description="the region that answered the fallback, when known")


class CallCompletedData(Attributes):
    duration_seconds: int | None = Field(None, description="from call.started to the status callback, our clock")
    end_reason: str = Field(description="hangup_node, caller_hangup, unhandled_outcome, busy, expired, ...")
    webhook_steps: int = Field(description="webhook requests that advanced the call: incoming + steps + status")
    ended_at_node: str | None = Field(None, description="the node the caller was at when the call ended")
    call_status: str | None = Field(None, description="Twilio's final CallStatus")


class QueueJoinedData(Attributes):
    priority: int = Field(ge=0, le=999)
    position: int | None = None


class QueueAnnouncedData(Attributes):
    position: int
    expected_wait_seconds: int | None = None


class QueueOfferedData(Attributes):
    pass


class QueueDeclinedData(Attributes):
    reason: str = Field(description="declined, no-answer, busy")


class QueueAnsweredData(Attributes):
    wait_seconds: int
    service_level_seconds: int | None = Field(None, description="the department's service-level target")


class QueueAbandonedData(Attributes):
    wait_seconds: int
    service_level_seconds: int | None = Field(None, description="the department's service-level target: an "
                                                                "abandon within it is not counted against it")


class QueueEscalatedData(Attributes):
    action: str = Field(description="raisePriority, overflow, callback, voicemail, timeout")
    to_department: str | None = None


class QueueLeftData(Attributes):
    outcome: str = Field(description="timeout, voicemail, callbackRequested, noAgents, closed")


class CallbackRequestedData(Attributes):
    number_hash: str = Field(description="a hash of the number, never the number")


class CallbackCompletedData(Attributes):
    outcome: str
    attempts: int


class AgentStatusChangedData(Attributes):
    from_status: str
    to_status: str


CALL_TYPES: dict[str, type[Attributes]] = {
    "call.started": CallStartedData, "call.routed": CallRoutedData,
    "node.entered": NodeEnteredData, "node.left": NodeLeftData,
    "input.accepted": InputAcceptedData, "input.rejected": InputRejectedData,
    "decision.matched": DecisionMatchedData,
    "http.requested": HttpRequestedData, "http.completed": HttpCompletedData, "http.failed": HttpFailedData,
    "transfer.started": TransferStartedData, "transfer.ended": TransferEndedData,
    "recording.ended": RecordingEndedData, "call.completed": CallCompletedData,
    "call.fallback": CallFallbackData,
}  # fmt: skip
QUEUE_TYPES: dict[str, type[Attributes]] = {
    "queue.joined": QueueJoinedData, "queue.announced": QueueAnnouncedData, "queue.offered": QueueOfferedData,
    "queue.declined": QueueDeclinedData, "queue.answered": QueueAnsweredData,
    "queue.abandoned": QueueAbandonedData, "queue.escalated": QueueEscalatedData, "queue.left": QueueLeftData,
    "callback.requested": CallbackRequestedData, "callback.completed": CallbackCompletedData,
    "agent.status_changed": AgentStatusChangedData,
}  # fmt: skip
CATALOGUE: dict[str, type[Attributes]] = {**CALL_TYPES, **QUEUE_TYPES}


# --- the row --------------------------------------------------------------------------------------


class Column(NamedTuple):
    name: str
    bigquery: str
    mode: Literal["REQUIRED", "NULLABLE"]
    duckdb: str
    description: str


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "STRING", "REQUIRED", "VARCHAR",
           "Deterministic id (sha256 of source id, index and type, 32 hex digits): a replayed or "
           "republished event has the same id; views deduplicate by it."),
    Column("schema_version", "INT64", "REQUIRED", "BIGINT", "Version of this schema (1)."),
    Column("type", "STRING", "REQUIRED", "VARCHAR", "Event type: call.started, node.entered, call.completed..."),
    Column("tenant_id", "STRING", "REQUIRED", "VARCHAR", "Tenant that owns the call, queue or agent."),
    Column("call_sid", "STRING", "NULLABLE", "VARCHAR", "Twilio CallSid; null for agent.status_changed."),
    Column("flow_id", "STRING", "NULLABLE", "VARCHAR", "Call flow that handled the call."),
    Column("flow_version", "STRING", "NULLABLE", "VARCHAR", "Version of the flow (a string: \"3\")."),
    Column("node_id", "STRING", "NULLABLE", "VARCHAR", "Flow node the event happened at."),
    Column("department_id", "STRING", "NULLABLE", "VARCHAR", "Department of queue, callback, agent and "
           "department transfer events."),
    Column("agent_id", "STRING", "NULLABLE", "VARCHAR", "Agent of queue.offered/answered/declined and "
           "agent.status_changed."),
    Column("occurred_at", "TIMESTAMP", "REQUIRED", "TIMESTAMPTZ", "When it happened (UTC); the day "
           "partitioning column."),
    Column("billable_seconds", "INT64", "NULLABLE", "BIGINT", "call.completed only: Twilio's CallDuration."),
    Column("data", "JSON", "NULLABLE", "JSON", "Typed attributes of the event type (snake_case keys)."),
    Column("event_index", "INT64", "NULLABLE", "BIGINT", "Position in its source's stream (a call: 0, 1, 2... "
           "in the order it happened; a queue entry or agent: revision * 64 + place in the revision). "
           "Orders events that share occurred_at; null in rows written before the column existed."),
)  # fmt: skip


class CallEvent(BaseModel):
    """One exported event. ``data`` is checked against the type's attributes and stored as their dump
    (aliases: ``from``), so two builds of one event are equal field for field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    schema_version: Literal[1] = 1  # = SCHEMA_VERSION
    type: str
    tenant_id: str = Field(min_length=1)
    call_sid: str | None = None
    flow_id: str | None = None
    flow_version: str | None = None
    node_id: str | None = None
    department_id: str | None = None
    agent_id: str | None = None
    occurred_at: datetime
    billable_seconds: int | None = Field(None, ge=0)
    data: dict[str, Any] | None = None
    event_index: int | None = Field(None, ge=0)

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone (UTC)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _typed_data(self) -> CallEvent:
        model = CATALOGUE.get(self.type)
        if model is None:
            raise ValueError(f"unknown event type {self.type!r}; known: {', '.join(sorted(CATALOGUE))}")
        typed = model.model_validate(self.data or {}).model_dump(mode="json", by_alias=True)
        object.__setattr__(self, "data", typed)
        return self

    def row(self) -> dict[str, Any]:
        """The JSON row: column name -> value, ``occurred_at`` as RFC 3339 UTC, ``data`` an object."""
        out = self.model_dump(mode="json")
        out["occurred_at"] = self.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return out


def build(type_: str, *, source: str, index: int, tenant_id: str, occurred_at: datetime | str,
          data: dict[str, Any] | None = None, **columns: Any) -> CallEvent:  # fmt: skip
    """The event ``index`` of ``source`` (a call sid, an entry or agent document id)."""
    at = datetime.fromisoformat(occurred_at) if isinstance(occurred_at, str) else occurred_at
    return CallEvent(event_id=event_id(source, index, type_), type=type_, tenant_id=tenant_id, occurred_at=at,
                     data=data, event_index=index, **columns)  # fmt: skip


# --- generated artefacts --------------------------------------------------------------------------


def bigquery_schema() -> list[dict[str, str]]:
    return [{"name": c.name, "type": c.bigquery, "mode": c.mode, "description": c.description} for c in COLUMNS]


def duckdb_ddl(table: str = "call_events") -> str:
    lines = [f"  {c.name} {c.duckdb}{' NOT NULL' if c.mode == 'REQUIRED' else ''}" for c in COLUMNS]
    head = "-- Generated from common/core/events.py (python tools/generate_event_schemas.py): do not edit.\n"
    return head + f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(lines) + "\n);\n"


_JSON_TYPES = {"STRING": "string", "INT64": "integer", "TIMESTAMP": "string", "JSON": "object"}


def json_schema() -> dict[str, Any]:
    """Draft 2020-12: the columns, and per type (if/then) the attributes ``data`` must have."""
    defs: dict[str, Any] = {}
    branches = []
    for type_, model in CATALOGUE.items():
        schema = model.model_json_schema(by_alias=True)
        schema.pop("title", None)
        name = model.__name__
        defs[name] = schema
        branches.append({"if": {"properties": {"type": {"const": type_}}, "required": ["type"]},
                         "then": {"properties": {"data": {"$ref": f"#/$defs/{name}"}}}})  # fmt: skip
    properties: dict[str, Any] = {}
    for c in COLUMNS:
        kind: Any = _JSON_TYPES[c.bigquery]
        prop: dict[str, Any] = {"description": c.description}
        if c.name == "type":
            prop["enum"] = sorted(CATALOGUE)
        elif c.name == "schema_version":
            prop["const"] = SCHEMA_VERSION
        elif c.name == "occurred_at":
            prop["format"] = "date-time"
        elif c.name == "event_id":
            prop["pattern"] = "^[0-9a-f]{32}$"
        prop["type"] = kind if c.mode == "REQUIRED" else [kind, "null"]
        properties[c.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ivr-flows.invalid/schemas/call_event.schema.json",
        "title": f"Call event, schema version {SCHEMA_VERSION}",
        "description": "One row of call_events. Generated from common/core/events.py: do not edit.",
        "type": "object",
        "properties": properties,
        "required": [c.name for c in COLUMNS if c.mode == "REQUIRED"],
        "additionalProperties": False,
        "allOf": branches,
        "$defs": defs,
    }


def generated_files() -> dict[str, str]:
    """Path (relative to the repository) -> the text it must hold."""
    base = "terraform/modules/platform/schemas/"
    return {
        base + "call_events.json": json.dumps(bigquery_schema(), indent=2) + "\n",
        base + "call_event.schema.json": json.dumps(json_schema(), indent=2, sort_keys=False) + "\n",
        base + "call_events.duckdb.sql": duckdb_ddl(),
    }
