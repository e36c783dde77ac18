"""POST /api/events/sweep over HTTP: who may run it, what it checks, and that it republishes what the
dispatcher never published, once."""

from __future__ import annotations

import logging

import pytest
from event_scripts import SALES
from livestack import DEMO_NUMBER, Stack, build_stack

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.config import DEV_PLATFORM_ADMIN_KEY
from common.service.event_outbox import EventOutbox

SWEEP = "/api/events/sweep"
PLATFORM = {"Authorization": f"Bearer {DEV_PLATFORM_ADMIN_KEY}"}


def crashed_dispatcher(stack: Stack) -> EventOutbox:
    """The stack's outbox with a dispatcher that never runs: the process died after each write."""
    outbox = stack.svc.events
    assert outbox is not None
    outbox._dispatch = False
    return outbox


def test_the_sweep_republishes_what_a_crash_left_in_the_outboxes(events_stack: Stack,
                                                                 caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    outbox = crashed_dispatcher(events_stack)
    sids = [events_stack.call(DEMO_NUMBER, SALES).call_sid for _ in range(3)]
    outbox.forget_queued()  # what the dead process had queued is gone with it
    assert all(events_stack.stored(sid).outbox for sid in sids)
    assert outbox.publisher.rows == []  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="ivr.events"):
        answer = events_stack.api("POST", SWEEP + "?olderThanSeconds=0", key=None, headers=PLATFORM)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["calls"], body["republished"], body["unpublished"], body["caller"]) == (3, 54, 0, "platform")
    assert all(events_stack.stored(sid).outbox == [] for sid in sids)
    line = next(r for r in caplog.records if getattr(r, "kind", None) == "events_sweep")
    assert line.republished == 54 and line.oldest_unpublished_seconds >= 0  # type: ignore[attr-defined]
    again = events_stack.api("POST", SWEEP + "?olderThanSeconds=0", key=None, headers=PLATFORM).get_json()
    assert (again["calls"], again["republished"]) == (0, 0)
    unique = outbox.publisher.unique()  # type: ignore[attr-defined]
    assert len(unique) == len(outbox.publisher.rows) == 54  # type: ignore[attr-defined]


def test_only_outboxes_older_than_asked_are_swept(events_stack: Stack) -> None:
    crashed_dispatcher(events_stack)
    sid = events_stack.call(DEMO_NUMBER, SALES).call_sid
    body = events_stack.api("POST", SWEEP + "?olderThanSeconds=600", key=None, headers=PLATFORM).get_json()
    assert (body["calls"], body["republished"]) == (0, 0) and events_stack.stored(sid).outbox  # the frozen clock
    events_stack.clock.at = events_stack.clock.at.replace(hour=events_stack.clock.at.hour + 1)
    body = events_stack.api("POST", SWEEP + "?olderThanSeconds=600", key=None, headers=PLATFORM).get_json()
    assert (body["calls"], body["republished"]) == (1, 18) and body["oldest_unpublished_seconds"] >= 3600


@pytest.mark.parametrize(("query", "field"), [("?olderThanSeconds=-1", "query.olderThanSeconds"),
                                              ("?olderThanSeconds=soon", "query.olderThanSeconds"),
                                              ("?limit=0", "query.limit"), ("?limit=2.5", "query.limit"),
                                              ("?limit=100000", "query.limit")])  # fmt: skip
def test_bad_parameters_are_400_naming_them(events_stack: Stack, query: str, field: str) -> None:
    answer = events_stack.api("POST", SWEEP + query, key=None, headers=PLATFORM)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["details"][0]["field"] == field


def test_who_may_sweep(events_stack: Stack) -> None:
    assert events_stack.api("POST", SWEEP, key=None).status_code == 401  # nothing
    tenant_key = events_stack.api("POST", SWEEP)  # a tenant's API key is not a task credential
    assert tenant_key.status_code in (401, 403) and "platform admin key" in tenant_key.get_json()["error"]["message"]
    wrong = events_stack.api("POST", SWEEP, key=None, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code in (401, 403)
    assert events_stack.api("GET", SWEEP, key=None, headers=PLATFORM).status_code == 405
    assert events_stack.api("POST", "/api/events/other", key=None, headers=PLATFORM).status_code == 404


def test_events_off_answers_200_and_reads_nothing() -> None:
    stack = build_stack(MemoryStore())
    try:
        reads = stack.store.reads
        body = stack.api("POST", SWEEP, key=None, headers=PLATFORM).get_json()
        assert body["events"] == "off" and body["republished"] == 0 and stack.store.reads == reads
    finally:
        bootstrap.install(None)


SWEEPER_ACCOUNT = "ivr-prod-events-sweeper@acme-ivr.iam.gserviceaccount.com"


@pytest.fixture
def google(events_stack: Stack) -> object:
    """Production's OIDC check (no secret) with a stand-in for Google's certificates."""
    from routingkit import TASKS_ACCOUNT
    from test_route_department import GOOGLE_CERTS, FakeGoogle, rsa_signer

    from common.routing_setup import RoutingSettings
    from common.web.task_auth import CertsCache, TaskAuth

    signer, cert = rsa_signer("google-key-1")
    fake = FakeGoogle(signer, {"google-key-1": cert})
    assert GOOGLE_CERTS
    base = events_stack.svc.settings.public_base_url
    settings = RoutingSettings(tasks="cloudtasks", tasks_service_account=TASKS_ACCOUNT, tasks_audience=base,
                               task_secret=None)  # fmt: skip
    svc: object = events_stack.svc
    svc.task_auth = TaskAuth(settings, base, certs=CertsCache(fake))  # type: ignore[attr-defined]
    fake.tasks_account, fake.base = TASKS_ACCOUNT, base
    return fake


def test_the_sweeper_account_alone_opens_the_sweep(events_stack: Stack, google: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    fake: object = google

    def bearer(email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {fake.token(email=email, aud=fake.base)}"}  # type: ignore[attr-defined]

    tasks = fake.tasks_account  # type: ignore[attr-defined]
    before = events_stack.api("POST", SWEEP, key=None, headers=bearer(tasks))
    assert (before.status_code, before.get_json()["caller"]) == (200, "oidc")  # no sweeper account: the tasks'
    monkeypatch.setenv("IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT", SWEEPER_ACCOUNT)
    mine = events_stack.api("POST", SWEEP, key=None, headers=bearer(SWEEPER_ACCOUNT))
    assert (mine.status_code, mine.get_json()["caller"]) == (200, "oidc")
    refused = events_stack.api("POST", SWEEP, key=None, headers=bearer(tasks))
    assert refused.status_code == 403 and SWEEPER_ACCOUNT in refused.get_json()["error"]["message"]
    assert events_stack.api("POST", SWEEP, key=None, headers=PLATFORM).status_code == 200  # a hand-run sweep
