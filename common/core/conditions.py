"""Decision operators: Twilio Studio's split-based-on set, typed.

Rules owned here:
- Text comparisons (equal_to, matches_any_of, contains, starts_with and their negations) compare
  *normalised* text: case folded, punctuation removed, runs of spaces collapsed. Speech recognition
  returns "Sales." where a designer wrote "sales"; both normalise to "sales".
- Numbers compare as numbers: when both sides parse as decimal numbers, equal_to means numeric
  equality ("5.0" equals "5") and less_than / greater_than compare values. less_than and
  greater_than with a side that is not a number are simply false, never an error.
- matches_any_of takes a list, or a comma-separated string, of candidates.
- regex searches the raw (not normalised) input; the flow author controls case with ``(?i)``.
- Time operators read ``HH:MM`` / ``HH:MM:SS`` or an ISO date-time (its time part); date operators
  read ``YYYY-MM-DD`` or an ISO date-time (its date part). Unparseable input never matches.
- is_blank is true for empty or whitespace-only input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from common.core.flow import Operator, RuleValue

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _PUNCT.sub("", text)).strip()


def _number(text: str) -> Decimal | None:
    stripped = text.strip()
    if not stripped or not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", stripped):
        return None
    try:
        return Decimal(stripped)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None


def _candidates(value: RuleValue) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part for part in (p.strip() for p in str(value).split(",")) if part]


def _equal(left: str, right: str) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return normalise(left) == normalise(right)


def _compare(left: str, right: str, op: Callable[[Decimal, Decimal], bool]) -> bool:
    a, b = _number(left), _number(right)
    return a is not None and b is not None and op(a, b)


def parse_time(text: str) -> time | None:
    text = text.strip()
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text).time() if "T" in text or " " in text else None
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    text = text.strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def evaluate(operator: Operator, left: str, value: RuleValue) -> bool:
    """True when ``left`` (the rendered input) satisfies ``operator`` against ``value``."""
    right = "" if value is None or isinstance(value, list) else str(value)
    match operator:
        case "is_blank":
            return not left.strip()
        case "is_not_blank":
            return bool(left.strip())
        case "equal_to":
            return _equal(left, right)
        case "not_equal_to":
            return not _equal(left, right)
        case "matches_any_of":
            return any(_equal(left, c) for c in _candidates(value))
        case "does_not_match_any_of":
            return not any(_equal(left, c) for c in _candidates(value))
        case "contains":
            return normalise(right) in normalise(left)
        case "does_not_contain":
            return normalise(right) not in normalise(left)
        case "starts_with":
            return normalise(left).startswith(normalise(right))
        case "does_not_start_with":
            return not normalise(left).startswith(normalise(right))
        case "less_than":
            return _compare(left, right, lambda a, b: a < b)
        case "greater_than":
            return _compare(left, right, lambda a, b: a > b)
        case "regex":
            return compile_regex(right).search(left) is not None
        case "is_before_time" | "is_after_time":
            t_left, t_right = parse_time(left), parse_time(right)
            if t_left is None or t_right is None:
                return False
            return t_left < t_right if operator == "is_before_time" else t_left > t_right
        case "is_before_date" | "is_after_date":
            d_left, d_right = parse_date(left), parse_date(right)
            if d_left is None or d_right is None:
                return False
            return d_left < d_right if operator == "is_before_date" else d_left > d_right
    raise AssertionError(f"unhandled operator {operator!r}")  # pragma: no cover


NEEDS_VALUE: frozenset[str] = frozenset(
    {"equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "regex", "contains",
     "does_not_contain", "starts_with", "does_not_start_with", "less_than", "greater_than",
     "is_before_time", "is_after_time", "is_before_date", "is_after_date"}
)  # fmt: skip
