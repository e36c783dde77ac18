"""ivr load: drive many simulated calls through a running stack and report latency and errors."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
