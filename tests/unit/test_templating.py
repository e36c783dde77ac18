"""templating: the roots a template sees in a call, filters, undefined names, syntax errors, check()."""

from __future__ import annotations

from typing import Any

import pytest
from flowkit import CALL_PARAMS, Call, collect, compiled, edge, set_vars, start

from common.core import templating
from common.core.call import DigitsEntered

CONTEXT: dict[str, Any] = {
    "trigger": {"call": {"From": "+15005550006", "To": "+13072249663"}},
    "flow": {"variables": {"count": "2", "name": "Ada", "nothing": "", "n": 7}, "data": {"count": "2"}, "id": "f1"},
    "widgets": {"menu": {"Digits": "42"}, "lookup": {"parsed": {"name": "Ada", "items": [1, 2, 3]}}},
    "caller": {"from": "+15005550006", "to": "+13072249663", "sid": "CA1"},
    "now": {"iso": "2026-01-05T10:00:00-05:00", "date": "2026-01-05", "time": "10:00", "weekday": "Monday"},
}


def test_roots() -> None:
    assert frozenset({"trigger", "flow", "widgets", "caller", "now", "departments"}) == templating.ROOTS


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ trigger.call.From }}", "+15005550006"),
        ("{{ flow.variables.name }}", "Ada"),
        ("{{ flow.data.count }}", "2"),
        ("{{ flow.id }}", "f1"),
        ("{{ widgets.menu.Digits }}", "42"),
        ("{{ widgets.lookup.parsed.name }}", "Ada"),
        ("{{ widgets.lookup.parsed.items[1] }}", "2"),
        ("{{ caller.from }}/{{ caller.to }}/{{ caller.sid }}", "+15005550006/+13072249663/CA1"),
        ("{{ now.weekday }} {{ now.date }} {{ now.time }}", "Monday 2026-01-05 10:00"),
        # filters
        ("{{ flow.variables.count | plus: 1 }}", "3"),
        ("{{ flow.variables.n | plus: 1 }}", "8"),
        ("{{ flow.variables.count | plus: 0.5 }}", "2.5"),
        ("{{ flow.variables.nobody | default: 'there' }}", "there"),
        ('{{ flow.variables.nothing | default: "there" }}', "there"),
        ("{{ flow.variables.name | default: 'there' }}", "Ada"),
        ("{{ flow.variables.name | upcase }}", "ADA"),
        ("{{ widgets.lookup.parsed.items | size }}", "3"),
        # tags
        ("{% if flow.variables.n > 5 %}big{% else %}small{% endif %}", "big"),
        ("{% for i in widgets.lookup.parsed.items %}{{ i }},{% endfor %}", "1,2,3,"),
        ("{% assign x = flow.variables.name %}{{ x }}!", "Ada!"),
        # undefined names render as empty text
        ("[{{ nobody }}]", "[]"),
        ("[{{ flow.variables.nobody }}]", "[]"),
        ("[{{ widgets.ghost.parsed.name }}]", "[]"),
        ("[{{ flow.variables.name.first }}]", "[]"),
        # plain text is returned as is
        ("Press {1} or {2}.", "Press {1} or {2}."),
        ("", ""),
    ],
)
def test_render(source: str, expected: str) -> None:
    assert templating.render(source, CONTEXT) == expected


@pytest.mark.parametrize(
    "source",
    ["{{ 1 | divided_by: 0 }}", "{{ flow.variables.name | no_such_filter }}",
     "{% for i in (1..100000) %}x{% endfor %}"],
    ids=["zero-division", "unknown-filter", "loop-limit"],
)  # fmt: skip
def test_render_time_failures_render_empty_instead_of_raising(source: str) -> None:
    assert templating.render(source, CONTEXT) == ""


@pytest.mark.parametrize(
    ("source", "phrase"),
    [("{{ caller.from", "expected '}}'"), ("{% if %}yes{% endif %}", "missing expression"),
     ("{% endif %}", "unexpected tag 'endif'"), ("{{ }}", "expected"), ("{% for x %}{% endfor %}", "")],
)  # fmt: skip
def test_syntax_errors_raise(source: str, phrase: str) -> None:
    with pytest.raises(templating.TemplateSyntaxError) as info:
        templating.check(source)
    assert isinstance(info.value, ValueError)
    assert phrase in str(info.value)
    assert "\n" not in str(info.value)
    assert templating.problem(source) is not None
    # A live call never fails on it: the text is spoken without its markup.
    assert templating.render(source, CONTEXT) == templating.without_markup(source)


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ("no template here", []),
        ("{{ caller.from }}", [["caller", "from"]]),
        ("{{ flow.variables.count | plus: 1 }}", [["flow", "variables", "count"]]),
        ("{{ widgets.lookup.parsed.name }} {{ now.time }}", [["widgets", "lookup", "parsed", "name"],
                                                              ["now", "time"]]),
        ("{% if trigger.call.From %}{{ flow.id }}{% endif %}", [["trigger", "call", "From"], ["flow", "id"]]),
        ("{{ widgets.lookup.parsed.items[0] }}", [["widgets", "lookup", "parsed", "items", "0"]]),
        ("{{ account }}", [["account"]]),
        # loop and assign locals are not variables the flow must define
        ("{% for i in widgets.lookup.parsed.items %}{{ i }}{% endfor %}", [["widgets", "lookup", "parsed", "items"]]),
        ("{% assign x = flow.variables.name %}{{ x }}", [["flow", "variables", "name"]]),
    ],
)  # fmt: skip
def test_check_returns_variable_paths(source: str, paths: list[list[str]]) -> None:
    assert sorted(templating.check(source)) == sorted(paths)


@pytest.mark.parametrize(
    ("source", "expected"), [("{{ x }}", True), ("{% if x %}{% endif %}", True), ("{ x }", False), ("", False)]
)
def test_is_template(source: str, expected: bool) -> None:
    assert templating.is_template(source) is expected


# The engine builds the context; check every root through a real call.
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ trigger.call.From }}|{{ trigger.call.Direction }}", "+15005550006|inbound"),
        ("{{ caller.from }}|{{ caller.to }}|{{ caller.sid }}",
         f"{CALL_PARAMS['From']}|{CALL_PARAMS['To']}|{CALL_PARAMS['CallSid']}"),
        ("{{ flow.variables.pin }}|{{ flow.data.pin }}|{{ flow.variables.base }}|{{ flow.id }}",
         "1234|1234|7|test_flow"),
        ("{{ widgets.menu.Digits }}|{{ widgets.menu.value }}", "1234|1234"),
        ("{{ flow.variables.base | plus: 1 }}", "8"),
        # NOW is 2026-01-05T15:00Z, which is 10:00 in the flow's zone (America/New_York).
        ("{{ now.iso }}|{{ now.date }}|{{ now.time }}|{{ now.weekday }}",
         "2026-01-05T10:00:00-05:00|2026-01-05|10:00|Monday"),
    ],
)  # fmt: skip
def test_roots_in_a_call(source: str, expected: str) -> None:
    flow = compiled([start(), collect("menu", variable="pin"), set_vars("out", result=source)],
                    [edge("start", "menu"), edge("menu", "out", "success")],
                    timezone="America/New_York", variables={"base": 7})  # fmt: skip
    call = Call(flow)
    call.start()
    result = call.send(DigitsEntered("1234"))
    assert result.state.variables["result"] == expected


@pytest.mark.parametrize(
    ("source", "line", "column", "reason"),
    [
        pytest.param("Hi {{ caller.from ", 1, 4, "expected '}}', found end of file", id="unclosed-output"),
        pytest.param("ab {{ }}", 1, 4, "expected a primitive expression", id="empty-output"),
        pytest.param("one\ntwo {% if %}x{% endif %}", 2, 8, "missing expression", id="second-line"),
        pytest.param("x\n  {% if a == %}y{% endif %}", 2, 3, "expected a primitive expression", id="inside-a-tag"),
        pytest.param("{{ a | }}", 1, 1, "expected word", id="filter-without-name"),
        pytest.param("ok {% endif %}", 1, 7, "unexpected tag 'endif'", id="stray-end-tag"),
    ],
)  # fmt: skip
def test_syntax_errors_say_where(source: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(templating.TemplateSyntaxError) as info:
        templating.check(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"line {line}, column {column}: ")


def test_children_are_exactly_what_the_engine_provides() -> None:
    from common.core import engine

    flow = compiled([start(), collect("menu")], [edge("start", "menu")])
    call = Call(flow)
    call.start()
    context = engine._Turn(flow, call.state, call.now, None).context
    assert set(context) == templating.ROOTS
    assert {root: frozenset(context[root]) for root in templating.CHILDREN} == templating.CHILDREN
