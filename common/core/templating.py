"""Liquid templating for every text that reaches the caller or the network.

Flows use Twilio Studio's syntax (Liquid), so imported Studio flows keep working:
``{{ trigger.call.From }}``, ``{{ flow.variables.account }}``, ``{{ widgets.lookup.parsed.name }}``,
filters such as ``| plus: 1`` or ``| default: "there"``.

Rules owned here:
- The context a template sees has exactly these roots (``ROOTS``): ``trigger`` (the call's Twilio
  parameters, under ``trigger.call``), ``flow`` (``flow.variables``, ``flow.data``, ``flow.id``),
  ``widgets`` (per-node results: ``Digits``, ``SpeechResult``, ``status_code``, ``parsed``...),
  ``caller`` (``from``, ``to``, ``sid``: short names for the trigger fields) and ``now`` (the frozen
  clock of this step in the flow's time zone: ``iso``, ``date``, ``time``, ``weekday``) and
  ``departments`` (live department state, ``departments.<id>.available`` / ``.staffed`` /
  ``.waiting`` / ``.expectedWait``, looked up by the host only when a template reads it).
- Rendering never fails a live call: an undefined variable renders as empty text (``validation``
  warns about undefined names before publish), and runaway templates hit Liquid's resource limits.
  A text that does not parse (a version stored before its field was checked) renders as the text
  with every ``{{ }}`` and ``{% %}`` left out (``without_markup``); ``problem`` says why, so the host
  can record it.
- Parsing is cached per distinct source string; the cache is process-wide and bounded.
- A syntax error says where it is: line and column within the field's text (``TemplateSyntaxError``).
- ``lint`` names what a template reads that no call will have: an unknown root, an unknown child of
  a root with fixed children (``CHILDREN``: ``flow.variabels`` -> did you mean ``flow.variables``?),
  a flow variable nothing sets, a widget that is no node. Each finding suggests the closest real name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from typing import Any

from liquid import Environment
from liquid.exceptions import LiquidError
from liquid.token import Token

ROOTS = frozenset({"trigger", "flow", "widgets", "caller", "now", "departments"})
#: what ``departments.<id>`` has: agents free now, agents logged in (not offline), callers waiting, the
#: expected wait in seconds of a caller joining now
DEPARTMENT_FIELDS = frozenset({"available", "staffed", "waiting", "expectedWait"})
#: the children of every root whose children are fixed (``widgets`` has one per node id)
CHILDREN: dict[str, frozenset[str]] = {
    "trigger": frozenset({"call"}),
    "flow": frozenset({"variables", "data", "id"}),
    "caller": frozenset({"from", "to", "sid"}),
    "now": frozenset({"iso", "date", "time", "weekday"}),
}


class _Environment(Environment):
    # Bound what a template can cost, so one flow cannot slow every call on an instance.
    loop_iteration_limit = 1_000
    output_stream_limit = 64 * 1024
    context_depth_limit = 20
    local_namespace_limit = 64 * 1024

    def error(self, exc: Any, msg: str | None = None, token: Token | None = None) -> None:
        # An error inside an expression ({{ }}, {% if a == %}) carries the expression's own end
        # token, which has no position. The parser's current token is at or just after the statement
        # that failed: keep it, and let _parse report the start of that statement.
        if isinstance(exc, LiquidError) and token is not None and (exc.token is None or exc.token.start_index < 0):
            exc.token = token
            setattr(exc, "in_statement_before", True)  # noqa: B010 - a mark of ours on liquid's error
        super().error(exc, msg, token)


_ENV = _Environment()


class TemplateSyntaxError(ValueError):
    """A template does not parse. ``line`` and ``column`` (1-based, within the text) say where."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.reason, self.line, self.column = reason, line, column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(where + reason)


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


@lru_cache(maxsize=8192)
def _parse(source: str) -> Any:
    try:
        return _ENV.from_string(source)
    except LiquidError as exc:
        token = exc.token
        reason = getattr(exc, "message", None) or str(exc).splitlines()[0]
        if token is None or token.start_index < 0 or token.source != source:
            raise TemplateSyntaxError(reason) from exc
        offset = token.start_index
        if getattr(exc, "in_statement_before", False):
            end = offset + 2  # the statement may open right at the token
            offset = max(source.rfind("{{", 0, end), source.rfind("{%", 0, end), 0)
        raise TemplateSyntaxError(reason, *_position(source, offset)) from exc


def is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


# An unclosed expression or tag runs to the end of the text: that is what Liquid would have read.
_MARKUP = re.compile(r"\{\{.*?(?:\}\}|\Z)|\{%.*?(?:%\}|\Z)", re.DOTALL)


def without_markup(source: str) -> str:
    """``source`` with every expression and tag removed: what a caller hears of a broken template."""
    return _MARKUP.sub("", source).strip()


def problem(source: str) -> TemplateSyntaxError | None:
    """Why ``source`` does not parse, or None when it does (or is plain text)."""
    if not is_template(source):
        return None
    try:
        _parse(source)
    except TemplateSyntaxError as exc:
        return exc
    return None


def check(source: str) -> list[list[str]]:
    """Parse ``source``; return the variable paths it reads. Raises TemplateSyntaxError."""
    if not is_template(source):
        return []
    template = _parse(source)
    return [list(map(str, segments)) for segments in template.global_variable_segments()]


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` against ``context``. Never raises."""
    if not is_template(source):
        return source
    try:
        template = _parse(source)
    except TemplateSyntaxError:
        return without_markup(source)
    try:
        return str(template.render(**context))
    except LiquidError:
        # A render-time failure (a limit, a filter given the wrong type) must not end the call:
        # the caller hears the text with the broken expression left out.
        return ""


def _closest(word: str, options: Collection[str]) -> str | None:
    same_case = [o for o in options if o.lower() == word.lower()]
    if same_case:
        return same_case[0]
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return close[0] if close else None


def lint(paths: list[list[str]], variables: Collection[str], widgets: Collection[str],
         departments: Collection[str] | None = None) -> Iterator[tuple[str, str]]:  # fmt: skip
    """``(code, message)`` for each path of ``check`` that no call has: code ``undefined_variable``
    (an unknown root, child of a root or flow variable, or field of a department), ``unknown_widget``
    or, when the tenant's ``departments`` are known, ``unknown_department``."""
    for segments in paths:
        root = segments[0]
        if root not in ROOTS:
            guess = _closest(root, ROOTS)
            hint = f"did you mean {guess}?" if guess else f"did you mean flow.variables.{root}?"
            yield "undefined_variable", (f"'{root}' is not defined; templates read from "
                                         f"{', '.join(sorted(ROOTS))} ({hint})")  # fmt: skip
        elif root in CHILDREN and len(segments) > 1 and segments[1] not in CHILDREN[root]:
            known = ", ".join(f"{root}.{c}" for c in sorted(CHILDREN[root]))
            guess = _closest(segments[1], CHILDREN[root])
            hint = f"did you mean {root}.{guess}? " if guess else ""
            yield "undefined_variable", (f"'{root}.{segments[1]}' does not exist and renders as empty text; "
                                         f"{hint}{root} has {known}")  # fmt: skip
        elif root == "flow" and len(segments) > 2 and segments[1] in ("variables", "data") \
                and segments[2] not in variables:  # fmt: skip
            guess = _closest(segments[2], variables)
            hint = f" (did you mean flow.{segments[1]}.{guess}?)" if guess else ""
            yield "undefined_variable", (f"flow variable '{segments[2]}' is never set by any node or flow "
                                         f"setting; it will render as empty text{hint}")  # fmt: skip
        elif root == "departments" and len(segments) > 1:
            if departments is not None and segments[1] not in departments:
                guess = _closest(segments[1], departments)
                hint = f" (did you mean departments.{guess}?)" if guess else ""
                yield "unknown_department", f"'departments.{segments[1]}' names no department of this account{hint}"
            if len(segments) > 2 and segments[2] not in DEPARTMENT_FIELDS:
                known = ", ".join(sorted(DEPARTMENT_FIELDS))
                guess = _closest(segments[2], DEPARTMENT_FIELDS)
                hint = f"did you mean departments.{segments[1]}.{guess}? " if guess else ""
                yield "undefined_variable", (f"'departments.{segments[1]}.{segments[2]}' does not exist and renders "
                                             f"as empty text; {hint}a department has {known}")  # fmt: skip
        elif root == "widgets" and len(segments) > 1 and segments[1] not in widgets:
            guess = _closest(segments[1], widgets)
            hint = f" (did you mean widgets.{guess}?)" if guess else ""
            yield "unknown_widget", f"'widgets.{segments[1]}' names no node of this flow{hint}"
