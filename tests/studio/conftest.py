"""Shared setup for the Studio import tests: ``studiokit``, ``twilio_standin`` and ``livestack`` are
importable from every test module."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
_LIVESTACK = str(Path(__file__).resolve().parent.parent / "functions")  # the live stack of the call tests
for _path in (_HERE, _LIVESTACK):
    if _path not in sys.path:
        sys.path.insert(0, _path)
