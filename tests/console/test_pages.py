"""Every page of the console in a real browser: sign-in, what each role is offered, the pages' content
from the API, and a screenshot of each (keyboard basics and tablet width: test_keyboard.py)."""

from __future__ import annotations

from typing import Any

from consolekit import Console
from livestack import AFTER_HOURS_NUMBER, DEMO_NUMBER

PAGES = [("flows", "Flows"), ("flows/support_line", "Support line"), ("numbers", "Numbers and deployment history"),
         ("departments/sales", "Departments and agents"), ("calls", "Live calls"), ("schedules", "Schedules"),
         ("monitoring", "Monitoring")]  # fmt: skip


def test_sign_in_keeps_the_key_in_the_tab_and_sends_it_as_a_bearer_token(console: Console) -> None:
    page = console.page
    page.goto("/console")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "not valid" in page.get_by_role("alert").inner_text()
    console.shot("refused")
    seen: list[str | None] = []
    page.on("request", lambda r: seen.append(r.headers.get("authorization")) if "/api/" in r.url else None)
    console.sign_in()
    assert page.evaluate("sessionStorage.getItem('ivr.console.key')") == "ivr_dev_demo_key_not_secret"
    assert page.context.cookies() == []
    assert seen and all(h == "Bearer ivr_dev_demo_key_not_secret" for h in seen)
    assert "demo · admin" in page.locator("#who").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key").wait_for()
    assert page.evaluate("sessionStorage.getItem('ivr.console.key')") is None
    assert console.problems == [p for p in console.problems if "401" in p]  # the refused key's own request


def test_every_page_renders_from_the_api_without_errors(console: Console) -> None:
    """At laptop width; test_keyboard.py renders them at tablet width."""
    console.sign_in()
    for hash_path, heading in PAGES:
        console.goto(hash_path, heading)
        console.shot(hash_path.replace("/", "-"))
    assert console.unexpected() == []


def test_a_page_still_loading_does_not_replace_the_page_asked_for_after_it(console: Console) -> None:
    """Signed in, the first page (Flows) waits for /api/flows; a page chosen meanwhile stays shown when
    that answer arrives late."""
    page = console.page
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/api/flows", hold)
    console.sign_in()
    while not held:
        page.wait_for_timeout(20)
    console.goto("calls", "Live calls", idle=False)
    held[0].continue_()
    page.unroute("**/api/flows", hold)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)  # the late page's render, had it been let through
    assert page.locator("h1").all_inner_texts() == ["Live calls"]
    assert page.title().startswith("Live calls")
    assert console.unexpected() == []


def test_the_pages_show_what_the_api_has(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("flows", "Flows")
    assert page.get_by_role("link", name="Support line").is_visible()
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 3
    console.goto("numbers", "Numbers and deployment history")
    text = page.locator("main").inner_text()
    assert DEMO_NUMBER in text and AFTER_HOURS_NUMBER in text and "support_line@1.0.0" in text
    console.goto("schedules", "Schedules")
    days = page.locator("table.data").first.locator("tbody tr")
    assert days.count() == 28
    assert "Mon 2026-01-05" in days.nth(0).inner_text() and "09:00\u201317:00" in days.nth(0).inner_text()
    assert "closed" in days.nth(5).inner_text()  # Saturday
    console.goto("departments/sales", "Departments and agents")
    page.get_by_text("Updated").first.wait_for()
    assert "Bob" in page.locator("dd[data-status=away]").inner_text()
    assert console.unexpected() == []


def test_a_viewer_is_not_offered_changes_and_an_agent_only_its_panel(console: Console) -> None:
    page = console.page
    viewer, _ = console.key("viewer")
    console.sign_in(viewer)
    console.goto("flows/support_line", "Support line")
    assert page.get_by_role("button", name="Review deploy…").count() == 0
    assert page.get_by_role("heading", name="Roll back").count() == 0
    console.goto("departments/sales", "Departments and agents")
    assert page.get_by_role("button", name="Save department").count() == 0
    assert page.get_by_role("button", name="Create agent").count() == 0
    agent_key, agent_key_id = console.key("agent")
    console.routed.service.admin.put_agent("demo", "ann", {"name": "Ann", "contact": "+15552220001",
                                           "departments": [{"department": "sales", "tier": 1}]},
                                           api_key_id=agent_key_id)  # fmt: skip
    page.get_by_role("button", name="Sign out").click()
    console.sign_in(agent_key)
    page.get_by_role("heading", level=1, name="My status").wait_for()
    links = page.locator("#nav a")
    assert [links.nth(i).inner_text() for i in range(links.count())] == ["My status"]
    assert "Ann: offline" in page.locator(".big-status").inner_text()
    console.shot("agent-panel")
    console.goto("flows")  # not offered: the only page shown is the agent's own
    page.get_by_role("heading", level=1, name="My status").wait_for()
    assert console.unexpected() == []
