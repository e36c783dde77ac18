"""A console session for the browser tests: the stack (with department routing), extra API keys, and
one Playwright page signed in or not.

    c = Console.build(base_url, browser, store, shots, events)  # what the ``console`` fixture gives
    c.sign_in()                                                 # tenant A's admin key
    c.goto("flows/support_line")                                # #/flows/support_line, waits for its h1
    c.shot("flow")                                              # build/console-screenshots/<test>-flow.png
    c.key("viewer")                                             # a new key of that role for tenant A
    c.problems                                                  # page errors, console errors, dialogs
    other = c.new_page(bypass_csp=True)                         # a second tab (its own session storage)
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callkit import Routed, attach
from livestack import ACCOUNT_A, API_KEY_A, BASE, TENANT_A, TENANT_B, TOKEN_A, Stack, build_stack, transport

from common.adapters.ports import ApiKey, Role
from common.callsim import TwilioCallSimulator
from common.service.admin import hash_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from report_events import all_events, insert, scenario

LAPTOP = {"width": 1280, "height": 860}
#: the reports fixture's tenants and flows, as this stack names them
EVENT_TENANTS = {"acme": TENANT_A, "globex": TENANT_B}
EVENT_FLOWS = {"support": "support_line"}


def write_events(path: Path) -> None:
    """The reports' hand-worked call events (tests/reports/report_events.py) into the stack's events
    file: tenant A's support_line over October to December 2026, one call of tenant B's flow main."""
    import duckdb

    events = [{**e, "tenant_id": EVENT_TENANTS[e["tenant_id"]], "flow_id": EVENT_FLOWS.get(e["flow_id"], e["flow_id"])}
              for e in all_events(scenario())]  # fmt: skip
    connection = duckdb.connect(str(path))
    try:
        insert(connection, events)
    finally:
        connection.close()


TABLET = {"width": 820, "height": 1180}


@dataclass
class Console:
    stack: Stack
    routed: Routed
    base_url: str
    browser: Any
    screenshots: Path
    context: Any = None
    page: Any = None
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    _contexts: list[Any] = field(default_factory=list)
    _keys: int = 0

    @classmethod
    def build(cls, base_url: str, browser: Any, store: Any, screenshots: Path, events_file: Path) -> Console:
        stack = build_stack(store, IVR_EVENTS="duckdb", IVR_EVENTS_DUCKDB=str(events_file))
        routed = attach(stack)
        routed.department("sales", schedule=None)
        routed.department("support")
        routed.agent("ann", "sales", contact="+15552220001", status="offline")
        routed.agent("bob", "sales", "support", contact="+15552220002", tier=2, status="away")
        made = cls(stack, routed, base_url, browser, screenshots)
        made.open()
        return made

    def open(self, viewport: dict[str, int] = LAPTOP) -> None:
        self.page = self.new_page(viewport)
        self.context = self.page.context

    def new_page(self, viewport: dict[str, int] = LAPTOP, bypass_csp: bool = False) -> Any:
        """A page in a context of its own (so its own sessionStorage, like another tab of another
        person). ``bypass_csp`` drops the Content-Security-Policy, to prove escaping holds without it.
        Every dialog (alert, confirm...) is recorded and dismissed: the console opens none."""
        context = self.browser.new_context(viewport=viewport, base_url=self.base_url, bypass_csp=bypass_csp)
        self._contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
                if m.type in ("error", "warning") else None)  # fmt: skip
        page.on("dialog", self._dialog)
        page.set_default_timeout(20000)  # generous: 2 shared cores under load are slow; a pass never waits it out
        return page

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        self.problems.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    def sim(self, **options: Any) -> TwilioCallSimulator:
        """The Twilio-like call simulator on this stack (tenant A's account), in the test's thread."""
        return TwilioCallSimulator(BASE, TOKEN_A, ACCOUNT_A, post=transport(self.stack.app), **options)

    # -- keys and sign-in -------------------------------------------------------------------------

    def key(self, role: Role, tenant_id: str = TENANT_A) -> tuple[str, str]:
        """(key, key id) of a new key of ``role``, stored as the keys API stores one."""
        self._keys += 1
        key, key_id = f"ivr_test_{role}_{self._keys}_key_not_secret", f"key_{role}{self._keys:04d}"
        pepper = self.stack.svc.settings.api_key_pepper
        self.stack.store.put_api_key(ApiKey(key_hash=hash_key(key, pepper), tenant_id=tenant_id, role=role,
                                            key_id=key_id, label="console tests"))  # fmt: skip
        return key, key_id

    def sign_in(self, key: str = API_KEY_A, page: Any = None) -> None:
        page = page or self.page
        page.goto("/console")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.locator("#sign-out").wait_for()

    def goto(self, hash_path: str, heading: str | None = None, page: Any = None, idle: bool = True) -> None:
        page = page or self.page
        page.evaluate("(h) => { location.hash = h; }", "#/" + hash_path)
        if heading is not None:
            page.get_by_role("heading", level=1, name=heading).wait_for()
        if idle:
            page.wait_for_load_state("networkidle")

    def unexpected(self) -> list[str]:
        """Page errors, console errors and dialogs seen so far (a test that expects some filters them)."""
        return list(self.problems)

    # -- artifacts --------------------------------------------------------------------------------

    def shot(self, name: str, tablet: bool = False, page: Any = None) -> Path:
        test = re.sub(r"[^A-Za-z0-9_-]+", "_", os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].split("::")[-1])  # noqa: E501
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{test}-{name}.png"
        page = page or self.page
        if tablet:
            page.set_viewport_size(TABLET)
        page.screenshot(path=str(path), full_page=True)
        if tablet:
            page.set_viewport_size(LAPTOP)
        assert path.stat().st_size > 5000, f"{path} looks empty"
        return path
