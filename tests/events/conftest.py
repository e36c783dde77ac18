"""Fixtures of the event pipeline tests.

``pubsub_emulator``  Google's Pub/Sub emulator for the session (common/adapters/pubsub_emulator.py);
                     sets PUBSUB_EMULATOR_HOST. Missing: skipped with the reason, except on CI
                     (CI=true), where that is a failure.
``events_stack``     the live stack (tests/functions/livestack.py) on the memory store with events
                     exported to a MemoryPublisher (``stack.svc.events.publisher``)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

_KIT = str(Path(__file__).resolve().parent.parent / "functions")
if _KIT not in sys.path:
    sys.path.insert(0, _KIT)

from livestack import Stack, build_stack  # noqa: E402

from common import bootstrap  # noqa: E402
from common.adapters.memory import MemoryStore  # noqa: E402


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Pub/Sub emulator tests must run on CI, not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[Any]:
    from common.adapters.pubsub_emulator import PubSubEmulator, PubSubEmulatorUnavailable

    emulator = PubSubEmulator()
    try:
        emulator.start()
    except PubSubEmulatorUnavailable as exc:
        _unavailable(str(exc))
    saved = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator
    finally:
        emulator.stop()
        if saved is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = saved


@pytest.fixture
def events_stack() -> Iterator[Stack]:
    built = build_stack(MemoryStore(), IVR_EVENTS="memory")
    yield built
    bootstrap.install(None)
