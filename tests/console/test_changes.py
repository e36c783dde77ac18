"""Changes made through the console, checked where they take effect: a deploy and a rollback (the
confirmation lists exactly what changes; the numbers API and a simulated call then agree), and an agent
going available in their own panel while a simulated caller waits, seen live from the supervisor's."""

from __future__ import annotations

from typing import Any

from consolekit import Console
from livestack import API_KEY_A, CLOSED_AT, DEMO_NUMBER, LOOKUP_NUMBER, TENANT_A, deploy

SUPPORT_GREETING = "IVR: Thanks for calling Acme."
LOOKUP_PROMPT = "IVR: Please enter your account number, followed by the pound key."
CLOSED_PROMPT = "IVR: Our office is closed. To leave a message, press 1. For the emergency line, press 9."


def running(console: Console, number: str) -> dict[str, Any]:
    numbers = console.stack.api("GET", "/api/numbers").json["numbers"]
    deployment = next(n for n in numbers if n["phoneNumber"] == number)["deployment"]
    assert deployment is not None, f"{number} runs nothing"
    return dict(deployment)


def first_words(console: Console, number: str) -> str:
    result = console.sim().call(number, inputs=["hangup"])
    assert result.problems == [], result.problems
    return result.transcript[0]


def confirm(console: Console, expected: list[str], button: str, shot: str) -> None:
    """The confirmation dialog lists exactly ``expected``; confirm it."""
    dialog = console.page.locator("dialog[open]")
    dialog.wait_for()
    assert dialog.locator("ul.changes li").all_inner_texts() == expected
    console.shot(shot)
    dialog.get_by_role("button", name=button).click()


def test_a_deploy_and_a_rollback_through_the_console_change_what_callers_hear(console: Console) -> None:
    page = console.page
    before = running(console, DEMO_NUMBER)
    assert (before["flowId"], first_words(console, DEMO_NUMBER)) == ("support_line", SUPPORT_GREETING)
    console.sign_in()
    console.goto("flows/account_lookup", "Account balance lookup")

    deploy_form = page.get_by_role("region", name="Deploy")
    deploy_form.get_by_label(f"{DEMO_NUMBER} (runs support_line@1.0.0)").check()
    deploy_form.get_by_label("Message").fill("lookup on the main number")
    deploy_form.get_by_role("button", name="Review deploy…").click()
    confirm(console, [f"{DEMO_NUMBER} (production): support_line@1.0.0 → account_lookup@1.0.0",
                      "no schedules: the flow answers at all hours"], "Deploy", "deploy-confirm")  # fmt: skip
    deploy_form.get_by_role("status").filter(has_text="Done: deploy").wait_for()
    assert f"{DEMO_NUMBER}: support_line@1.0.0 → account_lookup@1.0.0" in deploy_form.inner_text()

    after = running(console, DEMO_NUMBER)
    assert (after["flowId"], after["version"]) == ("account_lookup", "1.0.0")
    assert after["createdBy"].startswith("console key_")  # who: the key that made it
    assert running(console, LOOKUP_NUMBER)["id"] != after["id"]  # the other number was not touched
    assert first_words(console, DEMO_NUMBER) == LOOKUP_PROMPT
    history = console.stack.api("GET", f"/api/deployments?number=%2B{DEMO_NUMBER[1:]}&limit=1").json["deployments"]
    assert history[0]["message"] == "lookup on the main number"

    page.get_by_role("region", name="Roll back").get_by_label(f"{DEMO_NUMBER} (runs account_lookup@1.0.0)").wait_for()
    rollback = page.get_by_role("region", name="Roll back")  # the page was redrawn after the deploy
    assert rollback.get_by_label("Back to").input_value() == "previous"
    rollback.get_by_label(f"{DEMO_NUMBER} (runs account_lookup@1.0.0)").check()
    rollback.get_by_role("button", name="Review rollback…").click()
    confirm(console, [f"{DEMO_NUMBER} (production): account_lookup@1.0.0 → support_line@1.0.0"], "Roll back",
            "rollback-confirm")  # fmt: skip
    rollback.get_by_role("status").filter(has_text="Done: rollback").wait_for()

    restored = running(console, DEMO_NUMBER)
    assert (restored["flowId"], restored["version"]) == ("support_line", "1.0.0")
    assert first_words(console, DEMO_NUMBER) == SUPPORT_GREETING
    assert running(console, LOOKUP_NUMBER)["flowId"] == "account_lookup"
    console.goto("numbers", "Numbers and deployment history")
    history_text = page.get_by_role("region", name="Deployment history").inner_text()
    assert "rollback" in history_text and "lookup on the main number" in history_text
    console.shot("history-after-rollback")
    assert console.unexpected() == []


def test_a_cancelled_deploy_changes_nothing(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("flows/account_lookup", "Account balance lookup")
    deploy_form = page.get_by_role("region", name="Deploy")
    deploy_form.get_by_label(f"{DEMO_NUMBER} (runs support_line@1.0.0)").check()
    deploy_form.get_by_role("button", name="Review deploy…").click()
    page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    page.locator("#status").filter(has_text="Deploy cancelled.").wait_for()
    assert running(console, DEMO_NUMBER)["flowId"] == "support_line"
    assert console.stack.api("GET", "/api/deployments?limit=100").json["deployments"][0]["kind"] == "deploy"
    assert len(console.stack.api("GET", "/api/deployments?limit=100").json["deployments"]) == 3  # the seeds'


WAITING_LINE = {"id": "waiting_line", "name": "Waiting line", "nodes": [
    {"id": "start", "type": "startNode", "data": {}},
    {"id": "queue", "type": "transferNode", "data": {"message": "Please hold.", "target": {
        "type": "department", "department": "sales", "priority": "normal"}}},
    {"id": "bye", "type": "hangupNode", "data": {"message": "Goodbye."}},
    {"id": "sorry", "type": "hangupNode", "data": {"message": "Sorry, nobody could take your call."}}],
    "edges": [{"id": "e1", "source": "start", "target": "queue"},
              {"id": "q-done", "source": "queue", "sourceHandle": "completed", "target": "bye"},
              *({"id": f"q-{o}", "source": "queue", "sourceHandle": o, "target": "sorry"} for o in (
                  "timeout", "callbackRequested", "voicemail", "closed", "noAgents", "busy", "failed"))]}  # fmt: skip
WAITING_NUMBER = "+13072240077"
CALLER = "+15550001111"


def test_an_agent_going_available_in_the_console_is_connected_to_the_waiting_caller(console: Console) -> None:
    routed, stack = console.routed, console.stack
    deploy(stack.svc, stack.svc.admin.authenticate(f"Bearer {API_KEY_A}"), WAITING_LINE, WAITING_NUMBER)
    agent_key, agent_key_id = console.key("agent")
    routed.service.admin.put_agent(TENANT_A, "ann", {"name": "Ann", "contact": "+15552220001",
                                   "departments": [{"department": "sales", "tier": 1}]},
                                   api_key_id=agent_key_id)  # fmt: skip
    supervisor = console.page
    console.sign_in()
    console.goto("departments/sales", "Departments and agents")
    queue = supervisor.get_by_role("region", name="Queue now: Sales")
    queue.get_by_text("Nobody is waiting.").wait_for()

    session = console.sim(play_seconds=20).start(WAITING_NUMBER, CALLER, ["agent:answer:30"])
    t = 0.0
    while session.live and not routed.entries("sales", ("waiting",)) and t < 120:
        session.step(t)
        routed.advance(1)
        t += 1
    (entry,) = routed.entries("sales", ("waiting",))
    for _ in range(3):  # a few turns of the hold loop: the caller keeps waiting, nobody is free
        session.step(t := t + 20)
        routed.advance(20)
    assert session.live and routed.entry("sales", entry.id).status == "waiting"
    queue.get_by_role("cell", name=CALLER).wait_for()  # the live view's own refresh shows the caller
    assert "1 waiting" in queue.inner_text()
    console.shot("supervisor-caller-waiting")

    agent = console.new_page()
    console.sign_in(agent_key, page=agent)
    agent.get_by_role("heading", level=1, name="My status").wait_for()
    assert "Ann: offline" in agent.locator(".big-status").inner_text()
    agent.get_by_role("button", name="Available").click()
    agent.locator(".big-status").filter(has_text="Ann: ").filter(has_not_text="offline").wait_for()
    assert routed.entry("sales", entry.id).status == "assigned"  # offered the moment she is available
    assert routed.entry("sales", entry.id).agent_ids == ("ann",)
    console.shot("agent-available", page=agent)

    while session.live and routed.entry("sales", entry.id).status != "connected" and t < 400:
        session.step(t := t + 1)
        routed.advance(1)
    assert routed.entry("sales", entry.id).status == "connected"
    assert any(line.startswith("AGENT hears: Call for Sales") for line in session.transcript), session.transcript
    queue.get_by_role("cell", name="ann").wait_for()  # on a call, seen live
    console.shot("supervisor-agent-talking")

    while session.live and t < 600:
        session.step(t := t + 1)
        routed.advance(1)
    result = session.result
    assert result.problems == [], result.problems
    assert result.transcript[-2:] == ["IVR: Goodbye.", "IVR hangs up"]
    done = routed.entry("sales", entry.id)
    assert (done.status, done.connected_agent, done.talk_seconds) == ("completed", "ann", 30)
    assert stack.stored(result.call_sid).state.path == ["start", "queue", "bye"]
    assert console.unexpected() == []


STAGING_NUMBER = "+13072240088"


def test_a_promotion_through_the_console_runs_stagings_version_in_production(console: Console) -> None:
    stack = console.stack
    registered = stack.api("POST", "/api/numbers", json={"phoneNumber": STAGING_NUMBER, "environment": "staging"})
    assert registered.status_code == 201, registered.json
    staged = stack.api("POST", "/api/flows/account_lookup/deploy", json={"environment": "staging",
                       "phoneNumbers": [STAGING_NUMBER]})  # fmt: skip
    assert staged.status_code == 200, staged.json
    page = console.page
    console.sign_in()
    console.goto("flows/account_lookup", "Account balance lookup")
    promote = page.get_by_role("region", name="Promote")
    assert promote.get_by_label("From environment").input_value() == "staging"
    assert promote.get_by_label("To environment").input_value() == "production"
    promote.get_by_label(f"{DEMO_NUMBER} (runs support_line@1.0.0)").check()
    promote.get_by_role("button", name="Review promotion…").click()
    confirm(console, [f"{DEMO_NUMBER} (production): support_line@1.0.0 → account_lookup@1.0.0", "no schedules"],
            "Promote", "promote-confirm")  # fmt: skip
    promote.get_by_role("status").filter(has_text="Done: promote").wait_for()
    assert (running(console, DEMO_NUMBER)["flowId"], running(console, STAGING_NUMBER)["flowId"]) == \
        ("account_lookup", "account_lookup")  # fmt: skip
    assert first_words(console, DEMO_NUMBER) == LOOKUP_PROMPT
    assert console.unexpected() == []


def test_a_deploy_with_a_schedule_and_a_fallback_answers_by_the_hours(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("flows/account_lookup", "Account balance lookup")
    deploy_form = page.get_by_role("region", name="Deploy")
    deploy_form.get_by_label(f"{DEMO_NUMBER} (runs support_line@1.0.0)").check()
    deploy_form.get_by_label("business_hours").check()
    deploy_form.get_by_label("Fallback flow").select_option("after_hours_voicemail")
    deploy_form.get_by_role("button", name="Review deploy…").click()
    confirm(console, [f"{DEMO_NUMBER} (production): support_line@1.0.0 → account_lookup@1.0.0",
                      "schedules: business_hours; when all are closed: after_hours_voicemail"], "Deploy",
            "deploy-with-schedule-confirm")  # fmt: skip
    deploy_form.get_by_role("status").filter(has_text="Done: deploy").wait_for()
    deployed = running(console, DEMO_NUMBER)
    assert (deployed["flowId"], deployed["schedules"], deployed["fallbackFlow"], deployed["fallbackVersion"]) == \
        ("account_lookup", ["business_hours"], "after_hours_voicemail", "1.0.0")  # fmt: skip
    assert first_words(console, DEMO_NUMBER) == LOOKUP_PROMPT  # Monday 15:00 in London: open
    console.stack.clock.at = CLOSED_AT  # a Saturday: the fallback answers
    assert first_words(console, DEMO_NUMBER) == CLOSED_PROMPT
    assert console.unexpected() == []
