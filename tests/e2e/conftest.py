"""End-to-end fixtures: the live stack (tests/functions/livestack.py) on each store in turn.

``store`` is parametrized over the embedded store and Google's Firestore emulator, so every test that
uses ``stack`` runs against both; the emulator variant is skipped (or fails on CI) without it.

``stack`` has no department routing (a transfer to a department is a Twilio <Enqueue>, as on a stack
routing is not wired into) whatever the bootstrap wires; tests of routing attach it
(``callkit.attach``), so both ways are covered however the container is built.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_KIT = str(Path(__file__).resolve().parent.parent / "functions")
if _KIT not in sys.path:
    sys.path.insert(0, _KIT)

from callkit import detach  # noqa: E402
from livestack import Stack, build_stack, warm_up  # noqa: E402

from common import bootstrap  # noqa: E402


@pytest.fixture(scope="session")
def warm_firestore_client(firestore_client: Any) -> Any:
    warm_up(firestore_client)
    return firestore_client


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "firestore":
        request.getfixturevalue("warm_firestore_client")
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def stack(store: Any) -> Iterator[Stack]:
    built = build_stack(store)
    detach(built)
    yield built
    bootstrap.install(None)
