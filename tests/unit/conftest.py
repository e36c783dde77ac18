"""Shared setup for the unit tests: the builders in ``flowkit`` are importable from every test module."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the default (prepend) import mode already does this; importlib mode does not
    sys.path.insert(0, _HERE)
