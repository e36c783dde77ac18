"""Fixtures for the HTTP tests of the functions: a live stack on the embedded store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # importlib import mode does not put the test folder on sys.path
    sys.path.insert(0, _HERE)

from livestack import Stack, build_stack  # noqa: E402

from common import bootstrap  # noqa: E402


@pytest.fixture
def stack(memory_store: object) -> Iterator[Stack]:
    built = build_stack(memory_store)
    yield built
    bootstrap.install(None)
