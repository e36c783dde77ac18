"""The ``ivr`` command line, run in process through common.cli.main."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flowkit import chain, document, hangup, node, say, start

from common import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SUPPORT = str(EXAMPLES / "support_line.json")
ACCOUNT = str(EXAMPLES / "account_lookup.json")
AFTER_HOURS = str(EXAMPLES / "after_hours_voicemail.json")
ACCOUNT_OK = '{"status": "active", "name": "Ada", "balance": "12"}'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def invalid_flow() -> dict[str, Any]:
    return document([start(), say("hello", "x" * 4097), node("menu2", "menuNode")], chain("start", "hello"))


# --- validate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_validate_valid_examples_exit_0(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0
    assert out == f"{path}: 0 error(s), 0 warning(s)\n"
    assert err == ""


def test_validate_invalid_flow_exits_1_naming_the_nodes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", invalid_flow())
    code, out, _ = run(capsys, "validate", path)
    assert code == 1
    assert f"{path}: error: node 'hello', field 'data.text':" in out
    assert "4096" in out
    assert f"{path}: error: node 'menu2', field 'type': unknown node type 'menuNode'" in out
    assert out.rstrip().endswith("2 error(s), 1 warning(s)")  # the broken node 'hello' has no 'next' edge


def test_validate_warnings_only_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "warn.json", document([start(), say("hello", "Hi"), hangup("island")],
                                                 chain("start", "hello")))  # fmt: skip
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert "warning: node 'island': no path from the start node" in out
    assert "0 error(s), 2 warning(s)" in out


def test_validate_json_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "validate", write(tmp_path, "bad.json", invalid_flow()), "--json")
    assert code == 1
    report = json.loads(out)
    assert [(i["code"], i["node_id"]) for i in report["errors"]] == [("invalid_field", "hello"),
                                                                       ("unknown_node_type", "menu2")]  # fmt: skip
    assert [(i["code"], i["node_id"]) for i in report["warnings"]] == [("unhandled_outcome", "hello")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param('{"id": "f",\n  "nodes": ]\n}', "bad.json:2:12: not valid JSON: Expecting value", id="bad-json"),
        pytest.param("", "bad.json:1:1: not valid JSON", id="empty-file"),
        pytest.param('{"id": "f"} trailing', "bad.json:1:13: not valid JSON: Extra data", id="extra-data"),
    ],
)  # fmt: skip
def test_validate_bad_json_exits_2_with_line_and_column(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        content: str, message: str) -> None:  # fmt: skip
    code, out, err = run(capsys, "validate", write(tmp_path, "bad.json", content))
    assert code == 2
    assert out == ""
    assert err.startswith("ivr: ")
    assert message in err


@pytest.mark.parametrize("name", ["missing.json", "."], ids=["missing", "directory"])
def test_validate_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    code, _, err = run(capsys, "validate", path)
    assert code == 2
    assert f"ivr: cannot read {path}:" in err


def test_usage_errors_from_argparse_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["validate"])
    assert info.value.code == 2
    assert "flow" in capsys.readouterr().err


# --- schema ----------------------------------------------------------------------------------------


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["nodes"]["items"]["discriminator"]["propertyName"] == "type"


def test_schema_writes_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "flow.schema.json"
    code, out, _ = run(capsys, "schema", "-o", str(target))
    assert code == 0
    assert out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "FlowDesigner call flow"


# --- simulate --------------------------------------------------------------------------------------


def test_simulate_json_with_http_mock(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "simulate", ACCOUNT, "--input", "123456#", "--http", f"accounts=200:{ACCOUNT_OK}",
                       "--json")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["path"] == ["start", "ask_account", "lookup", "check_status", "balance", "bye"]
    assert result["variables"] == {"account": "123456", "account_info": json.loads(ACCOUNT_OK)}
    assert result["endReason"] == "hangup_node"
    assert result["problems"] == []
    assert any(line["text"] == "Hello Ada. Your balance is 12 dollars." for line in result["transcript"])


@pytest.mark.parametrize(
    ("args", "path_tail", "variables"),
    [
        pytest.param(["--http", "accounts=200:{\"status\": \"overdue\"}", "-i", "queue:bridged"],
                     ["check_status", "to_billing", "bye"], {"account": "1234567"}, id="overdue"),
        pytest.param(["--http", "accounts=503:down", "-i", "dial:busy"],
                     ["lookup", "systems_down", "to_agent", "agent_unavailable"], {"account": "1234567"},
                     id="http-500"),
        pytest.param([], ["lookup", "systems_down", "to_agent", "bye"], {"account": "1234567"},
                     id="no-mock-fails-and-dial-defaults-to-answered"),
    ],
)  # fmt: skip
def test_simulate_http_outcomes(capsys: pytest.CaptureFixture[str], args: list[str], path_tail: list[str],
                                variables: dict[str, Any]) -> None:  # fmt: skip
    code, out, _ = run(capsys, "simulate", ACCOUNT, "-i", "1234567", *args, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["path"][-len(path_tail) :] == path_tail
    assert {k: v for k, v in result["variables"].items() if k != "account_info"} == variables


def test_simulate_http_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mocks = write(tmp_path, "mocks.json", [{"match": "^https://accounts\\.example\\.com/", "status": 200,
                                            "body": {"status": "active", "name": "Bo", "balance": 3}}])  # fmt: skip
    code, out, _ = run(capsys, "simulate", ACCOUNT, "-i", "654321", "--http-file", mocks, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["variables"]["account_info"] == {"status": "active", "name": "Bo", "balance": 3}
    assert result["path"][-2:] == ["balance", "bye"]


@pytest.mark.parametrize(
    ("schedule", "inputs", "path"),
    [
        pytest.param("business_hours=open", ["queue:bridged"], ["start", "hours", "front_desk", "done"], id="open"),
        pytest.param("business_hours=closed", ["1", "record:https://r.example.com/x:20"],
                     ["start", "hours", "closed", "which", "record", "saved"], id="closed-voicemail"),
        pytest.param("other=open", ["9", "dial:completed"], ["start", "hours", "closed", "which", "emergency", "done"],
                     id="unknown-schedule-is-closed"),
    ],
)  # fmt: skip
def test_simulate_schedule(capsys: pytest.CaptureFixture[str], schedule: str, inputs: list[str],
                           path: list[str]) -> None:  # fmt: skip
    argv = ["simulate", AFTER_HOURS, "--schedule", schedule, *[f"--input={i}" for i in inputs], "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert json.loads(out)["path"] == path


def test_simulate_text_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "simulate", SUPPORT, "-i", "speech:Sales, please.", "-i", "queue:leave",
                       "-i", "record:none", "--caller", "+14155550199")  # fmt: skip
    assert code == 0
    assert 'CALLER: says "Sales, please."' in out
    assert "path: start -> greeting -> menu -> route -> to_sales -> voicemail -> no_message" in out
    assert "variables: {'department': 'sales'}" in out
    assert "ended: hangup_node" in out


def test_simulate_invalid_flow_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "simulate", write(tmp_path, "bad.json", invalid_flow()))
    assert code == 1
    assert out == ""
    assert "node 'menu2'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["-i", "bogus:item"], "ivr: cannot read input 'bogus:item': use digits", id="bad-input"),
        pytest.param(["-i", "dial:busy"], "input 'dial:busy' does not fit: the call waits for the caller at "
                     "node 'menu'", id="input-does-not-fit"),
        pytest.param(["--schedule", "hours=maybe"], "--schedule 'hours=maybe': write NAME=open or NAME=closed",
                     id="bad-schedule"),
        pytest.param(["--http", "nothing"], "--http 'nothing': write URL_PART=STATUS[:BODY]", id="bad-http"),
        pytest.param(["--now", "yesterday"], "--now 'yesterday' is not an ISO date-time", id="bad-now"),
    ],
)  # fmt: skip
def test_simulate_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, "simulate", SUPPORT, *args)
    assert code == 2
    assert out == ""
    assert message in err


# --- demo ------------------------------------------------------------------------------------------


def test_demo_prints_a_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    for line in ("Thanks for calling Acme.", "Sorry, I didn't hear anything.", "Support, please.",
                 "Connecting you to support.", "Thanks for calling Acme. Goodbye."):  # fmt: skip
        assert line in out
    assert out.index("Sorry, I didn't hear anything.") < out.index("Connecting you to support.")
    # the demo's support department rings its agent, who hears the whisper and accepts
    assert "AGENT hears: Call for Support" in out and "AGENT presses 1" in out
    assert out.index("Connecting you to support.") < out.index("AGENT presses 1") < out.index("Goodbye.")


# --- a reader that stops early: no traceback ---------------------------------------------------------

ROOT = EXAMPLES.parent


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        pytest.param(["schema"], cli.SIGPIPE_EXIT, id="schema"),
        pytest.param(["simulate", SUPPORT, "-i", "1"], cli.SIGPIPE_EXIT, id="simulate"),
        pytest.param(["simulate", SUPPORT, "-i", "1", "--json"], cli.SIGPIPE_EXIT, id="simulate-json"),
        pytest.param(["validate", SUPPORT, ACCOUNT], cli.SIGPIPE_EXIT, id="validate"),
        # argparse itself drops a failed write of help and version text and exits 0
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["--version"], 0, id="version"),
        pytest.param(["call", "--help"], 0, id="call-help"),
    ],
)  # fmt: skip
def test_a_closed_pipe_ends_quietly(argv: list[str], status: int) -> None:
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a byte, like `| head` that has had enough
    try:
        proc = subprocess.run([sys.executable, "-m", "common.cli", *argv], stdout=write_end, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=60, text=True, check=False)  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored" at exit
    assert proc.returncode == status


@pytest.mark.parametrize("argv", [["schema"], ["simulate", str(EXAMPLES / "support_line.json"), "-i", "1"]])
def test_an_unwritable_output_is_said_plainly(argv: list[str]) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:  # every write fails with ENOSPC, like a full disk
        proc = subprocess.run([sys.executable, "-m", "common.cli", *argv], stdout=full, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=60, text=True, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot write the output: No space left on device" in proc.stderr


def test_no_standard_output_is_no_traceback() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "common.cli", "schema"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, cwd=ROOT, timeout=60, text=True, check=False,
                          preexec_fn=lambda: __import__("os").close(1))  # fmt: skip
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0


def test_a_stack_url_without_scheme_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("IVR_API_URL", "127.0.0.1:18731")
    assert cli.main(["health"]) == 2
    assert "has no scheme; write it like http://127.0.0.1:8080" in capsys.readouterr().err


# --- version, several files, help ---------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"ivr {version('ivr-flows')}\n"


def test_validate_several_files_prints_a_line_per_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", invalid_flow())
    code, out, err = run(capsys, "validate", SUPPORT, bad, ACCOUNT)
    assert (code, err) == (1, "")
    totals = [line for line in out.splitlines() if line.endswith("warning(s)")]
    assert totals == [f"{SUPPORT}: 0 error(s), 0 warning(s)", f"{bad}: 2 error(s), 1 warning(s)",
                      f"{ACCOUNT}: 0 error(s), 0 warning(s)"]  # fmt: skip
    assert code == 1


def test_validate_several_valid_files_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", SUPPORT, ACCOUNT, AFTER_HOURS)
    assert code == 0
    assert len(out.splitlines()) == 3


def test_validate_several_files_with_an_unreadable_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    code, out, err = run(capsys, "validate", missing, SUPPORT)
    assert code == 2
    assert out == f"{SUPPORT}: 0 error(s), 0 warning(s)\n"  # the readable file is still checked
    assert f"ivr: cannot read {missing}" in err


def test_validate_several_files_json_is_keyed_by_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", invalid_flow())
    code, out, _ = run(capsys, "validate", SUPPORT, bad, "--json")
    assert code == 1
    reports = json.loads(out)
    assert list(reports) == [SUPPORT, bad]
    assert reports[SUPPORT]["errors"] == [] and len(reports[bad]["errors"]) == 2


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def _commands() -> list[str]:
    import argparse

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_every_command_is_listed() -> None:
    assert set(_commands()) >= {"validate", "schema", "simulate", "run", "call", "demo", "push", "publish",
                                "versions", "deploy", "promote", "rollback", "diff", "history", "schedules",
                                "flows", "numbers", "keys", "tenants", "health"}  # fmt: skip


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_examples_in_its_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = _help(capsys, command)
    assert "example" in text
    assert f"ivr {command}" in text.split("example", 1)[1]


@pytest.mark.parametrize("command", ["simulate", "call"])
def test_the_input_grammar_is_in_the_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = _help(capsys, command)
    for item in ("speech:TEXT", "silence", "hangup", "dial:STATUS", "queue:RESULT", "record:URL", "1234#"):
        assert item in text


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["simulate"], ["(default: 2026-01-05T15:00:00+00:00)", "(default: +15005550006)", "(default: +13072249663)"]),
        (["call"], ["$IVR_API_URL, else http://127.0.0.1:$PORT, else :8080", "(default: +15005550006)",
                    "$TWILIO_AUTH_TOKEN"]),
        (["run"], ["(default: memory)", "$PORT, else 8080", "SIGTERM"]),
        (["deploy"], ["(default: production)", "$IVR_API_KEY"]),
        (["promote"], ["(default: staging)", "(default: production)"]),
    ],
)  # fmt: skip
def test_help_shows_defaults(capsys: pytest.CaptureFixture[str], argv: list[str], shown: list[str]) -> None:
    text = " ".join(_help(capsys, *argv).split())  # argparse wraps lines
    for phrase in shown:
        assert " ".join(phrase.split()) in text


def test_help_never_shows_a_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_API_KEY", "ivr_secret_key_value")
    monkeypatch.setenv("IVR_PLATFORM_ADMIN_KEY", "platform_secret_value")
    for command in ("push", "flows", "tenants", "keys"):
        text = _help(capsys, command)
        assert "secret" not in text


# --- unused scripted inputs -------------------------------------------------------------------------------


def test_simulate_warns_about_unused_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", SUPPORT, "-i", "speech:Sales, please.", "-i", "queue:bridged",
                         "-i", "7", "-i", "speech:extra")  # fmt: skip
    assert code == 0
    assert "ended: " in out
    assert err == "ivr: warning: 2 scripted input(s) not used, the call ended first: 7 speech:extra\n"


def test_simulate_without_unused_inputs_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "simulate", SUPPORT, "-i", "speech:Sales, please.", "-i", "queue:bridged")
    assert (code, err) == (0, "")


def test_simulate_json_lists_unused_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "simulate", SUPPORT, "-i", "speech:Sales, please.", "-i", "queue:bridged", "-i", "9",
                       "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["unusedInputs"] == ["9"]


@pytest.fixture
def local_stack() -> Any:
    from common import bootstrap
    from common.cli_stack import free_port, start_stack

    port = free_port()
    _, server = start_stack(port, "memory", quiet=True)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    bootstrap.install(None)


def test_call_warns_about_unused_inputs(capsys: pytest.CaptureFixture[str], local_stack: str) -> None:
    code, out, err = run(capsys, "call", "+13072249663", "-i", "speech:Sales, please.", "-i", "agent:answer",
                         "-i", "5", "--url", local_stack)  # fmt: skip
    assert code == 0
    assert "webhooks, call CA" in out
    err = "".join(line for line in err.splitlines(keepends=True) if " ivr.request " not in line)  # request logs
    assert err == "ivr: warning: 1 scripted input(s) not used, the call ended first: 5\n"


def test_push_of_an_invalid_flow_to_a_real_stack_prints_each_problem(
        capsys: pytest.CaptureFixture[str], local_stack: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("IVR_API_KEY", raising=False)  # the stack was seeded with the dev key
    doc = json.loads(Path(SUPPORT).read_text(encoding="utf-8"))
    menu = next(n for n in doc["nodes"] if n["id"] == "menu")
    menu["data"]["timeout"] = 90
    doc["settings"] = {**doc.get("settings", {}), "timezone": "Mars/Olympus"}
    code, out, err = run(capsys, "push", write(tmp_path, "bad.json", doc), "--url", local_stack)
    assert (code, out) == (1, "")
    lines = [line for line in err.splitlines() if " ivr.request " not in line]  # the in-process stack's request logs
    assert lines[0] == "ivr: HTTP 422 flow_invalid: 2 error(s); the flow was not saved"
    assert "  - error: node 'menu', field 'data.timeout': timeout is 90; use 1 to 60 seconds" in lines
    assert any(line.startswith("  - error: field 'settings.timezone': unknown time zone 'Mars/Olympus'")
               for line in lines)  # fmt: skip
    assert not any(line in ("  - errors", "  - warnings") for line in lines)  # the keys of the report
