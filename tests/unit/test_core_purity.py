"""common.core stays pure: no cloud SDKs, no web frameworks, no network clients, no clock reads."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

import common.core

CORE_DIR = Path(common.core.__file__).resolve().parent
CORE_FILES = sorted(CORE_DIR.glob("*.py"))

FORBIDDEN = [
    # cloud SDKs and RPC
    "google", "google.cloud", "google.auth", "google.api_core", "grpc", "grpc_status",
    # web frameworks and servers
    "flask", "functions_framework", "werkzeug", "http.server", "socketserver", "wsgiref",
    # HTTP and socket clients
    "requests", "urllib3", "http.client", "urllib.request", "aiohttp", "aiohttp_retry", "aiohappyeyeballs",
    "httpx", "httpcore", "smtplib", "ftplib", "xmlrpc.client",
    # Twilio's REST client (only the TwiML builder is allowed)
    "twilio.rest", "twilio.http", "twilio.base.client_base", "twilio.request_validator",
    # the project's own outer layers
    "common.adapters", "common.service", "common.web", "common.cli", "common.bootstrap", "common.devserver",
    "common.callsim", "common.config",
]  # fmt: skip

_PROBE = """
import importlib, json, pkgutil, sys
import common.core
names = sorted(m.name for m in pkgutil.walk_packages(common.core.__path__, "common.core."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, list[str]]:
    # -S: no .pth processing. The venv's functions_framework nspkg.pth pre-imports the ``google`` and
    # ``google.cloud`` namespace packages into every interpreter, which would hide what core imports.
    path = [str(CORE_DIR.parent.parent), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, "-S", "-c", _PROBE], capture_output=True, text=True, timeout=120,
                          check=False, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_core_module_is_imported(probe: dict[str, list[str]]) -> None:
    expected = sorted(f"common.core.{m.name}" for m in pkgutil.iter_modules([str(CORE_DIR)]))
    assert probe["imported"] == expected
    assert {"common.core.engine", "common.core.validation", "common.core.twiml"} <= set(expected)


@pytest.mark.parametrize("module", FORBIDDEN)
def test_core_does_not_import(probe: dict[str, list[str]], module: str) -> None:
    loaded = set(probe["modules"])
    assert module not in loaded
    assert not any(name.startswith(module + ".") for name in loaded)


def test_the_probe_sees_third_party_imports(probe: dict[str, list[str]]) -> None:
    # Guards the guard: the subprocess really imported core's own dependencies.
    assert {"pydantic", "liquid", "twilio.twiml.voice_response", "common.core.engine"} <= set(probe["modules"])


# --- no clock reads --------------------------------------------------------------------------------

# owner name -> attributes that read the clock (``dt.time()`` builds midnight; it reads nothing).
CLOCK_READS = {
    "datetime": {"now", "utcnow", "today"}, "date": {"today"}, "dt": {"now", "utcnow", "today"},
    "time": {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "process_time",
             "localtime", "gmtime", "ctime"},
}  # fmt: skip


def clock_reads(source: str) -> list[str]:
    """``datetime.now``, ``dt.datetime.utcnow``, ``time.time``, ``date.today``... and ``from time import``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if node.attr in CLOCK_READS.get(name or "", ()):
                found.append(f"line {node.lineno}: {name}.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found.append(f"line {node.lineno}: from time import {', '.join(a.name for a in node.names)}")
        if isinstance(node, ast.Import) and any(a.name == "time" for a in node.names):
            found.append(f"line {node.lineno}: import time")
    return found


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("from datetime import datetime\nx = datetime.now()", 1),
        ("import datetime as dt\nx = dt.datetime.utcnow()", 1),
        ("import time\nx = time.time()", 2),
        ("from time import monotonic", 1),
        ("import datetime\nx = datetime.date.today()", 1),
        ("f = datetime.now", 1),
        ("x = now.iso\ny = value.time()\nz = parse_time('09:00')", 0),
        ("import datetime as dt\nmidnight = dt.time()\nnine = dt.datetime.time(x)", 0),
        ("import datetime as dt\nx = dt.date.today()", 1),
    ],
)  # fmt: skip
def test_clock_detector(source: str, count: int) -> None:
    assert len(clock_reads(source)) == count


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_reads_no_clock(path: Path) -> None:
    assert clock_reads(path.read_text(encoding="utf-8")) == []


def test_core_files_are_found() -> None:
    assert len(CORE_FILES) >= 10
