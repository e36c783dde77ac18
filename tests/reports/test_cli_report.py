"""ivr report over the hand-worked events (report_events.py) in a DuckDB file and as JSON lines:
exact tables, the JSON answer, the funnel chart, and what a bad option or a missing file says."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import duckdb
import pytest
from report_events import all_events, insert, scenario

from common import cli
from common.reports import render

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    calls = scenario()
    path = tmp_path / "events.duckdb"
    connection = duckdb.connect(str(path))
    insert(connection, [*all_events(calls), calls["A"].events[-1], calls["G"].events[3]])  # two duplicates
    connection.close()
    return path


@pytest.fixture
def json_lines(tmp_path: Path) -> Path:
    """The same events as JSON lines; half of them carry ``data`` as JSON text, as Pub/Sub messages do."""
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for index, event in enumerate(all_events(scenario())):
            row = {**event, "occurred_at": event["occurred_at"].isoformat().replace("+00:00", "Z")}
            if index % 2 and row["data"] is not None:
                row["data"] = json.dumps(row["data"])
            out.write(json.dumps(row) + "\n")
    return path


def rounded(value: Any) -> Any:
    """Floats to 12 significant digits: DuckDB sums floats in parallel, in no fixed order."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_billing_table(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = report(capsys, "billing", "--month", "2026-11", "--events", str(events_file))
    assert code == 0
    assert out.splitlines() == [
        "tenant  month    calls  open  minutes  steps  http  rec s  transfers  events   platform  twilio voice",
        "------  -------  -----  ----  -------  -----  ----  -----  ---------  ------  ---------  ------------",
        "acme    2026-11      7     1       11     20     1      0          1      40  $0.000097     $0.093500",
        "globex  2026-11      1     0        0      2     0      0          0       2  $0.000010     $0.000000",
    ]


def test_billing_json_is_the_reports_answer(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = report(capsys, "billing", "--month", "2026-11", "--tenant", "acme", "--json",
                          "--events", str(events_file))  # fmt: skip
    body = json.loads(out)
    assert code == 0 and body["report"] == "billing"
    assert body["filters"] == {"month": "2026-11", "tenant": "acme"}
    [row] = body["rows"]
    assert (row["month"], row["calls"], row["billable_minutes"], row["webhook_steps"], row["events"]) == \
        ("2026-11-01", 7, 11, 20, 40)  # fmt: skip
    assert row["twilio_voice_usd"] == pytest.approx(11 * 0.0085)


def test_costs_and_queues(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = report(capsys, "costs", "--month", "2026-11", "--tenant", "acme", "--events", str(events_file))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert lines[2].split()[:8] == ["acme", "2026-11", "support", "3", "6", "11", "20", "38"]
    assert lines[3].split()[:8] == ["acme", "2026-11", "support", "4", "1", "0", "0", "2"]
    code, out, _ = report(capsys, "queues", "--department", "sales", "--date", "2026-11-03",
                          "--events", str(events_file))  # fmt: skip
    rows = [line.split() for line in out.splitlines()[2:]]
    assert code == 0
    assert rows == [["acme", "sales", "2026-11-03T10:00:00Z", "4", "2", "1", "1", "33.3%", "17.5", "23.5", "40.0"],
                    ["acme", "sales", "2026-11-03T11:00:00Z", "1", "1", "0", "0", "100.0%", "5.0", "5.0", "-"]]


def test_funnel_table_and_chart(events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "funnel.svg"
    code, out, err = report(capsys, "funnel", "support", "--version", "3", "--chart", str(chart),
                            "--events", str(events_file))  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and f"funnel chart written to {chart}" in err
    assert lines[0] == "flow support version 3 (versions with events: 3, 4)"
    assert [line.split()[:8] for line in lines[3:]] == [
        ["menu", "gather", "1.0", "3", "4", "3", "1", "1"],
        ["lookup", "http", "2.0", "1", "1", "1", "0", "0"],
        ["voicemail", "record", "2.0", "1", "1", "0", "0", "1"],
        ["transfer_sales", "transfer", "3.0", "1", "1", "0", "0", "1"],
    ]
    assert lines[3].endswith("1:1 2:1 timeout:1")
    root = ET.fromstring(chart.read_text(encoding="utf-8"))
    bars = [(r.get("fill"), float(r.get("width") or 0), (r.findtext(f"{SVG}title") or ""))
            for r in root.iter(f"{SVG}rect") if r.findtext(f"{SVG}title")]  # fmt: skip
    # menu: 3 callers = the full bar, 2 went on and 1 hung up; the others 1 caller each, a third of it.
    went_on, hung_up = render.COLOURS["went on"], render.COLOURS["hung up"]
    assert bars[:2] == [(went_on, pytest.approx(render.BAR_WIDTH * 2 / 3, abs=0.1), "went on: 2"),
                        (hung_up, pytest.approx(render.BAR_WIDTH / 3, abs=0.1), "hung up: 1")]  # fmt: skip
    assert [b[2] for b in bars[2:]] == ["went on: 1", "ended: 1", "ended: 1"]


def test_funnel_defaults_to_the_latest_version_and_html_chart(events_file: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    chart = tmp_path / "funnel.html"
    code, out, _ = report(capsys, "funnel", "support", "--json", "--chart", str(chart), "--events", str(events_file))
    body = json.loads(out)
    assert code == 0 and (body["flow_version"], body["versions"]) == ("4", ["3", "4"])
    assert [(n["node_id"], n["callers"]) for n in body["nodes"]] == [("menu", 1)]
    page = chart.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "default-src 'none'" in page


def test_chart_labels_are_escaped(tmp_path: Path) -> None:
    funnel = {"flow_id": "f<1>", "flow_version": "1", "versions": ["1"], "nodes": [
        {"node_id": "<script>alert(1)</script>", "node_type": "say&", "callers": 2, "hung_up": 1, "ended": 1,
         "outcomes": []}]}  # fmt: skip
    text = render.write_chart(funnel, tmp_path / "x.svg").read_text(encoding="utf-8")
    root = ET.fromstring(text)  # well-formed whatever the labels hold
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert any((t.text or "").startswith("<script>") for t in root.iter(f"{SVG}text"))


def test_json_lines_give_the_same_numbers(events_file: Path, json_lines: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    for name, extra in (("billing", []), ("costs", []), ("funnel", ["support", "--version", "3"]), ("queues", [])):
        _, from_duckdb, _ = report(capsys, name, *extra, "--json", "--events", str(events_file))
        code, from_lines, _ = report(capsys, name, *extra, "--json", "--events", str(json_lines))
        assert code == 0 and rounded(json.loads(from_lines)) == rounded(json.loads(from_duckdb)), name


def test_the_local_file_is_the_default(events_file: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("IVR_EVENTS_DUCKDB", str(events_file))
    code, out, _ = report(capsys, "billing", "--month", "2026-12", "--json")
    assert code == 0 and [r["calls"] for r in json.loads(out)["rows"]] == [1]


@pytest.mark.parametrize("argv, code, message", [
    (["billing", "--month", "2026-13"], 2, "--month: '2026-13' is not a month; write YYYY-MM"),
    (["queues", "--date", "2026-02-30"], 2, "--date: '2026-02-30' is not a date"),
    (["funnel", "support", "--chart", "funnel.png"], 2, "--chart funnel.png: write the chart to a .svg or .html"),
    (["volume", "--chart", "volume.png"], 2, "--chart volume.png: write the chart to a .svg or .html"),
    (["volume", "--since", "2026-11-31"], 2, "--since: '2026-11-31' is not a date"),
    (["volume", "--since", "2026-11-04", "--until", "2026-11-03"], 2, "--until: 2026-11-03 is before since"),
    (["billing", "--events", "{missing}"], 1, "does not exist"),
    (["billing", "--events", "{bad}"], 1, "not call events as JSON lines"),
])  # fmt: skip
def test_bad_options_and_files_say_what_is_wrong(argv: list[str], code: int, message: str, events_file: Path,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_id": "x", "type": "call.started"}\n', encoding="utf-8")
    paths = {"{missing}": str(tmp_path / "nothing.duckdb"), "{bad}": str(bad)}
    argv = [paths.get(a, a) for a in argv]
    if "--events" not in argv:
        argv += ["--events", str(events_file)]
    got, out, err = report(capsys, *argv)
    assert (got, out) == (code, "")
    assert message in err


def test_a_missing_local_file_says_how_events_get_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("IVR_EVENTS_DUCKDB", str(tmp_path / "none.duckdb"))
    code, _, err = report(capsys, "costs")
    assert code == 1 and "ivr run" in err and "IVR_EVENTS_DUCKDB" in err


def test_empty_results_are_said_not_printed_as_a_bare_header(events_file: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, out, err = report(capsys, "billing", "--month", "2025-01", "--events", str(events_file))
    assert (code, out) == (0, "") and "no billing rows for month 2025-01" in err


def test_table_alignment() -> None:
    columns = (render.Column("name", "name", numeric=False), render.Column("n", "count", render._count))
    assert render.table([{"name": "a", "n": 1200}, {"name": "longer", "n": None}], columns).splitlines() == \
        ["name    count", "------  -----", "a       1,200", "longer      -"]  # fmt: skip


def test_volume_table_json_and_chart(events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "volume.svg"
    code, out, err = report(capsys, "volume", "--tenant", "acme", "--since", "2026-11-03", "--until", "2026-11-03",
                            "--chart", str(chart), "--events", str(events_file))  # fmt: skip
    assert code == 0 and f"volume chart written to {chart}" in err
    lines = out.splitlines()
    assert lines[0].split() == ["tenant", "flow", "period", "(UTC)", "started", "completed", "ok", "failed", "open",
                                "success", "guard", "unhandled", "fallback", "fallbacks"]  # fmt: skip
    assert [line.split() for line in lines[2:]] == [
        ["acme", "support", "2026-11-03", "10:00", "5", "5", "5", "0", "0", "100.0%", "0", "0", "0", "0"],
        ["acme", "support", "2026-11-03", "11:00", "1", "1", "1", "0", "0", "100.0%", "0", "0", "0", "0"]]
    root = ET.fromstring(chart.read_text(encoding="utf-8"))
    tips = [t.text for t in root.iter(f"{SVG}title")]
    assert "2026-11-03 10:00 succeeded: 5" in tips and "2026-11-03 11:00 succeeded: 1" in tips

    html = tmp_path / "volume.html"
    code, out, _ = report(capsys, "volume", "--by", "day", "--json", "--chart", str(html), "--events", str(events_file))
    body = json.loads(out)
    assert body["report"] == "volume" and body["filters"] == {"by": "day"}
    assert [(r["tenant_id"], r["day"], r["calls_started"], r["calls_in_progress"]) for r in body["rows"]] == [
        ("acme", "2026-10-31", 1, 0), ("acme", "2026-11-03", 6, 0), ("globex", "2026-11-05", 1, 0),
        ("acme", "2026-11-20", 1, 1), ("acme", "2026-12-01", 1, 0)]  # fmt: skip
    page = html.read_text(encoding="utf-8")
    assert "default-src 'none'" in page and "<script" not in page and "<td>2026-11-20</td>" in page
