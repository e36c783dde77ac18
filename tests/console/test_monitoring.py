"""The monitoring page draws the reports API's numbers, and only those: with hand-worked call events
(tests/reports/report_events.py, the reports' own fixture) its tables and charts say what the API says;
without events every panel says why it is empty; the measures no report serves say so."""

from __future__ import annotations

from pathlib import Path

from consolekit import Console, write_events


def test_monitoring_draws_the_reports_numbers(console: Console, events_file: Path) -> None:
    write_events(events_file)
    api = console.stack.api
    billing = {r["month"][:7]: r for r in api("GET", "/api/reports/billing").json["rows"]}
    november = billing["2026-11"]
    rate = f"{(november['calls'] - november['calls_not_completed']) / november['calls'] * 100:.1f}%"
    page = console.page
    console.sign_in()
    console.goto("monitoring", "Monitoring")

    volume = page.get_by_role("region", name="Call volume and success rate")
    rows = volume.locator("table tbody tr")
    assert rows.count() == len(billing) == 3
    cells = rows.filter(has_text="2026-11").first.locator("td").all_inner_texts()
    assert cells[:4] == ["2026-11", str(november["calls"]), str(november["calls_not_completed"]), rate]
    chart = volume.get_by_role("img", name="Success rate per month", exact=False)
    assert f"2026-11 {rate}" in (chart.get_attribute("aria-label") or "")

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
    for title in ("Webhook latency", "Fallback answers"):
        assert "No report serves" in page.get_by_role("region", name=title).inner_text()
    console.shot("monitoring-with-events")
    console.shot("monitoring-with-events-tablet", tablet=True)
    assert console.unexpected() == []


def test_monitoring_without_events_says_why_each_panel_is_empty(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("monitoring", "Monitoring")
    note = console.stack.api("GET", "/api/reports/billing").json["note"]
    assert note  # the reports API says why it has nothing
    for title in ("Call volume and success rate", "Queue service levels", "Calls and cost per flow version"):
        text = page.get_by_role("region", name=title).inner_text()
        assert f"Nothing to draw yet: {note}" in text, (title, text)
        assert page.get_by_role("region", name=title).locator("svg").count() == 0
    assert "Choose a flow" in page.get_by_role("region", name="Per-node funnel").inner_text()
    assert console.unexpected() == []
