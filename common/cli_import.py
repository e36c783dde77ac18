"""ivr import: turn flows from other tools (Twilio Studio) into FlowDesigner flows."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
