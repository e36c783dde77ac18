"""Fixtures for the routing service tests: ``harness`` (see routing_harness.py)."""

from __future__ import annotations

import pytest
from routing_harness import Harness, make_harness


@pytest.fixture
def harness() -> Harness:
    return make_harness()
