"""conditions.evaluate: all 17 operators, typing rules, normalisation, unparseable input."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from common.core import conditions
from common.core.flow import Operator

CASES: list[tuple[str, str, Any, bool]] = [
    # text equality, normalised
    ("equal_to", "Sales.", "sales", True),
    ("equal_to", "  SALES  ", "sales", True),
    ("equal_to", "customer   service!", "Customer Service", True),
    ("equal_to", "sales", "support", False),
    ("equal_to", "", "", True),
    ("equal_to", "ÉCOLE", "école", True),
    # numbers as numbers
    ("equal_to", "5.0", "5", True),
    ("equal_to", "05", "5", True),
    ("equal_to", "+5", "5", True),
    ("equal_to", "5.1", "5", False),
    ("equal_to", "1,000", "1000", True),  # not numbers, but equal once punctuation is removed
    ("equal_to", "1,000", "1000.5", False),
    ("not_equal_to", "5.0", "5", False),
    ("not_equal_to", "Sales.", "sales", False),
    ("not_equal_to", "sales", "support", True),
    # any-of: lists, comma-separated strings
    ("matches_any_of", "Support!", ["sales", "support"], True),
    ("matches_any_of", "2.0", ["1", "2"], True),
    ("matches_any_of", "billing", "sales, support ,billing", True),
    ("matches_any_of", "bill", ["sales", "billing"], False),
    ("matches_any_of", "x", [], False),
    ("does_not_match_any_of", "billing", ["sales", "support"], True),
    ("does_not_match_any_of", "SALES", "sales,support", False),
    # blank
    ("is_blank", "", None, True),
    ("is_blank", "  \t ", None, True),
    ("is_blank", "0", None, False),
    ("is_not_blank", "0", None, True),
    ("is_not_blank", " ", None, False),
    # regex: raw input, search semantics, case by the author
    ("regex", "Order 12345", r"\d{5}", True),
    ("regex", "order", "^Order$", False),
    ("regex", "order", "(?i)^Order$", True),
    ("regex", "Sales.", r"^sales$", False),
    # substring and prefix, normalised
    ("contains", "I want Sales, please", "sales", True),
    ("contains", "support", "sales", False),
    ("does_not_contain", "support", "sales", True),
    ("does_not_contain", "SALES!", "sales", False),
    ("starts_with", "Sales department", "sales", True),
    ("starts_with", "the sales", "sales", False),
    ("does_not_start_with", "the sales", "sales", True),
    ("does_not_start_with", "Sales.", "sales", False),
    # numeric comparisons
    ("greater_than", "10", "9", True),
    ("greater_than", "9", "10", False),
    ("greater_than", "10", "10", False),
    ("greater_than", "-1", "-2", True),
    ("greater_than", "10.5", "10.25", True),
    ("greater_than", ".5", "0.4", True),
    ("less_than", "9", "10", True),
    ("less_than", "10", "9", False),
    ("less_than", "100", "99.99", False),
    # numeric comparisons never compare text
    ("greater_than", "b", "a", False),
    ("less_than", "a", "b", False),
    ("less_than", "", "1", False),
    ("greater_than", "1e3", "5", False),
    ("less_than", "ten", "11", False),
    # times: HH:MM, HH:MM:SS, ISO date-time
    ("is_before_time", "08:59", "09:00", True),
    ("is_before_time", "09:00", "09:00", False),
    ("is_before_time", "09:00:00", "09:00:01", True),
    ("is_after_time", "17:30", "17:00", True),
    ("is_after_time", "2026-01-05T18:15:00+00:00", "17:00", True),
    ("is_after_time", "2026-01-05 16:15", "17:00", False),
    ("is_before_time", "9am", "10:00", False),
    ("is_after_time", "25:00", "10:00", False),
    ("is_after_time", "", "10:00", False),
    ("is_before_time", "2026-01-05", "10:00", False),
    # dates: YYYY-MM-DD or an ISO date-time
    ("is_before_date", "2026-01-04", "2026-01-05", True),
    ("is_before_date", "2026-01-05", "2026-01-05", False),
    ("is_after_date", "2026-12-25T08:00:00-05:00", "2026-12-24", True),
    ("is_after_date", "2026-12-24", "2026-12-24T23:59", False),
    ("is_before_date", "05/01/2026", "2026-12-31", False),
    ("is_after_date", "2026-02-30", "2026-01-01", False),
    ("is_after_date", "", "2026-01-01", False),
]


@pytest.mark.parametrize(("operator", "left", "value", "expected"), CASES,
                         ids=[f"{op}:{left!r}~{value!r}" for op, left, value, _ in CASES])  # fmt: skip
def test_evaluate(operator: Operator, left: str, value: Any, expected: bool) -> None:
    assert conditions.evaluate(operator, left, value) is expected


def test_every_operator_is_covered_both_ways() -> None:
    operators = set(get_args(Operator))
    assert len(operators) == 17
    assert {op for op, *_ in CASES} == operators
    for op in operators:
        outcomes = {expected for case_op, _, _, expected in CASES if case_op == op}
        assert outcomes == {True, False}, op


def test_needs_value_is_every_operator_but_the_blank_checks() -> None:
    assert set(get_args(Operator)) - {"is_blank", "is_not_blank"} == conditions.NEEDS_VALUE


UNPARSEABLE = ["", "   ", "abc", "12:xx", "2026-13-45", "--", "NaN", "inf", "1e5", "0x10"]


@pytest.mark.parametrize("text", UNPARSEABLE, ids=repr)
@pytest.mark.parametrize(
    ("operator", "value"),
    [("less_than", "5"), ("greater_than", "5"), ("is_before_time", "23:59"), ("is_after_time", "00:00"),
     ("is_before_date", "2999-01-01"), ("is_after_date", "1900-01-01")],
)  # fmt: skip
def test_unparseable_input_never_matches(operator: Operator, value: str, text: str) -> None:
    assert conditions.evaluate(operator, text, value) is False
    # ... and an unparseable rule value never matches a good input either.
    good = {"less_than": "1", "greater_than": "9", "is_before_time": "12:00", "is_after_time": "12:00",
            "is_before_date": "2026-01-05", "is_after_date": "2026-01-05"}[operator]  # fmt: skip
    assert conditions.evaluate(operator, good, text) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Sales.", "sales"), ("  Customer   Service!! ", "customer service"),
     ("\uff33\uff21\uff2c\uff25\uff33", "sales"),  # fullwidth letters
     ("Straße", "strasse"), ("don't", "dont"), ("a_b", "a_b"), ("", "")],
)  # fmt: skip
def test_normalise(text: str, expected: str) -> None:
    assert conditions.normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:30", (9, 30, 0)), ("23:59:58", (23, 59, 58)), (" 07:05 ", (7, 5, 0)),
     ("2026-01-05T18:15:09+01:00", (18, 15, 9)), ("24:00", None), ("9", None), ("", None)],
)  # fmt: skip
def test_parse_time(text: str, expected: tuple[int, int, int] | None) -> None:
    parsed = conditions.parse_time(text)
    assert (None if parsed is None else (parsed.hour, parsed.minute, parsed.second)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01-05", (2026, 1, 5)), ("2026-01-05T23:00:00-08:00", (2026, 1, 5)), ("2026-1-5", None),
     ("20260105", None), ("", None)],
)  # fmt: skip
def test_parse_date(text: str, expected: tuple[int, int, int] | None) -> None:
    parsed = conditions.parse_date(text)
    assert (None if parsed is None else (parsed.year, parsed.month, parsed.day)) == expected
