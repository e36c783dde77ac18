"""ivr report: billing, costs, funnel and queue reports over the call events."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
