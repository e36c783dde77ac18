"""The import report (every widget, every warning, properties without effect) and ivr import studio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from studiokit import FIXTURES, definition, imported, widget

from common import cli
from common.core.studio import StudioImportError, import_studio


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mixed() -> dict[str, Any]:
    return definition(
        widget("menu", "gather-input-on-call", [("keypress", "hello"), ("speech", "hello"), ("timeout", None)],
               say="Press a key", profanity_filter="false", loop="2"),
        widget("hello", "say-play", [("audioComplete", "sms")], say="Hello", digits="1234"),
        widget("sms", "send-and-wait-for-reply", [("incomingMessage", None)], body="Reply YES"),
        widget("orphan", "say-play", [], say="Nobody reaches me"),
    )  # fmt: skip


def test_the_report_lists_every_widget_with_what_it_became() -> None:
    report = imported(mixed()).report
    assert [(w["widget"], w["type"]) for w in report["widgets"]] == [
        ("Trigger", "trigger"), ("menu", "gather-input-on-call"), ("hello", "say-play"),
        ("sms", "send-and-wait-for-reply"), ("orphan", "say-play")]
    became = {w["widget"]: (w["became"], w["nodes"]) for w in report["widgets"]}
    assert became["Trigger"] == ("startNode (incomingCall)", ["Trigger"])
    assert became["menu"] == ("collectNode (keys and speech, one attempt)", ["menu"])
    assert became["sms"] == ("hangupNode: the call ends here", ["sms"])
    assert became["orphan"] == ("not imported: no call reaches it from incomingCall", [])


def test_the_report_lists_every_property_without_effect_and_every_warning() -> None:
    report = imported(mixed()).report
    no_effect = {(w["widget"], w["property"]) for w in report["warnings"] if w["code"] == "no_effect"}
    assert no_effect == {("menu", "profanity_filter"), ("menu", "loop"), ("hello", "digits")}
    assert ("sms", "not_voice") in {(w["widget"], w["code"]) for w in report["warnings"]}
    for finding in report["warnings"]:
        assert set(finding) == {"severity", "code", "widget", "type", "property", "message"}
        assert finding["message"]
    assert report["ok"] is True and report["validation"]["errors"] == []


@pytest.mark.parametrize("document", [[], "text", 3, {}, {"states": "x"}, {"definition": "{not json"},
                                      {"definition": 5}, {"states": []},
                                      {"states": [{"name": "a", "type": "say-play"}]}])  # fmt: skip
def test_what_is_not_a_studio_flow_is_a_clear_error(document: Any) -> None:
    with pytest.raises(StudioImportError) as caught:
        import_studio(document)
    assert str(caught.value)


def test_the_rest_resource_and_its_definition_as_text_import_alike() -> None:
    bare = mixed()
    wrapped = {"sid": "FW0123", "friendly_name": "Support line", "definition": json.dumps(bare)}
    one, other = import_studio(bare), import_studio(wrapped)
    assert one.flow["nodes"] == other.flow["nodes"] and one.flow["edges"] == other.flow["edges"]
    assert other.flow["name"] == "Support line" and other.flow["id"] == "Support_line"


def test_cli_writes_the_flow_and_prints_the_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "studio.json"
    source.write_text(json.dumps(mixed()), encoding="utf-8")
    out_path = tmp_path / "flow.json"
    code, out, _ = run_cli(capsys, "import", "studio", str(source), "-o", str(out_path))
    assert code == 0
    flow = json.loads(out_path.read_text(encoding="utf-8"))
    assert {n["id"] for n in flow["nodes"]} >= {"Trigger", "menu", "hello", "sms"}
    assert f"{source}: menu (gather-input-on-call): collectNode (keys and speech, one attempt) -> menu" in out
    assert f"{source}: warning: menu [profanity_filter]: no_effect:" in out
    assert out.rstrip().endswith(f"flow 'Test_flow' validates; {len(imported(mixed()).report['warnings'])} warning(s)")
    assert code == 0 and run_cli(capsys, "validate", str(out_path))[0] == 0


def test_cli_strict_fails_on_warnings_and_passes_without(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps(mixed()), encoding="utf-8")
    assert run_cli(capsys, "import", "studio", str(noisy), "--strict", "-o", str(tmp_path / "a.json"))[0] == 1
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps(definition(widget("hi", "say-play", [], say="Hi"))), encoding="utf-8")
    assert run_cli(capsys, "import", "studio", str(clean), "--strict", "-o", str(tmp_path / "b.json"))[0] == 0
    schedule = str(FIXTURES / "flex_schedule_flow.json")
    assert run_cli(capsys, "import", "studio", schedule, "--strict", "-o", str(tmp_path / "c.json"))[0] == 1
    code, _, _ = run_cli(capsys, "import", "studio", schedule, "--strict", "--set", "SCHEDULE_MANAGER_DOMAIN=x.example",
                         "-o", str(tmp_path / "d.json"))  # fmt: skip
    assert code == 0


def test_cli_json_output_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "studio.json"
    source.write_text(json.dumps(mixed()), encoding="utf-8")
    code, out, _ = run_cli(capsys, "import", "studio", str(source), "--json")
    parsed = json.loads(out)
    assert code == 0 and parsed["report"]["ok"] is True and parsed["flow"]["id"] == "Test_flow"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": []}), encoding="utf-8")
    code, _, err = run_cli(capsys, "import", "studio", str(bad))
    assert code == 2 and "not a Studio flow (states)" in err
    code, _, err = run_cli(capsys, "import", "studio", str(source), "--set", "NOEQUALS")
    assert code == 2 and "--set 'NOEQUALS': write NAME=VALUE" in err


def test_cli_department_mapping(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "import", "studio", str(FIXTURES / "flex_voice_flow.json"), "--json",
                           "--set", "WORKFLOW_SID=WW1", "--department", "WW1=support", "--departments", "support")
    parsed = json.loads(out)
    target = next(n for n in parsed["flow"]["nodes"] if n["id"] == "SendCallToAgent")["data"]["target"]
    assert code == 0 and target["department"] == "support" and parsed["report"]["warnings"] == []


def test_cli_inlines_a_subflow_given_by_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from test_widgets_more import SUBFLOW, parent

    main, sub = tmp_path / "main.json", tmp_path / "sub.json"
    main.write_text(json.dumps(parent()), encoding="utf-8")
    sub.write_text(json.dumps(SUBFLOW), encoding="utf-8")
    code, out, _ = run_cli(capsys, "import", "studio", str(main), "--subflow", f"FW0123={sub}", "--json", "--strict")
    parsed = json.loads(out)
    assert code == 0 and "verify__ask" in {n["id"] for n in parsed["flow"]["nodes"]}
    code, _, err = run_cli(capsys, "import", "studio", str(main), "--subflow", f"FW0123={tmp_path / 'none.json'}")
    assert code == 2 and "none.json" in err
