"""Day-to-day operations in the console: a call in progress watched live until it ends and its
transcript read; a department's settings and escalation ladder edited, refused field by field and
then saved; an agent created into departments with tiers."""

from __future__ import annotations

from datetime import timedelta

from consolekit import Console
from livestack import DEMO_NUMBER, TENANT_A

CALLER = "+15550004444"


def test_a_live_call_is_watched_until_it_ends_and_its_transcript_read(console: Console) -> None:
    page = console.page
    session = console.sim().start(DEMO_NUMBER, CALLER, ["silence", "hangup"])
    session.step(0)  # the greeting played; the menu waits for a key
    sid = session.result.call_sid
    console.sign_in()
    console.goto("calls", "Live calls")
    live = page.get_by_role("region", name="In progress")
    row = live.get_by_role("row").filter(has_text=sid)
    row.wait_for()
    assert row.locator("td").all_inner_texts()[1:] == [CALLER, DEMO_NUMBER, "support_line@1.0.0", "menu", "0s",
                                                       "start → greeting → menu"]  # fmt: skip
    console.stack.clock.at += timedelta(seconds=75)
    row.filter(has_text="1m 15s").wait_for()  # the page's own refresh, by the service's clock
    console.shot("call-in-progress")
    while session.live:
        session.step()
    page.get_by_role("region", name="Recently finished").get_by_role("row").filter(has_text=sid).wait_for()
    assert live.get_by_role("row").filter(has_text=sid).count() == 0
    page.get_by_role("region", name="Recently finished").get_by_role("link", name=sid).click()
    page.get_by_role("heading", level=1, name=f"Call {sid}").wait_for()
    transcript = page.get_by_role("region", name="Transcript")
    events = [row.locator("td").nth(3).inner_text() for row in transcript.locator("tbody tr").all()]
    api = console.stack.api("GET", f"/api/calls/{sid}").json
    assert events == [e["type"] for e in api["events"]] and "call.started" in events
    assert page.locator("dd[data-call-status]").inner_text().startswith("ended")
    console.shot("call-transcript")
    assert console.unexpected() == []


def test_department_settings_are_refused_field_by_field_then_saved(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("departments/sales", "Departments and agents")
    settings = page.get_by_role("region", name="Settings: Sales")
    ring = settings.get_by_label("ring timeout seconds")
    ring.fill("2")
    settings.get_by_role("button", name="Add escalation step").click()
    step = settings.get_by_role("group", name="Step 1")
    step.get_by_label("After seconds").fill("60")
    step.get_by_label("Action").select_option("overflow")
    step.get_by_label("Overflow to").select_option("sales")  # itself: a loop
    settings.get_by_role("button", name="Save department").click()
    ring_error = settings.locator(f"#{ring.get_attribute('id')}-error")
    ring_error.filter(has_text="5").wait_for()  # the range, next to the field
    assert ring.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == ring.get_attribute("id")  # the problem has the focus
    console.shot("department-refused")
    stored = console.routed.service.admin.get_department(TENANT_A, "sales")[0]
    assert stored["ringTimeoutSeconds"] == 20 and stored["escalation"] == []  # nothing was stored

    ring.fill("25")  # the ladder is checked once the fields are valid: overflowing into itself is refused
    settings.get_by_role("button", name="Save department").click()
    overflow = step.get_by_label("Overflow to")
    settings.locator(f"#{overflow.get_attribute('id')}-error").filter(has_text="itself").wait_for()
    assert overflow.get_attribute("aria-invalid") == "true" and ring.get_attribute("aria-invalid") is None
    assert ring_error.inner_text() == ""
    assert console.routed.service.admin.get_department(TENANT_A, "sales")[0]["escalation"] == []

    overflow.select_option("support")
    settings.get_by_role("button", name="Save department").click()
    settings.get_by_text("Saved.").wait_for()
    stored = console.routed.service.admin.get_department(TENANT_A, "sales")[0]
    assert stored["ringTimeoutSeconds"] == 25
    steps = [(s["afterSeconds"], s["action"], s["department"]) for s in stored["escalation"]]
    assert steps == [(60, "overflow", "support")]
    assert overflow.get_attribute("aria-invalid") is None
    assert console.unexpected() == [p for p in console.unexpected() if "422" in p]  # the refused save's own


def test_an_agent_is_created_into_departments_with_tiers(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("departments/sales", "Departments and agents")
    form = page.get_by_role("region", name="New agent")
    form.get_by_label("Agent id").fill("cy")
    form.get_by_label("Name").fill("Cy")
    form.get_by_label("Contact").fill("+1 (555) 222-0003")
    form.get_by_role("checkbox", name="Support").check()
    form.get_by_label("Tier in Support").fill("3")
    form.get_by_role("button", name="Create agent").click()
    page.get_by_role("region", name="Agents").get_by_role("cell", name="cy", exact=True).wait_for()
    agent = console.routed.service.admin.get_agent(TENANT_A, "cy")[0]
    assert (agent["name"], agent["contact"], agent["status"]) == ("Cy", "+15552220003", "offline")
    assert agent["departments"] == [{"department": "support", "tier": 3}]
    row = page.get_by_role("region", name="Agents").get_by_role("row").filter(has_text="Cy")
    assert "support (tier 3)" in row.inner_text()
    assert console.unexpected() == []
