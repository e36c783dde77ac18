"""Liquid templating for every text that reaches the caller or the network.

Flows use Twilio Studio's syntax (Liquid), so imported Studio flows keep working:
``{{ trigger.call.From }}``, ``{{ flow.variables.account }}``, ``{{ widgets.lookup.parsed.name }}``,
filters such as ``| plus: 1`` or ``| default: "there"``.

Rules owned here:
- The context a template sees has exactly these roots (``ROOTS``): ``trigger`` (the call's Twilio
  parameters, under ``trigger.call``), ``flow`` (``flow.variables``, ``flow.data``, ``flow.id``),
  ``widgets`` (per-node results: ``Digits``, ``SpeechResult``, ``status_code``, ``parsed``...),
  ``caller`` (``from``, ``to``, ``sid``: short names for the trigger fields) and ``now`` (the frozen
  clock of this step in the flow's time zone: ``iso``, ``date``, ``time``, ``weekday``).
- Rendering never fails a live call: an undefined variable renders as empty text (``validation``
  warns about undefined names before publish), and runaway templates hit Liquid's resource limits.
- Parsing is cached per distinct source string; the cache is process-wide and bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from liquid import Environment
from liquid.exceptions import LiquidError

ROOTS = frozenset({"trigger", "flow", "widgets", "caller", "now"})


class _Environment(Environment):
    # Bound what a template can cost, so one flow cannot slow every call on an instance.
    loop_iteration_limit = 1_000
    output_stream_limit = 64 * 1024
    context_depth_limit = 20
    local_namespace_limit = 64 * 1024


_ENV = _Environment()


class TemplateSyntaxError(ValueError):
    """A template does not parse; the message says where."""


@lru_cache(maxsize=8192)
def _parse(source: str) -> Any:
    try:
        return _ENV.from_string(source)
    except LiquidError as exc:
        raise TemplateSyntaxError(str(exc).splitlines()[0]) from exc


def is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


def check(source: str) -> list[list[str]]:
    """Parse ``source``; return the variable paths it reads. Raises TemplateSyntaxError."""
    if not is_template(source):
        return []
    template = _parse(source)
    return [list(map(str, segments)) for segments in template.global_variable_segments()]


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` against ``context``. Never raises for a template that passed ``check``."""
    if not is_template(source):
        return source
    try:
        return str(_parse(source).render(**context))
    except LiquidError:
        # A render-time failure (a limit, a filter given the wrong type) must not end the call:
        # the caller hears the text with the broken expression left out.
        return ""
