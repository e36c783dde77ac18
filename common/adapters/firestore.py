"""The Firestore store: the Store port on Cloud Firestore (native mode), or on Google's emulator.

Layout (docs/storage.md has the fields and the reasoning)::

    tenants/{tenant}                              Tenant
    tenants/{tenant}/flows/{flow}                 FlowDraft (the editable draft)
    tenants/{tenant}/flows/{flow}/versions/{v}    FlowVersion (immutable: create() only)
    tenants/{tenant}/deployments/{id}             Deployment (history, written by deploy())
    api_keys/{key_hash}                           ApiKey
    numbers/{E.164}                               PhoneNumber (its ``deployment`` is the live pointer)
    calls/{CallSid}                               CallRecord (``expires_at`` a timestamp: TTL field)

Every RPC carries an explicit timeout and a bounded retry: the client's defaults (60 s) are twenty
times what a Twilio webhook can wait. Reads: 1.0 s per attempt, retried on transient errors within
2 s. Commits: 1.5 s per attempt, retried within 2 s only on errors that mean "not applied, try again"
(a commit's DEADLINE_EXCEEDED is ambiguous and leaves no budget for a second attempt, so it is
raised). Transactions (draft with etag, deploy) run in a bounded loop of our own, because the client's
``@transactional`` begins and commits with the default 60 s.

``reads`` and ``writes`` count documents (a query counts the documents it returned), so tests and
benchmarks can state what a step costs.

Importing this module is cheap: google.cloud.firestore is imported when a store is built.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from common.adapters.ports import (
    ApiKey, CallRecord, Conflict, Deployment, FlowDraft, FlowVersion, PhoneNumber, Tenant,
)  # fmt: skip

T = TypeVar("T")

READ_TIMEOUT = 1.0  # seconds per read attempt
COMMIT_TIMEOUT = 1.5  # seconds per commit attempt
RETRY_DEADLINE = 2.0  # seconds within which an RPC is retried (an attempt starts before it)
RETRY_INITIAL = 0.1
RETRY_MAXIMUM = 0.5
TRANSACTION_ATTEMPTS = 3  # a transaction aborted by contention is re-run at most this often ...
TRANSACTION_BUDGET = 5.0  # ... and never started again after this many seconds (admin paths only)


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (what the Firestore client does with one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain_datetime(value: datetime) -> datetime:
    """The client returns DatetimeWithNanoseconds; records hold plain datetimes."""
    return datetime.combine(value.date(), value.timetz())


def call_to_doc(call: CallRecord) -> dict[str, Any]:
    doc = call.model_dump(mode="json")
    doc["expires_at"] = _utc(call.expires_at)  # a real timestamp: the TTL policy's field
    return doc


def call_from_doc(doc: dict[str, Any]) -> CallRecord:
    expires = doc.get("expires_at")
    if isinstance(expires, datetime):
        doc = {**doc, "expires_at": _plain_datetime(expires)}
    return CallRecord.model_validate(doc)


@cache
def _bounded_transaction_class() -> type:
    """A Transaction whose begin, commit and rollback RPCs carry a timeout and a bounded retry."""
    from google.api_core import exceptions as gexc
    from google.api_core.retry import Retry, if_exception_type
    from google.cloud.firestore_v1.transaction import Transaction

    begin_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded,
                                                    gexc.InternalServerError),
                        initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM, multiplier=2.0,
                        timeout=RETRY_DEADLINE)  # fmt: skip
    # A transactional commit is retried only when it surely did not arrive; ABORTED re-runs the whole
    # transaction (see FirestoreStore._transaction), never just the commit.
    commit_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable), initial=RETRY_INITIAL,
                         maximum=RETRY_MAXIMUM, multiplier=2.0, timeout=RETRY_DEADLINE)  # fmt: skip
    rollback_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable), initial=RETRY_INITIAL,
                           maximum=RETRY_MAXIMUM, multiplier=2.0, timeout=1.0)  # fmt: skip

    class BoundedTransaction(Transaction):  # type: ignore[misc]
        def _begin(self, retry_id: bytes | None = None) -> None:
            if self.in_progress:
                raise ValueError(f"transaction {self._id!r} already begun")
            response = self._client._firestore_api.begin_transaction(
                request={"database": self._client._database_string,
                         "options": self._options_protobuf(retry_id)},
                metadata=self._client._rpc_metadata, retry=begin_retry, timeout=READ_TIMEOUT,
            )  # fmt: skip
            self._id = response.transaction

        def _rollback(self) -> None:
            if not self.in_progress:
                return
            try:
                self._client._firestore_api.rollback(
                    request={"database": self._client._database_string, "transaction": self._id},
                    metadata=self._client._rpc_metadata, retry=rollback_retry, timeout=READ_TIMEOUT,
                )  # fmt: skip
            finally:
                self._clean_up()

        def _commit(self) -> list[Any]:
            if not self.in_progress:
                raise ValueError("no transaction in progress")
            response = self._client._firestore_api.commit(
                request={"database": self._client._database_string, "writes": self._write_pbs,
                         "transaction": self._id},
                metadata=self._client._rpc_metadata, retry=commit_retry, timeout=COMMIT_TIMEOUT,
            )  # fmt: skip
            self._clean_up()
            self.write_results = list(response.write_results)
            self.commit_time = response.commit_time
            return self.write_results

    return BoundedTransaction


class FirestoreStore:
    def __init__(self, client: Any | None = None, project: str | None = None) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type

        self._client = client
        self._project = project
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._gexc = gexc
        self.reads = 0
        self.writes = 0
        read_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded,
                                                       gexc.InternalServerError),
                           initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM, multiplier=2.0,
                           timeout=RETRY_DEADLINE)  # fmt: skip
        # A commit that timed out may have been applied and its budget is spent: not retried. The
        # errors retried here mean "not applied"; if one was applied after all, the retry fails its
        # precondition (create: AlreadyExists, CAS: FailedPrecondition) and the caller re-reads.
        commit_retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.InternalServerError,
                                                         gexc.Aborted),
                             initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM, multiplier=2.0,
                             timeout=RETRY_DEADLINE)  # fmt: skip
        self._read_kw: dict[str, Any] = {"retry": read_retry, "timeout": READ_TIMEOUT}
        self._commit_kw: dict[str, Any] = {"retry": commit_retry, "timeout": COMMIT_TIMEOUT}

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from google.cloud import firestore

                    project = self._project or os.environ.get("GOOGLE_CLOUD_PROJECT")
                    self._client = firestore.Client(project=project)
        return self._client

    def _count(self, reads: int = 0, writes: int = 0) -> None:
        with self._count_lock:
            self.reads += reads
            self.writes += writes

    def _doc(self, *path: str) -> Any:
        return self.client.document(*path)

    def _get(self, ref: Any) -> dict[str, Any] | None:
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        return snap.to_dict() if snap.exists else None

    def _set(self, ref: Any, doc: dict[str, Any]) -> None:
        ref.set(doc, **self._commit_kw)
        self._count(writes=1)

    def _create(self, ref: Any, doc: dict[str, Any]) -> bool:
        """False when the document exists already (nothing written)."""
        try:
            ref.create(doc, **self._commit_kw)
        except self._gexc.AlreadyExists:
            return False
        self._count(writes=1)
        return True

    def _query(self, query: Any) -> list[dict[str, Any]]:
        docs = [snap.to_dict() for snap in query.get(**self._read_kw)]
        self._count(reads=len(docs))
        return docs

    def _transaction(self, what: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(transaction)`` and commit, re-running it when contention aborts it (bounded)."""
        cls = _bounded_transaction_class()
        started = time.monotonic()
        retry_id: bytes | None = None
        last: Exception | None = None
        for _ in range(TRANSACTION_ATTEMPTS):
            txn = cls(self.client)
            txn._begin(retry_id=retry_id)  # keeps its place in line when retried
            retry_id = retry_id or txn._id
            try:
                result = fn(txn)
                writes = len(txn._write_pbs)
                txn._commit()
            except self._gexc.Aborted as exc:  # contention: the other writer won this round
                last = exc
                self._rollback_quietly(txn)
            except BaseException:
                self._rollback_quietly(txn)
                raise
            else:
                self._count(writes=writes)
                return result
            if time.monotonic() - started > TRANSACTION_BUDGET:
                break
        raise Conflict(f"{what}: lost to concurrent writers ({last}); nothing was changed")

    @staticmethod
    def _rollback_quietly(txn: Any) -> None:
        with contextlib.suppress(Exception):  # the first error is the one worth reporting
            txn._rollback()

    def _txn_get(self, txn: Any, refs: list[Any]) -> dict[str, dict[str, Any] | None]:
        """Documents read in the transaction, by path (None: missing)."""
        found: dict[str, dict[str, Any] | None] = {ref.path: None for ref in refs}
        for snap in txn.get_all(refs, **self._read_kw):
            self._count(reads=1)
            found[snap.reference.path] = snap.to_dict() if snap.exists else None
        return found

    # -- tenants and keys ------------------------------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        self._set(self._doc("tenants", tenant.id), tenant.model_dump(mode="json"))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        doc = self._get(self._doc("tenants", tenant_id))
        return None if doc is None else Tenant.model_validate(doc)

    def put_api_key(self, key: ApiKey) -> None:
        self._set(self._doc("api_keys", key.key_hash), key.model_dump(mode="json"))

    def get_api_key(self, key_hash: str) -> ApiKey | None:
        doc = self._get(self._doc("api_keys", key_hash))
        return None if doc is None else ApiKey.model_validate(doc)

    # -- flows -----------------------------------------------------------------------------------

    def _draft_ref(self, tenant_id: str, flow_id: str) -> Any:
        return self._doc("tenants", tenant_id, "flows", flow_id)

    def get_draft(self, tenant_id: str, flow_id: str) -> FlowDraft | None:
        doc = self._get(self._draft_ref(tenant_id, flow_id))
        return None if doc is None else FlowDraft.model_validate(doc)

    def save_draft(self, draft: FlowDraft, expected_etag: str | None) -> None:
        ref = self._draft_ref(draft.tenant_id, draft.flow_id)
        doc = draft.model_dump(mode="json")
        if expected_etag is None:
            self._set(ref, doc)
            return

        def check_and_write(txn: Any) -> None:
            current = self._txn_get(txn, [ref])[ref.path]
            if (current or {}).get("etag") != expected_etag:
                raise Conflict(f"flow '{draft.flow_id}' changed since etag {expected_etag}")
            txn.set(ref, doc)

        self._transaction(f"saving flow '{draft.flow_id}'", check_and_write)

    def _version_ref(self, tenant_id: str, flow_id: str, version: str) -> Any:
        return self._doc("tenants", tenant_id, "flows", flow_id, "versions", version)

    def get_version(self, tenant_id: str, flow_id: str, version: str) -> FlowVersion | None:
        doc = self._get(self._version_ref(tenant_id, flow_id, version))
        return None if doc is None else FlowVersion.model_validate(doc)

    def list_versions(self, tenant_id: str, flow_id: str) -> list[FlowVersion]:
        query = self.client.collection("tenants", tenant_id, "flows", flow_id, "versions").order_by(
            "created_at")
        return [FlowVersion.model_validate(d) for d in self._query(query)]

    def create_version(self, version: FlowVersion) -> None:
        ref = self._version_ref(version.tenant_id, version.flow_id, version.version)
        if not self._create(ref, version.model_dump(mode="json")):
            raise Conflict(f"version {version.version} of flow '{version.flow_id}' exists already")

    # -- numbers and deployments -----------------------------------------------------------------

    def get_number(self, number: str) -> PhoneNumber | None:
        doc = self._get(self._doc("numbers", number))
        return None if doc is None else PhoneNumber.model_validate(doc)

    def create_number(self, number: PhoneNumber) -> None:
        if not self._create(self._doc("numbers", number.number), number.model_dump(mode="json")):
            raise Conflict(f"{number.number} is already registered")

    def deploy(self, deployment: Deployment, expected: dict[str, str | None]) -> None:
        numbers = list(dict.fromkeys(deployment.phone_numbers))
        refs = [self._doc("numbers", n) for n in numbers]
        history = self._doc("tenants", deployment.tenant_id, "deployments", deployment.id)
        dumped = deployment.model_dump(mode="json")

        def check_and_write(txn: Any) -> None:
            docs = self._txn_get(txn, refs) if refs else {}
            for number, ref in zip(numbers, refs, strict=True):
                doc = docs[ref.path]
                if doc is None or doc.get("tenant_id") != deployment.tenant_id:
                    raise Conflict(f"{number} is not registered to tenant {deployment.tenant_id}")
                current = (doc.get("deployment") or {}).get("id")
                if current != expected.get(number):
                    raise Conflict(f"{number} was redeployed concurrently (now {current})")
            for ref in refs:
                txn.update(ref, {"deployment": dumped})
            txn.set(history, dumped)

        self._transaction(f"deploying {deployment.id}", check_and_write)

    def list_deployments(self, tenant_id: str, limit: int = 100) -> list[Deployment]:
        from google.cloud.firestore import Query

        # Ties on created_at come back by document id (the deployment id), descending, like the
        # in-memory store: Firestore orders by __name__ in the direction of the last order_by.
        query = (self.client.collection("tenants", tenant_id, "deployments")
                 .order_by("created_at", direction=Query.DESCENDING).limit(limit))  # fmt: skip
        return [Deployment.model_validate(d) for d in self._query(query)]

    def get_deployment(self, tenant_id: str, deployment_id: str) -> Deployment | None:
        doc = self._get(self._doc("tenants", tenant_id, "deployments", deployment_id))
        return None if doc is None else Deployment.model_validate(doc)

    # -- calls -----------------------------------------------------------------------------------

    def create_call(self, call: CallRecord) -> bool:
        return self._create(self._doc("calls", call.call_sid), call_to_doc(call))

    def read_call(self, call_sid: str) -> tuple[CallRecord, Any] | None:
        snap = self._doc("calls", call_sid).get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists:
            return None
        return call_from_doc(snap.to_dict()), snap.update_time

    def write_call(self, call: CallRecord, token: Any) -> bool:
        """One precondition write: applied only if the document's update time is still ``token``."""
        ref = self._doc("calls", call.call_sid)
        option = self.client.write_option(last_update_time=token)
        try:
            ref.update(call_to_doc(call), option=option, **self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound):
            return False
        self._count(writes=1)
        return True

    def active_calls_expired(self, now: datetime, limit: int = 500) -> Sequence[str]:
        from google.cloud.firestore import FieldFilter

        query = (self.client.collection("calls")
                 .where(filter=FieldFilter("status", "==", "active"))
                 .where(filter=FieldFilter("expires_at", "<=", _utc(now)))
                 .order_by("expires_at").limit(limit).select([]))  # ids only: call documents are big
        snaps = list(query.get(**self._read_kw))
        self._count(reads=len(snaps))
        return [snap.id for snap in snaps]
