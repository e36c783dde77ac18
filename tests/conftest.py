"""Fixtures for the whole suite: the stores, and Google's Firestore emulator (one per session).

``memory_store``        a fresh MemoryStore
``firestore_emulator``  the session's emulator; sets FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT
``firestore_client``    a google.cloud.firestore.Client bound to it (session scope)
``firestore_store``     an emptied emulator database and a fresh FirestoreStore on it

Without the emulator the Firestore tests are skipped with an install hint, except on CI (CI=true),
where that is a failure: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from common.adapters.emulator import EmulatorUnavailable, FirestoreEmulator, warm_up
from common.adapters.memory import MemoryStore

EMULATOR_PROJECT = "ivr-test"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Firestore tests must run on CI, not be skipped)")
    pytest.skip(reason)


def _warm_up() -> None:
    """A cold emulator takes about 1 s over its first request: not inside a store's 1 s timeout."""
    from google.cloud import firestore

    client = firestore.Client(project=EMULATOR_PROJECT)
    try:
        warm_up(client)
    finally:
        client.close()


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator()
    try:
        emulator.start()
    except EmulatorUnavailable as exc:
        _unavailable(str(exc))
    saved = {name: os.environ.get(name) for name in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")}
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    os.environ["GOOGLE_CLOUD_PROJECT"] = EMULATOR_PROJECT
    try:
        _warm_up()
        yield emulator
    finally:
        emulator.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator: FirestoreEmulator) -> Iterator[Any]:
    from google.cloud import firestore

    client = firestore.Client(project=EMULATOR_PROJECT)
    yield client
    client.close()


@pytest.fixture
def firestore_store(firestore_emulator: FirestoreEmulator, firestore_client: Any) -> Any:
    from common.adapters.firestore import FirestoreStore

    firestore_emulator.reset(EMULATOR_PROJECT)
    return FirestoreStore(firestore_client)


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()
