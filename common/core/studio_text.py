"""Reading a Studio export as it really is: loose values, two spellings, Liquid written by hand.

Rules owned here:
- A property is read under every spelling real exports use (``wait_url`` and ``waitUrl``); when
  two spellings are present with different values, the snake_case one wins and a finding says so.
- Numbers and booleans arrive as numbers or as text (``"3600"``, ``"true"``, ``" 5 "``); both read
  the same. A number outside what the imported field accepts is clamped to the nearest bound, and a
  value that is no number at all takes the field's default: both are findings, never failures.
- ``${NAME}`` placeholders (files managed by Terraform) are replaced by the values given for them;
  a placeholder left without a value stays in the text and is a finding.
- Liquid is rewritten into the names our templates read, inside ``{{ }}`` and ``{% %}`` only and
  never inside quoted strings: spaces around the dots of a path are removed (``widgets. menu
  .Digits``), Studio's contact and channel names become the call's (``contact.channel.address`` is
  the caller, ``flow.channel.address`` the dialled number, ``flow.flow_sid`` the flow's id), and
  widget and variable names that had to change to become node ids or variable names are renamed.
- A text whose markup does not parse is kept without its markup (what a caller of the stored
  version would hear) and is a finding, so the imported flow still validates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from common.core import templating

Finder = Callable[[str, str], None]  # (code, message) for the widget being read

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MARKUP = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_QUOTED = re.compile(r"(\"[^\"]*\"|'[^']*')")
_DOT_SPACES = re.compile(r"(?<=[\w\]])\s*\.\s*(?=[A-Za-z_\[])")
#: Studio's names for the call's parties and the flow, as our templates spell them
_ALIASES = (
    (re.compile(r"\bcontact\.channel\.address\b"), "trigger.call.From"),
    (re.compile(r"\bflow\.channel\.address\b"), "trigger.call.To"),
    (re.compile(r"\bflow\.flow_sid\b"), "flow.id"),
)
#: what a voice call never has: a finding when a text reads it
_NOT_ON_A_CALL = re.compile(r"\b(trigger\.(message|request|conversation|parent)|contact\.channel\.(?!address)\w+"
                            r"|flow\.sid)\b")  # fmt: skip


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def prop(props: Mapping[str, Any], name: str, find: Finder | None = None) -> Any:
    """``props[name]`` under its snake_case or camelCase spelling (``name`` is snake_case)."""
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    spellings = [s for s in dict.fromkeys((name, camel)) if s in props]
    if len(spellings) == 2 and props[spellings[0]] != props[spellings[1]] and find is not None:
        find("conflicting_spellings", f"'{spellings[0]}' and '{spellings[1]}' differ; '{spellings[0]}' is used")
    return props[spellings[0]] if spellings else None


def as_int(value: Any, name: str, default: int | None, low: int, high: int, find: Finder) -> int | None:
    """An integer from a number or numeric text, clamped to ``low..high``; ``default`` when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        find("invalid_value", f"{name} is {value!r}, not a number; "
             + (f"the default {default} is used" if default is not None else "it is left out"))  # fmt: skip
        return default
    whole = round(number)
    if whole < low or whole > high:
        clamped = min(max(whole, low), high)
        find("clamped", f"{name} is {whole}; this flow format takes {low} to {high}, so {clamped} is used")
        return clamped
    return whole


def as_bool(value: Any, name: str, default: bool, find: Finder) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    find("invalid_value", f"{name} is {value!r}, not true or false; {str(default).lower()} is used")
    return default


def as_text(value: Any) -> str:
    """Text from any JSON value: numbers and booleans as Studio writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    import json

    return json.dumps(value, sort_keys=True)


class Rewriter:
    """Rewrites one flow's texts: placeholders filled, Liquid paths in our names."""

    def __init__(self, placeholders: Mapping[str, str], widgets: Mapping[str, str], variables: Mapping[str, str],
                 json_answers: set[str], aliases: tuple[tuple[re.Pattern[str], str], ...] = ()) -> None:  # fmt: skip
        self.aliases = aliases  # more of Studio's names, as this flow spells them (a subflow's parameters)
        self.placeholders = placeholders
        self.widgets = {name: node_id for name, node_id in widgets.items() if name != node_id}
        self.variables = {key: name for key, name in variables.items() if key != name}
        self.json_answers = json_answers  # widgets whose answer is kept parsed (HTTP, Functions)
        self.unfilled: set[str] = set()

    def fill(self, text: str, find: Finder) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.placeholders:
                return self.placeholders[name]
            if name not in self.unfilled:
                find("placeholder", f"'${{{name}}}' is a placeholder nobody filled in; give its value "
                     f"(ivr import studio --set {name}=VALUE)")  # fmt: skip
            return match.group(0)

        return _PLACEHOLDER.sub(replace, text)

    def text(self, value: Any, find: Finder, field: str = "") -> str:
        """``value`` as a template this project renders, with findings for what it cannot."""
        source = self.fill(as_text(value), find)
        if not templating.is_template(source):
            return source
        rewritten = _MARKUP.sub(lambda m: self._markup(m.group(0), find), source)
        broken = templating.problem(rewritten)
        if broken is not None:
            where = f" in {field}" if field else ""
            find("invalid_template", f"the Liquid{where} does not parse ({broken}); it is kept without its "
                 "{{ }} and {% %} parts")  # fmt: skip
            return templating.without_markup(rewritten)
        return rewritten

    def _markup(self, block: str, find: Finder) -> str:
        # Bracketed names (``widgets["Main Menu"]``) hold their name in quotes: renamed before the
        # quoted strings are set apart, so that text in quotes is otherwise never touched.
        for name, node_id in self.widgets.items():
            block = re.sub(rf"\bwidgets\[\s*([\"']){re.escape(name)}\1\s*\]", f"widgets.{node_id}", block)
        for key, name in self.variables.items():
            block = re.sub(rf"\bflow\.(variables|data)\[\s*([\"']){re.escape(key)}\2\s*\]", rf"flow.\1.{name}",
                           block)  # fmt: skip
        parts = _QUOTED.split(block)
        for i in range(0, len(parts), 2):  # even parts are outside quotes
            parts[i] = self._path_names(_DOT_SPACES.sub(".", parts[i]), find)
        return "".join(parts)

    def _path_names(self, code: str, find: Finder) -> str:
        for pattern, ours in (*self.aliases, *_ALIASES):
            code = pattern.sub(ours, code)
        for name, node_id in self.widgets.items():
            code = re.sub(rf"\bwidgets\.{re.escape(name)}\b", f"widgets.{node_id}", code)
        for key, name in self.variables.items():
            code = re.sub(rf"\bflow\.(variables|data)\.{re.escape(key)}\b", rf"flow.\1.{name}", code)
        missing = _NOT_ON_A_CALL.search(code)
        if missing:
            find("not_on_a_call", f"'{missing.group(0)}' does not exist on a voice call; it renders as empty text")
        for widget in self.json_answers:
            if re.search(rf"\bwidgets\.{re.escape(widget)}\.body\b", code):
                find("json_body", f"widgets.{widget}.body is empty when the answer is JSON (it is kept parsed); "
                     f"read widgets.{widget}.parsed instead")  # fmt: skip
        return code
