"""The monitoring page draws the reports API's numbers, and only those: with hand-worked call events
(tests/reports/report_events.py, the reports' own fixture) its call volume, billing, queue and funnel
tables and charts say what the API says; simulated calls and a fallback request show in the webhook
latency and fallback panels with their exact counts; without anything every panel says why it is empty."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

from consolekit import Console, write_events
from livestack import ACCOUNT_A, DEMO_NUMBER

from common.reports.webhook_recorder import RECORDER


def function_of(url: str) -> str:
    """The function serving a webhook, as the load balancer (and common/devserver.py) routes it."""
    path = urlsplit(url).path
    return "flow_step" if path.startswith(("/webhook/voice/step", "/webhook/departments/")) else "incoming_call"


def test_monitoring_draws_the_reports_numbers(console: Console, events_file: Path) -> None:
    write_events(events_file)
    api = console.stack.api
    days = api("GET", "/api/reports/volume?by=day").json["rows"]
    assert [(r["day"], r["calls_started"]) for r in days] == [("2026-10-31", 1), ("2026-11-03", 6),
                                                              ("2026-11-20", 1), ("2026-12-01", 1)]  # fmt: skip
    page = console.page
    console.sign_in()
    console.goto("monitoring", "Monitoring")

    volume = page.get_by_role("region", name="Call volume and success rate")
    rows = volume.locator("table tbody tr")
    assert rows.count() == len(days)
    shown = [row.locator("td").all_inner_texts() for row in rows.all()]
    rate = {r["day"]: "—" if r["success_rate"] is None else f"{r['success_rate'] * 100:.1f}%" for r in days}
    assert shown == [[r["day"], r["flow_id"], str(r["calls_started"]), str(r["calls_completed"]),
                      str(r["calls_succeeded"]), str(r["calls_failed"]), str(r["calls_in_progress"]), rate[r["day"]],
                      str(r["fallback_answers"])] for r in days]  # fmt: skip
    assert shown[1][:8] == ["2026-11-03", "support_line", "6", "6", "6", "0", "0", "100.0%"]
    assert shown[2][6:8] == ["1", "—"]  # D is still at the menu: in progress, no rate for that day
    chart = volume.get_by_role("img", name="Success rate per day", exact=False)
    assert "2026-11-03 100.0%; 2026-11-20 —" in (chart.get_attribute("aria-label") or "")

    page.get_by_label("Period (call volume)").select_option("hour")
    volume.get_by_role("columnheader", name="Hour (UTC)").wait_for()
    hours = api("GET", "/api/reports/volume?by=hour").json["rows"]
    assert [r.locator("td").first.inner_text() for r in volume.locator("table tbody tr").all()] == \
        [r["hour"][:16].replace("T", " ") for r in hours]  # fmt: skip
    assert "2026-11-03 10:00 5" in (volume.get_by_role("img", name="Calls per hour", exact=False)
                                    .get_attribute("aria-label") or "")  # fmt: skip

    billing = page.get_by_role("region", name="Calls and cost per month")
    months = api("GET", "/api/reports/billing").json["rows"]
    assert billing.locator("table tbody tr").count() == len(months) == 3
    november = next(r for r in months if r["month"].startswith("2026-11"))
    cells = billing.locator("table tbody tr").filter(has_text="2026-11").first.locator("td").all_inner_texts()
    assert cells[:3] == ["2026-11", str(november["calls"]), str(november["calls_not_completed"])]

    queues = page.get_by_role("region", name="Queue service levels")
    first_hour = api("GET", "/api/reports/queues").json["rows"][0]
    assert first_hour["service_level"] is not None
    assert f"{first_hour['service_level'] * 100:.1f}%" in queues.locator("table tbody tr").first.inner_text()
    assert "main@" not in page.locator("main").inner_text()  # tenant B's flow: not this tenant's numbers

    page.get_by_label("Flow (funnel)").select_option("support_line")
    funnel = page.get_by_role("region", name="Per-node funnel: support_line@4")
    funnel.wait_for()
    page.get_by_label("Version (funnel)").select_option("3")
    funnel = page.get_by_role("region", name="Per-node funnel: support_line@3")
    funnel.wait_for()
    expected = api("GET", "/api/reports/funnel/support_line?version=3").json["nodes"]
    shown = [row.locator("td").all_inner_texts()[:5] for row in funnel.locator("table tbody tr").all()]
    assert shown == [[n["node_id"], n["node_type"], str(n["callers"]), str(n["entered"]), str(n["hung_up"])]
                     for n in expected]  # fmt: skip
    assert "Callers reaching each node" in (funnel.get_by_role("img").first.get_attribute("aria-label") or "")
    console.shot("monitoring-with-events")
    console.shot("monitoring-with-events-tablet", tablet=True)
    assert console.unexpected() == []


def test_simulated_calls_show_in_webhook_latency_and_fallback_answers(console: Console) -> None:
    RECORDER.clear()  # the server's recorder: only this test's requests
    sent: dict[str, int] = {}
    for inputs in (["1"], [], ["hangup"]):
        for exchange in console.sim().call(DEMO_NUMBER, inputs=inputs).exchanges:
            function = function_of(exchange.url)
            sent[function] = sent.get(function, 0) + 1
    for _ in range(2):  # Twilio asking the number's Fallback URL: the caller hears the fallback
        answered = console.stack.signed_post("/webhook/voice/fallback", {"CallSid": "CA" + "e" * 32, "To": DEMO_NUMBER,
                                                                         "AccountSid": ACCOUNT_A, "ErrorCode": "11200"})
        assert answered.status_code == 200
    sent["incoming_call"] += 2
    report = console.stack.api("GET", "/api/reports/webhooks").json
    assert {f["function"]: f["requests"] for f in report["functions"]} == sent
    assert sent["flow_step"] >= 3 and sent["incoming_call"] == 3 + 3 + 2  # incoming, status, fallback
    for _ in range(600):  # the calls' events reach the events file in batches, off the webhooks (a busy machine: slow)
        answer = console.stack.api("GET", "/api/reports/volume?by=day")
        days = answer.json["rows"] if answer.status_code == 200 else []  # 503 while a batch holds the file
        if sum(r["calls_started"] for r in days) == 3 and all(r["calls_in_progress"] == 0 for r in days):
            break
        time.sleep(0.1)
    assert [(r["day"], r["calls_started"], r["calls_succeeded"]) for r in days] == [("2026-01-05", 3, 3)]
    page = console.page
    console.sign_in()
    console.goto("monitoring", "Monitoring")

    volume = page.get_by_role("region", name="Call volume and success rate")  # the same calls' events
    assert volume.locator("table tbody tr").first.locator("td").all_inner_texts()[:8] == \
        ["2026-01-05", "support_line", "3", "3", "3", "0", "0", "100.0%"]  # fmt: skip

    latency = page.get_by_role("region", name="Webhook latency")
    assert "every tenant's calls on this platform" in latency.inner_text()
    assert "this server's own recorder" in latency.inner_text()
    shown = {cells[0]: cells for cells in (row.locator("td").all_inner_texts()
                                           for row in latency.locator("table tbody tr").all())}  # fmt: skip
    assert {name: int(cells[1]) for name, cells in shown.items()} == sent
    for row in report["functions"]:
        assert shown[row["function"]][2:4] == [f"{row['p50_ms']:.1f} ms", f"{row['p95_ms']:.1f} ms"]
    p95 = latency.get_by_role("img", name="p95 latency per function", exact=False).get_attribute("aria-label") or ""
    assert all(f"{r['function']} {r['p95_ms']:.1f} ms" in p95 for r in report["functions"])

    fallbacks = page.get_by_role("region", name="Fallback answers")
    [row] = fallbacks.locator("table tbody tr").all()
    minute = report["fallbacks"][0]["minute"][:16].replace("T", " ")
    assert row.locator("td").all_inner_texts() == [minute, "fallback_url", "incoming_call", "2"]
    chart = fallbacks.get_by_role("img", name="Fallback answers per minute", exact=False)
    assert f"{minute[11:]} fallback_url 2" in (chart.get_attribute("aria-label") or "")
    console.shot("monitoring-webhooks")
    console.shot("monitoring-webhooks-tablet", tablet=True)
    assert console.unexpected() == []


def test_monitoring_without_events_says_why_each_panel_is_empty(console: Console) -> None:
    RECORDER.clear()
    page = console.page
    console.sign_in()
    console.goto("monitoring", "Monitoring")
    note = console.stack.api("GET", "/api/reports/billing").json["note"]
    assert note  # the reports API says why it has nothing
    for title in ("Call volume and success rate", "Calls and cost per month", "Queue service levels",
                  "Calls and cost per flow version"):  # fmt: skip
        text = page.get_by_role("region", name=title).inner_text()
        assert f"Nothing to draw yet: {note}" in text, (title, text)
        assert page.get_by_role("region", name=title).locator("svg").count() == 0
    assert "Choose a flow" in page.get_by_role("region", name="Per-node funnel").inner_text()
    latency = page.get_by_role("region", name="Webhook latency").inner_text()
    assert "Nothing to draw yet: no webhook requests in the last 60 minutes" in latency
    assert "No caller heard the fallback in the last 60 minutes" in \
        page.get_by_role("region", name="Fallback answers").inner_text()  # fmt: skip
    console.shot("monitoring-empty")
    assert console.unexpected() == []
