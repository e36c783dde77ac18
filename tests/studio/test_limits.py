"""Studio's 2,000 widgets against a flow's 2,000 nodes: the import refuses a flow that would not fit,
with the count and what to do, on the command line and over the API; one that fits imports whole. And
the wording of a skipped widget's warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from studiokit import codes, definition, imported, widget

from common import cli
from common.core import validation
from common.core.studio import FlowTooLarge, StudioImportError


def chain(count: int) -> dict[str, Any]:
    """``count`` say-play widgets in a row; the last one ends the execution (the shared end node)."""
    return definition(*[widget(f"w{i}", "say-play", [("audioComplete", f"w{i + 1}" if i + 1 < count else None)],
                               say=f"Line {i}") for i in range(count)])  # fmt: skip


def test_a_flow_that_fits_in_the_node_limit_imports_whole() -> None:
    result = imported(chain(validation.MAX_NODES - 2))  # + the start node and the shared end
    assert result.ok and len(result.flow["nodes"]) == validation.MAX_NODES


def test_two_thousand_widgets_do_not_fit_and_the_import_says_so() -> None:
    with pytest.raises(FlowTooLarge) as caught:
        imported(chain(1_999))  # with the trigger: 2,000 widgets, Studio's limit
    assert isinstance(caught.value, StudioImportError) and caught.value.field == "states"
    assert "would need 2,001 nodes for its 2,000 widget(s)" in str(caught.value)
    assert "a flow has at most 2,000" in str(caught.value)


def test_the_cli_refuses_a_flow_too_large_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "big.json"
    source.write_text(json.dumps(chain(1_999)), encoding="utf-8")
    code = cli.main(["import", "studio", str(source), "-o", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 2 and "big.json: too large to import: the flow would need 2,001 nodes" in err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(("transitions", "then"), [
    ([], "; the call ends here"),
    ([("done", "bye")], "; the call goes on as after 'done'"),
])  # fmt: skip
def test_a_skipped_widget_says_plainly_where_the_call_goes(transitions: list[tuple[str, str]], then: str) -> None:
    result = imported(definition(widget("hologram", "project-hologram", transitions),
                                 widget("bye", "say-play", [], say="Bye")))  # fmt: skip
    assert ("hologram", "unknown_widget_type") in codes(result)
    message = next(w["message"] for w in result.report["warnings"] if w["code"] == "unknown_widget_type")
    assert message.endswith(then) and "the call the" not in message
    entry = next(w for w in result.report["widgets"] if w["widget"] == "hologram")
    assert entry["became"] == f"setVariablesNode (skipped, {then.split('call ', 1)[1]})"
