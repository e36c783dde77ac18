"""Structural tests of cloudbuild.yaml: test -> stage -> terraform plan (-> apply on _APPLY=true only)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hcl_tree import ROOT

# --------------------------------------------------------------------------------------------------
# cloudbuild.yaml
# --------------------------------------------------------------------------------------------------


class _MiniYaml:
    """Just enough YAML for cloudbuild.yaml (PyYAML is not a dependency of the project): block
    mappings and sequences, `|`/`|-` block scalars, quoted and plain scalars, flow sequences of
    scalars, and comments."""

    _KEY = re.compile(r"^([^\s#'\"\-][^:]*?|\"[^\"]*\"|'[^']*'):(?:\s+(.*))?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.i = 0

    @staticmethod
    def _indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    def _skip(self) -> None:
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                return
            self.i += 1

    @staticmethod
    def _strip_comment(text: str) -> str:
        quote = None
        for pos, char in enumerate(text):
            if quote:
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "#" and (pos == 0 or text[pos - 1] in " \t"):
                return text[:pos].rstrip()
        return text.rstrip()

    @classmethod
    def _scalar(cls, text: str) -> Any:
        text = cls._strip_comment(text).strip()
        if text.startswith('"'):
            return json.loads(text)
        if text.startswith("'"):
            return text[1:-1].replace("''", "'")
        if text.startswith("["):
            inner = text[1:-1].strip()
            return [cls._scalar(part) for part in inner.split(",")] if inner else []
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        if text in ("null", "~", ""):
            return None
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return text

    def parse(self) -> Any:
        self._skip()
        if self.i >= len(self.lines):
            return None
        result = self._node(self._indent(self.lines[self.i]))
        self._skip()
        if self.i < len(self.lines):
            raise ValueError(f"unexpected content at line {self.i + 1}: {self.lines[self.i]!r}")
        return result

    def _node(self, indent: int) -> Any:
        content = self.lines[self.i].strip()
        if content == "-" or content.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return result
            line = self.lines[self.i]
            current = self._indent(line)
            content = line.strip()
            if current < indent or content.startswith("- "):
                return result
            if current > indent:
                raise ValueError(f"bad indentation at line {self.i + 1}: {line!r}")
            match = self._KEY.match(self._strip_comment(content))
            if not match:
                raise ValueError(f"expected `key: value` at line {self.i + 1}: {line!r}")
            key = self._scalar(match.group(1))
            if key in result:
                raise ValueError(f"duplicate key {key!r} at line {self.i + 1}")
            self.i += 1
            result[key] = self._value(match.group(2) or "", indent)

    def _value(self, rest: str, indent: int) -> Any:
        rest = self._strip_comment(rest)
        if rest in ("|", "|-"):
            return self._block_scalar(indent, keep_newline=rest == "|")
        if rest:
            return self._scalar(rest)
        self._skip()
        if self.i >= len(self.lines):
            return None
        nxt = self.lines[self.i]
        nxt_indent = self._indent(nxt)
        if nxt_indent > indent:
            return self._node(nxt_indent)
        if nxt_indent == indent and nxt.strip().startswith("- "):
            return self._sequence(indent)
        return None

    def _block_scalar(self, indent: int, keep_newline: bool) -> str:
        body: list[str] = []
        block_indent = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip():
                current = self._indent(line)
                if current <= indent:
                    break
                if block_indent is None:
                    block_indent = current
                if current < block_indent:
                    raise ValueError(f"bad block scalar indentation at line {self.i + 1}")
                body.append(line[block_indent:])
            else:
                body.append("")
            self.i += 1
        while body and not body[-1]:
            body.pop()
        text = "\n".join(body)
        return text + "\n" if keep_newline and text else text

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return items
            line = self.lines[self.i]
            content = line.strip()
            if self._indent(line) != indent or not (content == "-" or content.startswith("- ")):
                return items
            after = content[1:].lstrip()
            item_indent = indent + (len(content) - len(after))
            if not after:
                self.i += 1
                self._skip()
                items.append(self._node(self._indent(self.lines[self.i])))
            elif self._KEY.match(self._strip_comment(after)):
                # `- key: value` opens a mapping whose keys are aligned with `key`.
                self.lines[self.i] = " " * item_indent + after
                items.append(self._mapping(item_indent))
            else:
                self.i += 1
                items.append(self._scalar(after))


@cache
def cloudbuild() -> dict[str, Any]:
    text = (ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    parsed = _MiniYaml(text).parse()
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load(text) == parsed, "the minimal YAML reader disagrees with PyYAML"
    assert isinstance(parsed, dict)
    return parsed


def _step_text(step: dict[str, Any]) -> str:
    parts = [step.get("script") or "", step.get("entrypoint") or ""]
    parts.extend(str(a) for a in step.get("args") or [])
    return "\n".join(parts)


def _step_index(predicate: Callable[[dict[str, Any]], bool]) -> int:
    steps = cloudbuild()["steps"]
    matches = [i for i, step in enumerate(steps) if predicate(step)]
    assert matches, "step not found"
    return matches[0]


def test_mini_yaml_reader() -> None:
    sample = (
        "# comment\n"
        "a: 1\n"
        "b: 'x # not a comment'\n"
        "c:\n"
        "  - id: one\n"
        '    args: ["-c", x]\n'
        "    script: |\n"
        "      echo hi  # kept\n"
        "\n"
        "      echo bye\n"
        "  - plain\n"
        'd: ""\n'
        "e: false  # trailing\n"
    )
    assert _MiniYaml(sample).parse() == {
        "a": 1,
        "b": "x # not a comment",
        "c": [{"id": "one", "args": ["-c", "x"], "script": "echo hi  # kept\n\necho bye\n"}, "plain"],
        "d": "",
        "e": False,
    }
    with pytest.raises(ValueError):
        _MiniYaml("a: 1\n   b: 2\n").parse()


def test_cloudbuild_substitutions() -> None:
    config = cloudbuild()
    subs = config["substitutions"]
    assert {"_ENV", "_REGION", "_TF_STATE_BUCKET", "_DOMAIN", "_APPLY"} <= set(subs)
    assert subs["_APPLY"] == "false", "apply must be opt-in (main branch trigger only)"
    assert config["options"]["automapSubstitutions"] is True, "scripts read substitutions from the environment"


def test_cloudbuild_steps_in_order() -> None:
    steps = cloudbuild()["steps"]
    assert all(isinstance(s, dict) and s.get("name") and s.get("id") for s in steps)

    test = _step_index(lambda s: "make test" in _step_text(s))
    stage = _step_index(lambda s: "tools/stage_functions.py build" in _step_text(s))
    init = _step_index(lambda s: "terraform init" in _step_text(s))
    plan = _step_index(lambda s: "terraform plan" in _step_text(s))
    apply = _step_index(lambda s: "terraform apply" in _step_text(s))
    assert test < stage < init <= plan <= apply

    assert "3.11" in steps[test]["name"], "tests run on the Python version of pyproject.toml"
    assert "openjdk" in steps[test]["script"], "the Firestore emulator needs Java"
    assert "firestore-emulator" in steps[test]["script"]


def test_cloudbuild_terraform_inputs_and_apply_guard() -> None:
    steps = cloudbuild()["steps"]
    init_text = _step_text(steps[_step_index(lambda s: "terraform init" in _step_text(s))])
    assert 'cd "terraform/environments/${_ENV}"' in init_text
    assert '-backend-config="bucket=${_TF_STATE_BUCKET}"' in init_text

    plan_text = _step_text(steps[_step_index(lambda s: "terraform plan" in _step_text(s))])
    for var in (
        "project_id=${PROJECT_ID}",
        "region=${_REGION}",
        "domain=${_DOMAIN}",
        "twilio_account_sid=${_TWILIO_ACCOUNT_SID}",
        "source_dir=/workspace/build",
    ):
        assert f'-var="{var}"' in plan_text, f"plan does not pass {var}"
    assert "-out=tfplan" in plan_text

    apply_text = _step_text(steps[_step_index(lambda s: "terraform apply" in _step_text(s))])
    guard = apply_text.find('if [ "${_APPLY}" != "true" ]')
    assert guard != -1, "apply must be guarded by _APPLY"
    assert guard < apply_text.find("terraform apply"), "the _APPLY guard must come before apply"
    assert "terraform apply -input=false -lock-timeout=300s tfplan" in apply_text, "apply the reviewed plan"
