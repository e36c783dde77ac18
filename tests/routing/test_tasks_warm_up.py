"""A stack on Cloud Tasks builds the tasks client at start-up, on a thread, not in the first transfer's
webhook (importing google-cloud-tasks takes seconds on a loaded machine; a webhook has 2.5 s)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from common import config
from common.adapters.memory import MemoryStore
from common.adapters.timers import CloudTasksTimers
from common.routing_setup import RoutingSettings, build_routing, warm_up


def test_the_client_is_built_before_anything_is_scheduled() -> None:
    settings = config.from_env({"PUBLIC_BASE_URL": "https://ivr.example.test"})
    routing = RoutingSettings(tasks="cloudtasks", tasks_queue="projects/p/locations/l/queues/q",
                              tasks_emulator_host="127.0.0.1:9")  # nothing listens there: no RPC is made  # fmt: skip
    service = build_routing(settings, MemoryStore(), lambda: datetime.now(UTC), routing=routing)
    timers = service.deps.timers
    assert isinstance(timers, CloudTasksTimers)
    deadline = time.monotonic() + 60
    while timers._client is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert timers._client is not None and timers._call_kw is not None


def test_a_failing_warm_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @property
        def client(self) -> object:
            raise RuntimeError("no credentials")

    thread = warm_up(Broken())
    thread.join(10)
    assert not thread.is_alive()
    assert "warming up the Cloud Tasks client failed" in caplog.text
