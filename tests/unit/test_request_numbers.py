"""Numbers read from webhook parameters: bounded before int(), never raising, never huge or non-finite."""

from __future__ import annotations

import pytest

from common.service import call_routing, calls


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20", 20), ("0", 0), ("", 0), (None, 0), ("-5", 0), ("x", 0), ("9" * 5000, 0), ("1" * 10, 0),
     ("999999999", 999_999_999), ("\u00b2", 0)],
)  # fmt: skip
def test_counts(text: str | None, expected: int) -> None:
    assert calls._int(text) == expected
    assert call_routing._int(text) == (expected if (text and expected) or text == "0" else None)


@pytest.mark.parametrize(
    ("text", "expected"), [("0.93", 0.93), ("", None), ("nan", None), ("inf", None), ("1e999", None), ("x", None),
                           ("1" * 5000, None)],
)  # fmt: skip
def test_confidence(text: str, expected: float | None) -> None:
    assert calls._float(text) == expected
