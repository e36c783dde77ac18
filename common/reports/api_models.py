"""The reports' answers and query parameters as pydantic models: their schemas in the OpenAPI document.

Rows carry the views' column names (snake_case, as in BigQuery), so an analyst's query and the API
read the same words. ``extra="forbid"``: a column added to a view fails the tests that validate real
answers against these models (tests/reports/test_reports_api.py) until it is added here too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.service.operations import Query

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
DAY = r"^\d{4}-\d{2}-\d{2}$"


class MonthQuery(Query):
    month: str | None = Field(None, pattern=MONTH, description="a UTC month, YYYY-MM (the month each call started)")


class FunnelQuery(Query):
    version: str | None = Field(None, max_length=64, description="the flow version; default the highest with events")


class QueuesQuery(Query):
    department: str | None = Field(None, max_length=128, description="one department's id")
    date: str | None = Field(None, pattern=DAY, description="one UTC day, YYYY-MM-DD")


class VolumeQuery(Query):
    by: Literal["hour", "day"] | None = Field(None, description="the period of a row: hour (default) or day, UTC")
    flow: str | None = Field(None, max_length=128, description="one flow's id")
    since: str | None = Field(None, pattern=DAY, description="the first UTC day, YYYY-MM-DD (calls started from it)")
    until: str | None = Field(None, pattern=DAY, description="the last UTC day, YYYY-MM-DD, included")


class WebhooksQuery(Query):
    minutes: int | None = Field(None, ge=1, le=60, description="the last N minutes, 1 to 60 (default 60)")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BillingRow(_Row):
    tenant_id: str
    month: str
    calls: int
    calls_not_completed: int
    billable_minutes: int
    webhook_steps: int
    http_requests: int
    recording_seconds: int
    transfers: int
    events: int
    function_requests: int
    firestore_reads: int
    firestore_writes: int
    firestore_deletes: int
    platform_cost_usd: float
    twilio_voice_usd: float


class CostRow(_Row):
    tenant_id: str
    month: str
    flow_id: str | None
    flow_version: str | None
    calls: int
    billable_minutes: int
    webhook_steps: int
    http_requests: int
    events: int
    platform_cost_usd: float
    twilio_voice_usd: float
    platform_cost_per_call_usd: float
    twilio_voice_per_call_usd: float


class FunnelOutcome(_Row):
    outcome: str
    left: int
    callers: int
    seconds_total: float
    seconds_average: float | None


class FunnelNode(_Row):
    tenant_id: str
    flow_id: str
    flow_version: str | None
    node_id: str
    node_type: str | None
    entered: int
    callers: int
    left: int
    hung_up: int
    ended: int
    seconds_total: float
    seconds_average: float | None
    average_step: float | None
    outcomes: list[FunnelOutcome]


class QueueRow(_Row):
    tenant_id: str
    department_id: str
    hour: str
    offered: int
    answered: int
    abandoned: int
    left_other: int
    agent_offers: int
    answered_within_service_level: int
    service_level: float | None
    wait_average_seconds: float | None
    wait_p90_seconds: float | None
    abandon_wait_average_seconds: float | None


class _VolumeCounts(_Row):
    tenant_id: str
    flow_id: str | None
    calls_started: int
    calls_completed: int
    calls_failed: int
    calls_succeeded: int
    calls_in_progress: int
    success_rate: float | None = Field(description="succeeded / (succeeded + failed); null when both are 0")
    failed_guard: int
    failed_unhandled_outcome: int
    failed_fallback: int
    fallback_answers: int


class VolumeHourRow(_VolumeCounts):
    hour: str


class VolumeDayRow(_VolumeCounts):
    day: str


class _Answer(_Row):
    report: str
    filters: dict[str, str]
    note: str | None = Field(None, description="why the report is empty (no events yet)")


class BillingAnswer(_Answer):
    rows: list[BillingRow]


class CostsAnswer(_Answer):
    rows: list[CostRow]


class QueuesAnswer(_Answer):
    rows: list[QueueRow]


class VolumeAnswer(_Answer):
    rows: list[VolumeHourRow] | list[VolumeDayRow]


class _Latency(_Row):
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    max_ms: float | None = Field(description="the slowest request (local recorder only; null from Cloud Monitoring)")


class LatencyRow(_Latency):
    minute: str
    function: str
    route: str


class FunctionLatency(_Latency):
    function: str


class FallbackRow(_Row):
    minute: str
    reason: str = Field(description="fallback_url, budget_overrun or unhandled_error")
    function: str
    answers: int


class WebhooksAnswer(_Answer):
    source: Literal["process", "cloudmonitoring"] = Field(
        description="process: this process's recorder (ivr run); cloudmonitoring: the log-based metrics")
    scope: Literal["platform"] = Field(description="every tenant's webhooks: the metrics carry no tenant label")
    minutes: int
    latency: list[LatencyRow]
    functions: list[FunctionLatency]
    fallbacks: list[FallbackRow]


class FunnelAnswer(_Answer):
    flow_id: str
    flow_version: str | None
    versions: list[str]
    nodes: list[FunnelNode]
