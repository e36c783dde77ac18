"""Routing timers sharded over several Cloud Tasks queues (docs/capacity.md): each name always goes
to the queue its hash picks, every queue gets some, and delivery works from each (on
gcloud-tasks-emulator, with two queues)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from local_http import Recorder

from common.adapters.tasks_emulator import TasksEmulator, TasksEmulatorUnavailable
from common.adapters.timers import CloudTasksTimers, shard_of, task_id

SHARDS = ("projects/ivr-test/locations/local/queues/routing-timers-0",
          "projects/ivr-test/locations/local/queues/routing-timers-1")  # fmt: skip
PATH = "api/departments/tasks/escalate"
SECRET = {"X-Ivr-Task-Secret": "local-secret"}


def test_a_name_always_picks_the_same_shard_and_names_spread() -> None:
    names = [f"entry-{i}-step-{i % 5}" for i in range(4000)]
    picks = [shard_of(name, 4) for name in names]
    assert picks == [shard_of(name, 4) for name in names]
    counts = Counter(picks)
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 850  # within 15 % of an even 1,000
    assert {shard_of(name, 1) for name in names} == {0}


def test_the_task_name_and_parent_are_the_shard_of_the_name() -> None:
    created: list[tuple[str, str]] = []

    class Client:
        def create_task(self, parent: str, task: Any, **_: Any) -> None:
            created.append((parent, task.name))

    timers = CloudTasksTimers(",".join(SHARDS), "https://ivr.example.com", service_account="sa@x", client=Client())
    for name in ("a", "b", "c", "d", "e", "f"):
        assert timers.schedule(name, datetime.now(UTC), PATH, {"name": name})
    for (parent, task_name), name in zip(created, "abcdef", strict=True):
        assert parent == SHARDS[shard_of(name, 2)] == timers.queue_for(name)
        assert task_name == f"{parent}/tasks/{task_id(name)}"
    assert {parent for parent, _ in created} == set(SHARDS)


@pytest.mark.parametrize("queue", ["projects/p/locations/l/queues/q,", "projects/p/locations/l/queues/q,"
                                   "projects/p/locations/l/queues/q", "projects/p/locations/l/queues/q,other"])
def test_a_malformed_or_repeated_queue_list_is_refused(queue: str) -> None:
    with pytest.raises(ValueError, match="tasks queue"):
        CloudTasksTimers(queue, "https://ivr.example.com", service_account="sa@x")


@pytest.fixture(scope="module")
def emulator() -> Iterator[TasksEmulator]:
    started = TasksEmulator(queues=list(SHARDS))
    try:
        started.start()
    except TasksEmulatorUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: the Cloud Tasks emulator tests must run on CI)")
        pytest.skip(str(exc))
    try:
        yield started
    finally:
        started.stop()


def test_timers_on_two_emulated_queues_are_each_delivered_from_their_shard(emulator: TasksEmulator) -> None:
    with Recorder() as receiver:
        timers = CloudTasksTimers(",".join(SHARDS), receiver.url, emulator_host=emulator.host, headers=SECRET)
        names = [f"entry-{i}" for i in range(8)]
        for name in names:
            assert timers.schedule(name, datetime.now(UTC), PATH, {"name": name}) is True
        requests = receiver.wait_for(len(names))
    by_name = {r.json()["name"]: r.headers["x-cloudtasks-queuename"] for r in requests}
    assert set(by_name) == set(names)
    assert by_name == {name: SHARDS[shard_of(name, 2)] for name in names}  # the emulator names the full path
    assert set(by_name.values()) == set(SHARDS)
