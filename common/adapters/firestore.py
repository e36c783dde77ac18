"""The Firestore store: the Store port on Cloud Firestore (native mode), or on Google's emulator.

Layout (docs/storage.md has the fields and the reasoning)::

    tenants/{tenant}                              Tenant
    tenants/{tenant}/flows/{flow}                 FlowDraft (the editable draft)
    tenants/{tenant}/flows/{flow}/versions/{v}    FlowVersion (immutable: create() only)
    tenants/{tenant}/retired_flows/{flow}         RetiredFlow (what a deleted flow leaves behind)
    tenants/{tenant}/schedules/{name}             ScheduleRecord
    tenants/{tenant}/deployments/{id}             Deployment (history, written by deploy())
    api_keys/{key_hash}                           ApiKey
    twilio_accounts/{AccountSid}                  TwilioAccount (account index; the token is a secret)
    numbers/{E.164}                               PhoneNumber (its ``deployment`` is the live pointer)
    calls/{CallSid}                               CallRecord (``expires_at`` a timestamp: TTL field)

Every RPC carries an explicit timeout and a bounded retry: the client's defaults (60 s) are twenty
times what a Twilio webhook can wait. Reads: 1.0 s per attempt, retried on transient errors within
2 s. Commits: 1.5 s per attempt, retried within 2 s only on errors that mean "not applied, try again"
(a commit's DEADLINE_EXCEEDED is ambiguous and leaves no budget for a second attempt, so it is
raised).

Conditional writes instead of locking transactions: a call step, a draft saved with an etag and a
deploy all read, check, then commit with a precondition on the update time they read (one atomic
commit for a deploy's numbers and history). A lost race fails the precondition and writes nothing.

What Firestore cannot hold and how call documents are encoded: ``firestore_support``.

An outage is one typed error: every public method turns the client's "did not answer" errors
(UNAVAILABLE, DEADLINE_EXCEEDED, retries spent) into ``StoreUnavailable``, chaining the original, so
callers answer 503 or the fallback without knowing Google's exception tree.

``reads`` and ``writes`` count documents (a query counts the documents it returned), so tests and
benchmarks can state what a step costs.

Importing this module is cheap: google.api_core is imported when a store is built, and
google.cloud.firestore when the store first needs its client (unless one was given).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.adapters.firestore_support import (  # noqa: F401  (firestore_can_hold: part of this module's API)
    call_from_doc,
    call_to_doc,
    firestore_can_hold,
    outage_errors,
    outbox_fields,
    translating_outages,
    utc,
)
from common.adapters.ports import (
    ApiKey,
    CallRecord,
    Conflict,
    Deployment,
    FlowDraft,
    FlowVersion,
    PhoneNumber,
    RetiredFlow,
    ScheduleRecord,
    Tenant,
    TwilioAccount,
    check_document_ids,
)  # fmt: skip

READ_TIMEOUT = 1.0  # seconds per read attempt
COMMIT_TIMEOUT = 1.5  # seconds per commit attempt
RETRY_DEADLINE = 2.0  # seconds within which an RPC is retried (an attempt starts before it)
RETRY_INITIAL = 0.1
RETRY_MAXIMUM = 0.5


@translating_outages
class FirestoreStore:
    def __init__(self, client: Any | None = None, project: str | None = None) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type

        self._client = client
        self._project = project
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._gexc = gexc
        self._outages = outage_errors()
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

    @staticmethod
    def _check_ids(path: tuple[str, ...]) -> None:
        check_document_ids(*path[1::2])  # the ids; a "/" in one would address another document

    def _doc(self, *path: str) -> Any:
        self._check_ids(path)
        return self.client.document(*path)

    def _col(self, *path: str) -> Any:
        self._check_ids(path)
        return self.client.collection(*path)

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

    def _get_all(self, refs: list[Any]) -> dict[str, Any]:
        """Snapshots of ``refs`` in one batched read, by document path."""
        found = {snap.reference.path: snap for snap in self.client.get_all(refs, **self._read_kw)}
        self._count(reads=len(found))
        return found

    # -- tenants and keys ------------------------------------------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        self._set(self._doc("tenants", tenant.id), tenant.model_dump(mode="json"))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        doc = self._get(self._doc("tenants", tenant_id))
        return None if doc is None else Tenant.model_validate(doc)

    def create_tenant(self, tenant: Tenant) -> bool:
        return self._create(self._doc("tenants", tenant.id), tenant.model_dump(mode="json"))

    def list_tenants(self) -> list[Tenant]:
        return [Tenant.model_validate(d) for d in self._query(self._col("tenants"))]  # by id

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        from google.cloud.firestore import FieldFilter

        check_document_ids(tenant_id)
        query = self._col("api_keys").where(filter=FieldFilter("tenant_id", "==", tenant_id))
        keys = [ApiKey.model_validate(d) for d in self._query(query)]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))  # no composite index for a few keys

    def claim_twilio_account(self, link: TwilioAccount) -> bool:
        ref = self._doc("twilio_accounts", link.account_sid)
        doc = link.model_dump(mode="json")
        if self._create(ref, doc):
            return True
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        current = snap.to_dict() if snap.exists else None
        if current is not None and current.get("tenant_id") != link.tenant_id:
            return False
        if current is None:  # released between the create and the read: one more create decides
            return self._create(ref, doc)
        try:  # the tenant's own entry, replaced only if nobody changed it since that read
            ref.update(doc, option=self.client.write_option(last_update_time=snap.update_time), **self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound):
            return False
        self._count(writes=1)
        return True

    def get_twilio_account(self, account_sid: str) -> TwilioAccount | None:
        doc = self._get(self._doc("twilio_accounts", account_sid))
        return None if doc is None else TwilioAccount.model_validate(doc)

    def release_twilio_account(self, account_sid: str, tenant_id: str) -> bool:
        ref = self._doc("twilio_accounts", account_sid)
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists or (snap.to_dict() or {}).get("tenant_id") != tenant_id:
            return False
        try:
            ref.delete(option=self.client.write_option(last_update_time=snap.update_time), **self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound):
            return False
        self._count(writes=1)
        return True

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

    def list_drafts(self, tenant_id: str) -> list[FlowDraft]:
        # Without order_by, Firestore returns documents by id: the flow id, with no index to declare.
        return [FlowDraft.model_validate(d) for d in self._query(self._col("tenants", tenant_id, "flows"))]

    def save_draft(self, draft: FlowDraft, expected_etag: str | None) -> None:
        ref = self._draft_ref(draft.tenant_id, draft.flow_id)
        doc = draft.model_dump(mode="json")
        if expected_etag is None:
            self._set(ref, doc)
            return
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists or (snap.to_dict() or {}).get("etag") != expected_etag:
            raise Conflict(f"flow '{draft.flow_id}' changed since etag {expected_etag}")
        try:  # written only if nobody wrote the draft since that read
            ref.update(doc, option=self.client.write_option(last_update_time=snap.update_time),
                       **self._commit_kw)  # fmt: skip
        except (self._gexc.FailedPrecondition, self._gexc.NotFound) as exc:
            raise Conflict(f"flow '{draft.flow_id}' changed since etag {expected_etag}") from exc
        self._count(writes=1)

    def _version_ref(self, tenant_id: str, flow_id: str, version: str) -> Any:
        return self._doc("tenants", tenant_id, "flows", flow_id, "versions", version)

    def get_version(self, tenant_id: str, flow_id: str, version: str) -> FlowVersion | None:
        doc = self._get(self._version_ref(tenant_id, flow_id, version))
        return None if doc is None else FlowVersion.model_validate(doc)

    def list_versions(self, tenant_id: str, flow_id: str) -> list[FlowVersion]:
        query = self._col("tenants", tenant_id, "flows", flow_id, "versions").order_by("created_at")
        return [FlowVersion.model_validate(d) for d in self._query(query)]

    def create_version(self, version: FlowVersion) -> None:
        ref = self._version_ref(version.tenant_id, version.flow_id, version.version)
        if not self._create(ref, version.model_dump(mode="json")):
            raise Conflict(f"version {version.version} of flow '{version.flow_id}' exists already")

    def list_version_numbers(self, tenant_id: str, flow_id: str) -> list[str]:
        query = (self._col("tenants", tenant_id, "flows", flow_id, "versions")
                 .select(["version"]).order_by("created_at"))  # not the documents: they can be large
        return [d["version"] for d in self._query(query)]

    def delete_flow(self, retired: RetiredFlow) -> bool:
        """Versions go in batches of 400; the last commit deletes the draft (conditioned on the update
        time read, so a save that slipped in makes this a Conflict) and writes ``retired``."""
        draft = self._draft_ref(retired.tenant_id, retired.flow_id)
        snap = draft.get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists:
            return False
        versions = self._col("tenants", retired.tenant_id, "flows", retired.flow_id, "versions")
        refs = [v.reference for v in versions.select([]).get(**self._read_kw)]
        self._count(reads=len(refs))
        chunks = [refs[i:i + 400] for i in range(0, len(refs), 400)] or [[]]
        for chunk in chunks[:-1]:  # only a flow with more than 400 versions needs more than one commit
            batch = self.client.batch()
            for ref in chunk:
                batch.delete(ref)
            batch.commit(**self._commit_kw)
        last = self.client.batch()
        for ref in chunks[-1]:
            last.delete(ref)
        last.delete(draft, option=self.client.write_option(last_update_time=snap.update_time))
        last.set(self._doc("tenants", retired.tenant_id, "retired_flows", retired.flow_id),
                 retired.model_dump(mode="json"))  # fmt: skip
        try:
            last.commit(**self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound) as exc:
            raise Conflict(f"flow '{retired.flow_id}' changed while it was being deleted") from exc
        self._count(writes=len(refs) + 2)
        return True

    def get_retired_flow(self, tenant_id: str, flow_id: str) -> RetiredFlow | None:
        doc = self._get(self._doc("tenants", tenant_id, "retired_flows", flow_id))
        return None if doc is None else RetiredFlow.model_validate(doc)

    # -- schedules -------------------------------------------------------------------------------

    def put_schedule(self, record: ScheduleRecord) -> None:
        self._set(self._doc("tenants", record.tenant_id, "schedules", record.name),
                  record.model_dump(mode="json"))  # fmt: skip

    def get_schedule(self, tenant_id: str, name: str) -> ScheduleRecord | None:
        doc = self._get(self._doc("tenants", tenant_id, "schedules", name))
        return None if doc is None else ScheduleRecord.model_validate(doc)

    def list_schedules(self, tenant_id: str) -> list[ScheduleRecord]:
        query = self._col("tenants", tenant_id, "schedules").order_by("name")
        return [ScheduleRecord.model_validate(d) for d in self._query(query)]

    def delete_schedule(self, tenant_id: str, name: str) -> bool:
        """False when there was no such schedule (one conditional delete, no read)."""
        ref = self._doc("tenants", tenant_id, "schedules", name)
        try:
            ref.delete(option=self.client.write_option(exists=True), **self._commit_kw)
        except (self._gexc.NotFound, self._gexc.FailedPrecondition):
            return False
        self._count(writes=1)
        return True

    # -- numbers and deployments -----------------------------------------------------------------

    def get_number(self, number: str) -> PhoneNumber | None:
        doc = self._get(self._doc("numbers", number))
        return None if doc is None else PhoneNumber.model_validate(doc)

    def create_number(self, number: PhoneNumber) -> None:
        if not self._create(self._doc("numbers", number.number), number.model_dump(mode="json")):
            raise Conflict(f"{number.number} is already registered")

    def list_numbers(self, tenant_id: str) -> list[PhoneNumber]:
        from google.cloud.firestore import FieldFilter

        check_document_ids(tenant_id)
        query = self._col("numbers").where(filter=FieldFilter("tenant_id", "==", tenant_id))  # by id: the number
        return [PhoneNumber.model_validate(d) for d in self._query(query)]

    def release_number(self, number: str, tenant_id: str) -> bool:
        ref = self._doc("numbers", number)
        snap = ref.get(**self._read_kw)
        self._count(reads=1)
        doc = snap.to_dict() if snap.exists else None
        if doc is None or doc.get("tenant_id") != tenant_id:
            return False
        if doc.get("deployment") is not None:
            raise Conflict(f"{number} runs deployment {doc['deployment'].get('id')}")
        try:  # deleted only if nobody deployed it since that read
            ref.delete(option=self.client.write_option(last_update_time=snap.update_time), **self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound) as exc:
            raise Conflict(f"{number} changed while it was being released; nothing was changed") from exc
        self._count(writes=1)
        return True

    def deploy(self, deployment: Deployment, expected: dict[str, str | None]) -> None:
        """Read every number, check it, then one atomic commit conditioned on none of them changing.

        The commit carries, for each number, a precondition on the update time that was read: if any
        number changed in between, the whole commit fails (FAILED_PRECONDITION) and nothing is
        written, which is exactly what a read-write transaction guarantees for this read set, without
        read locks (two locking transactions on one number stall for the emulator's 2 s lock timeout)
        and with an explicit timeout on every RPC (the client's transactions begin and commit with
        its 60 s defaults).
        """
        numbers = list(dict.fromkeys(deployment.phone_numbers))
        refs = [self._doc("numbers", n) for n in numbers]
        history = self._doc("tenants", deployment.tenant_id, "deployments", deployment.id)
        dumped = deployment.model_dump(mode="json")
        pointer = None if deployment.kind == "undeploy" else dumped
        snaps = self._get_all(refs) if refs else {}
        batch = self.client.batch()
        for number, ref in zip(numbers, refs, strict=True):
            snap = snaps.get(ref.path)
            doc = snap.to_dict() if snap is not None and snap.exists else None
            if doc is None or doc.get("tenant_id") != deployment.tenant_id:
                raise Conflict(f"{number} is not registered to tenant {deployment.tenant_id}")
            current = (doc.get("deployment") or {}).get("id")
            if current != expected.get(number):
                raise Conflict(f"{number} was redeployed concurrently (now {current})")
            assert snap is not None
            batch.update(ref, {"deployment": pointer},
                         option=self.client.write_option(last_update_time=snap.update_time))  # fmt: skip
        batch.set(history, dumped)
        try:
            batch.commit(**self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound) as exc:
            raise Conflict(f"deployment {deployment.id}: a number changed while deploying "
                           f"({', '.join(numbers)}); nothing was changed") from exc  # fmt: skip
        self._count(writes=len(refs) + 1)

    def list_deployments(self, tenant_id: str, limit: int = 100) -> list[Deployment]:
        from google.cloud.firestore import Query

        # Ties on created_at come back by document id (the deployment id), descending, like the
        # in-memory store: Firestore orders by __name__ in the direction of the last order_by.
        query = (self._col("tenants", tenant_id, "deployments")
                 .order_by("created_at", direction=Query.DESCENDING).limit(limit))  # fmt: skip
        return [Deployment.model_validate(d) for d in self._query(query)]

    def get_deployment(self, tenant_id: str, deployment_id: str) -> Deployment | None:
        doc = self._get(self._doc("tenants", tenant_id, "deployments", deployment_id))
        return None if doc is None else Deployment.model_validate(doc)

    # -- calls -----------------------------------------------------------------------------------

    def create_call(self, call: CallRecord) -> bool:
        return self.save_call(call, None) is not None

    def save_call(self, call: CallRecord, token: Any | None) -> Any | None:
        """create() when ``token`` is None, else one precondition update; the write's update time."""
        ref = self._doc("calls", call.call_sid)
        try:
            if token is None:
                result = ref.create(call_to_doc(call), **self._commit_kw)
            else:
                option = self.client.write_option(last_update_time=token)
                result = ref.update(call_to_doc(call), option=option, **self._commit_kw)
        except (self._gexc.AlreadyExists, self._gexc.FailedPrecondition, self._gexc.NotFound):
            return None
        self._count(writes=1)
        return result.update_time

    def update_outbox(self, call_sid: str, outbox: list[dict[str, Any]], token: Any) -> Any | None:
        """Two fields of the call, on the same precondition as a step's write: a step that read the
        document before this lands fails its compare-and-set and re-reads (calls.py retries it)."""
        ref = self._doc("calls", call_sid)
        fields = outbox_fields(outbox)
        try:
            result = ref.update(fields, option=self.client.write_option(last_update_time=token), **self._commit_kw)
        except (self._gexc.FailedPrecondition, self._gexc.NotFound):
            return None
        self._count(writes=1)
        return result.update_time

    def calls_with_outbox(self, older_than: datetime, limit: int = 200) -> list[tuple[str, datetime]]:
        """A range on one field ordered by it: Firestore's automatic single-field index serves it."""
        from google.cloud.firestore import FieldFilter

        query = (self._col("calls").where(filter=FieldFilter("outbox_since", "<=", utc(older_than)))
                 .order_by("outbox_since").limit(limit).select(["outbox_since"]))  # fmt: skip
        snaps = list(query.get(**self._read_kw))
        self._count(reads=len(snaps))
        return [(snap.id, utc(snap.get("outbox_since"))) for snap in snaps]

    def read_call(self, call_sid: str) -> tuple[CallRecord, Any] | None:
        snap = self._doc("calls", call_sid).get(**self._read_kw)
        self._count(reads=1)
        if not snap.exists:
            return None
        return call_from_doc(snap.to_dict()), snap.update_time

    def write_call(self, call: CallRecord, token: Any) -> bool:
        """One precondition write: applied only if the document's update time is still ``token``."""
        return token is not None and self.save_call(call, token) is not None

    def active_calls_expired(self, now: datetime, limit: int = 500) -> Sequence[str]:
        from google.cloud.firestore import FieldFilter

        query = (self._col("calls")
                 .where(filter=FieldFilter("status", "==", "active"))
                 .where(filter=FieldFilter("expires_at", "<=", utc(now)))
                 .order_by("expires_at").limit(limit).select([]))  # ids only: call documents are big
        snaps = list(query.get(**self._read_kw))
        self._count(reads=len(snaps))
        return [snap.id for snap in snaps]

    def list_calls(self, tenant_id: str, active: bool | None = None, limit: int = 50) -> list[CallRecord]:
        """Composite indexes (firestore.tf): tenant_id + created_at, tenant_id + status + created_at.
        Ties on created_at come back by document id (the call sid) descending, like the memory store."""
        from google.cloud.firestore import FieldFilter, Query

        check_document_ids(tenant_id)
        if limit <= 0:
            return []
        query = self._col("calls").where(filter=FieldFilter("tenant_id", "==", tenant_id))
        if active is not None:
            query = query.where(filter=FieldFilter("status", "==", "active" if active else "ended"))
        query = query.order_by("created_at", direction=Query.DESCENDING).limit(limit)
        return [call_from_doc(d) for d in self._query(query)]

    # -- health ----------------------------------------------------------------------------------

    def ping(self) -> None:
        """One bounded read of a document that need not exist: the backend answered or it did not."""
        self._get(self._doc("health", "ping"))
