"""Ports: the small interfaces the service layer needs from the outside world.

    Store        tenants, API keys, Twilio accounts, flows, versions, schedules, numbers, deployments,
                 calls                                                              (Firestore | memory)
    SecretStore  tenants' Twilio auth tokens (common/adapters/secrets.py)         (Secret Manager | memory)
    HttpFetcher  performs an httpRequestNode's request with a hard timeout         (urllib3 | fake)
    EventPublisher  exports call events                                   (Pub/Sub | DuckDB file | memory)
    NumberOwnership  does a Twilio account own a number (before a tenant may claim it)  (Twilio REST | trusting)
    Clock        the one place that reads the time                                  (system | frozen)

Records are plain frozen pydantic models whose ``model_dump(mode="json")`` is exactly what is stored.
Every implementation obeys the same contract, and the same contract tests run against each of them
(tests/adapters/test_store_contract.py): the embedded one is a real, usable store, not a mock.

Concurrency contract for calls (why a compare-and-set rather than a locking transaction): a call
document is read once per webhook; the new state is written only if the document has not changed
since that read (``write_call(..., token)``). Two concurrent deliveries of the same webhook both read
seq N-1, both compute the same turn, exactly one write lands; the loser re-reads and answers the
stored TwiML. That is one read and one write per step, without lock contention on a hot document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from common.core.call import CallState

_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)


def check_document_ids(*ids: str) -> None:
    """ValueError unless every id can be a Firestore document id: not empty, no "/", not "." or "..",
    not of the form ``__name__``, at most 1500 bytes. Every store checks, so that an id the API failed
    to validate fails the same way on all of them instead of addressing another document."""
    for value in ids:
        if (not value or "/" in value or value in (".", "..") or _RESERVED_ID.fullmatch(value)
                or len(value.encode("utf-8", "surrogatepass")) > 1500):  # fmt: skip
            raise ValueError(f"{value[:100]!r} cannot be a document id")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Tenant(Record):
    id: str
    name: str
    twilio_account_sid: str
    created_at: str = ""


class TwilioAccount(Record):
    """The account index: which tenant a Twilio account (or sub-account) belongs to, and the name of
    the secret holding its auth token (never the token), so a webhook signed by that account can be
    verified. One account belongs to at most one tenant."""

    account_sid: str
    tenant_id: str
    secret_name: str
    linked_at: str = ""


Role = Literal["admin", "editor", "deployer", "viewer", "agent"]


class ApiKey(Record):
    key_hash: str
    tenant_id: str
    label: str = ""
    created_at: str = ""
    key_id: str = ""  # public id (key_...); keys stored before ids existed get one derived from the hash
    role: Role = "admin"  # keys stored before roles existed were all-powerful
    revoked: bool = False
    revoked_at: str | None = None


class FlowDraft(Record):
    tenant_id: str
    flow_id: str
    document: str  # the FlowDesigner JSON exactly as saved
    etag: str
    updated_at: str
    updated_by: str = ""


class FlowVersion(Record):
    tenant_id: str
    flow_id: str
    version: str
    document: str  # canonical JSON
    content_hash: str
    author: str = ""
    message: str = ""
    created_at: str = ""


class RetiredFlow(Record):
    """What remains of a deleted flow: its highest version, so that a flow re-created under the same
    id never reuses a version number (compiled versions are cached by number on every instance)."""

    tenant_id: str
    flow_id: str
    last_version: str | None = None
    deleted_at: str = ""
    deleted_by: str = ""


class ScheduleRecord(Record):
    tenant_id: str
    name: str
    schedule: dict[str, Any]  # common.core.schedules.Schedule as camelCase JSON
    updated_at: str = ""
    updated_by: str = ""


class Deployment(Record):
    """What a number runs in one environment."""

    id: str
    tenant_id: str
    flow_id: str
    version: str
    environment: str = "production"
    schedules: list[str] = Field(default_factory=list)
    fallback_flow: str | None = None
    fallback_version: str | None = None
    #: per number, what it ran before this deployment: {"id", "flow_id", "version"} or None
    previous: dict[str, dict[str, str] | None] = Field(default_factory=dict)
    message: str = ""
    created_at: str = ""
    created_by: str = ""
    phone_numbers: list[str] = Field(default_factory=list)
    #: "undeploy" takes the numbers off: afterwards they run nothing (``version`` is then empty)
    kind: Literal["deploy", "rollback", "promote", "undeploy"] = "deploy"


class PhoneNumber(Record):
    number: str
    tenant_id: str
    account_sid: str = ""  # the Twilio account that owns the number; webhooks must come from it
    environment: str = "production"
    deployment: Deployment | None = None
    fallback_dial: str | None = None  # where the Fallback URL sends callers when all else fails


class CallRecord(Record):
    call_sid: str
    tenant_id: str
    number: str
    account_sid: str
    flow_id: str
    flow_version: str
    seq: int
    state: CallState  # stored as its JSON dump, a map like any other field
    twiml: str
    status: Literal["active", "ended"] = "active"
    created_at: str
    updated_at: str
    expires_at: datetime
    events: list[dict[str, Any]] = Field(default_factory=list)
    pending_http: dict[str, Any] | None = None  # the request an httpRequestNode waits on
    call_status: str | None = None
    duration_seconds: int | None = None
    outcome: str | None = None
    exported: bool = False
    #: the event outbox: exported rows (common/core/events.py) written with the state change that
    #: caused them and not yet published; never truncated (``events`` keeps only the latest for display)
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    #: when the oldest row in ``outbox`` happened (None: empty); the sweeper's query field
    outbox_since: datetime | None = None
    #: what event derivation carries from turn to turn (common/core/call_events.py)
    event_cursor: dict[str, Any] = Field(default_factory=dict)


class Conflict(Exception):
    """A write lost a race or would overwrite someone else's data; nothing was changed."""


class StoreUnavailable(Exception):
    """The backend did not answer in time or refused service (deadline exceeded, unavailable, retries
    spent). Reads changed nothing; a write may or may not have been applied. Callers answer 503 or
    the fallback, never a 500: it is an outage, not a bug."""


class Store(Protocol):
    # tenants and keys
    def put_tenant(self, tenant: Tenant) -> None: ...
    def create_tenant(self, tenant: Tenant) -> bool:
        """False (and nothing written) when a tenant with this id exists."""

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    def list_tenants(self) -> list[Tenant]:
        """Every tenant, by id."""

    def put_api_key(self, key: ApiKey) -> None: ...
    def get_api_key(self, key_hash: str) -> ApiKey | None: ...
    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys (revoked ones included), by creation time then key id."""

    def claim_twilio_account(self, link: TwilioAccount) -> bool:
        """Index the account for ``link.tenant_id`` (create, or replace that tenant's own entry);
        False, with nothing written, when it belongs to another tenant."""

    def get_twilio_account(self, account_sid: str) -> TwilioAccount | None: ...
    def release_twilio_account(self, account_sid: str, tenant_id: str) -> bool:
        """Remove the entry if it belongs to ``tenant_id``; False otherwise."""

    # flows
    def get_draft(self, tenant_id: str, flow_id: str) -> FlowDraft | None: ...
    def list_drafts(self, tenant_id: str) -> list[FlowDraft]:
        """The tenant's drafts by flow id."""
    def save_draft(self, draft: FlowDraft, expected_etag: str | None) -> None:
        """Create or replace; ``expected_etag`` (when given) must match the stored one, else Conflict."""

    def get_version(self, tenant_id: str, flow_id: str, version: str) -> FlowVersion | None: ...
    def list_versions(self, tenant_id: str, flow_id: str) -> list[FlowVersion]: ...
    def create_version(self, version: FlowVersion) -> None:
        """Versions are immutable: Conflict when that version already exists."""

    def list_version_numbers(self, tenant_id: str, flow_id: str) -> list[str]:
        """The flow's version numbers (without their documents), in creation order."""

    def delete_flow(self, retired: RetiredFlow) -> bool:
        """Delete the draft and every version of ``retired.flow_id`` and keep ``retired`` in their
        place, in one commit; False (and nothing written) when the flow has no draft."""

    def get_retired_flow(self, tenant_id: str, flow_id: str) -> RetiredFlow | None: ...

    # schedules
    def put_schedule(self, record: ScheduleRecord) -> None: ...
    def get_schedule(self, tenant_id: str, name: str) -> ScheduleRecord | None: ...
    def list_schedules(self, tenant_id: str) -> list[ScheduleRecord]: ...
    def delete_schedule(self, tenant_id: str, name: str) -> bool: ...

    # numbers and deployments
    def get_number(self, number: str) -> PhoneNumber | None: ...
    def create_number(self, number: PhoneNumber) -> None:
        """Conflict when the number is already registered (to anyone)."""

    def list_numbers(self, tenant_id: str) -> list[PhoneNumber]:
        """The tenant's numbers, by number."""

    def release_number(self, number: str, tenant_id: str) -> bool:
        """Delete the tenant's number. False when it is not the tenant's (or unknown); Conflict, with
        nothing changed, while a deployment points at it or when it changed during the call."""

    def deploy(self, deployment: Deployment, expected: dict[str, str | None]) -> None:
        """Point every number in ``deployment.phone_numbers`` at it (kind "undeploy": at nothing), all
        or none, and append it to the tenant's history. ``expected`` maps each number to the
        deployment id it must still have (None: none); a mismatch raises Conflict and changes nothing."""

    def list_deployments(self, tenant_id: str, limit: int = 100) -> list[Deployment]: ...
    def get_deployment(self, tenant_id: str, deployment_id: str) -> Deployment | None: ...

    # calls
    def create_call(self, call: CallRecord) -> bool:
        """False (and no write) when a call with this sid exists already."""

    def read_call(self, call_sid: str) -> tuple[CallRecord, Any] | None:
        """The call and an opaque token for ``write_call``."""

    def write_call(self, call: CallRecord, token: Any) -> bool:
        """Replace the call if unchanged since the read that produced ``token``; False otherwise."""

    def save_call(self, call: CallRecord, token: Any | None) -> Any | None:
        """``create_call`` (token None) or ``write_call``, answering the new token (None: refused)."""

    def update_outbox(self, call_sid: str, outbox: list[dict[str, Any]], token: Any) -> Any | None:
        """Replace only the call's ``outbox`` (and ``outbox_since``: the earliest ``occurred_at`` left,
        None when empty) if the call is unchanged since ``token``; the new token, None when refused."""

    def calls_with_outbox(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        """(call sid, outbox_since) of calls whose outbox holds a row from ``older_than`` or before,
        oldest first."""

    def active_calls_expired(self, now: datetime, limit: int = 500) -> Sequence[str]: ...

    def list_calls(self, tenant_id: str, active: bool | None = None, limit: int = 50) -> list[CallRecord]:
        """The tenant's calls, newest first (by ``created_at``, then call sid descending), at most
        ``limit``; ``active`` True: only ``status == "active"``, False: only ended, None: both."""

    # health
    def ping(self) -> None:
        """Return when the backend answers; StoreUnavailable (within the read deadline) otherwise."""


class EventPublisher(Protocol):
    """Where exported events go (common/adapters/events_sinks.py, pubsub.py): Pub/Sub in production,
    a local DuckDB file on a laptop stack, a list in tests."""

    def publish(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Publish the rows (common/core/events.py ``CallEvent.row()``); the event ids the backend
        confirmed. Never raises: what is not confirmed stays in the outbox for the sweeper."""


class NumberOwnership(Protocol):
    def owns(self, account_sid: str, number: str) -> bool | None:
        """Whether the Twilio account owns the number; None when that cannot be found out now."""


class HttpFetcher(Protocol):
    def fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
              timeout: float) -> tuple[int, str, str | None]:  # fmt: skip
        """(status code, body, error). Never raises: a failure is (0, "", "what went wrong")."""


class Clock(Protocol):
    def now(self) -> datetime: ...
