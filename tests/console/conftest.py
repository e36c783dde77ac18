"""The console in a real browser: Debian's Chromium driven by Playwright, against the whole stack
served over HTTP on 127.0.0.1 (every function behind the local dispatcher, as ``ivr run`` serves it).

``served``   (session) the HTTP server; each test's stack is installed into it (``bootstrap.install``)
``browser``  (session) one headless Chromium for the whole session (about a second to start)
``events_file`` the DuckDB file the test's stack exports call events to and its reports read (absent
             until a call or ``consolekit.write_events`` writes it)
``console``  a stack with routing (tenant A: three flows, business_hours; tenant B) and a fresh browser
             page on it, recording page errors, console errors and dialogs (``console.problems``)

Without Chromium the tests say how to install it and skip, except with CI=true, where that fails.
Screenshots go to build/console-screenshots/ (git-ignored), one per page and state.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:  # the stack kits live with the HTTP tests of the functions
    sys.path.insert(0, _FUNCTIONS)

from consolekit import Console  # noqa: E402

from common import bootstrap  # noqa: E402

CHROMIUM = os.environ.get("IVR_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the console's browser tests must run on CI, not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def served() -> Iterator[str]:
    from livestack import wsgi_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, wsgi_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if found is None:
        _unavailable(f"Chromium is not installed at {CHROMIUM}: install it with `sudo apt install chromium` "
                     "(or point IVR_CHROMIUM at a Chromium binary) to run the console's browser tests")  # fmt: skip
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -r requirements-dev.txt")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=found, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])  # fmt: skip  # noqa: E501
    except Exception as exc:  # a broken install: say so rather than fail obscurely
        playwright.stop()
        _unavailable(f"Chromium at {found} did not start ({str(exc)[:300]}); reinstall it with `sudo apt install chromium`")  # noqa: E501
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    """Where the stack's reports read call events: a file of the test's own (absent until a test writes
    it), so a developer's .ivr/events.duckdb never shows up in the monitoring page."""
    return tmp_path / "events.duckdb"


@pytest.fixture
def console(served: str, browser: Any, memory_store: Any, events_file: Path) -> Iterator[Console]:
    built = Console.build(served, browser, memory_store, SCREENSHOTS, events_file)
    yield built
    built.close()
    bootstrap.install(None)
