"""twiml.render and twiml.check remember their answers (twiml.Memo): same answers, bounded memory."""

from __future__ import annotations

from common.core import twiml
from common.core.call import Action, Gather, Hangup, Say, TransferToDepartment

URLS = twiml.UrlBuilder("https://ivr.example.com")
MENU: list[Action] = [Say("Hello.", "Polly.Joanna", "en-US"), Gather("dtmf", 5, (Say("Press 1."),), num_digits=1)]


def test_memo_keeps_the_latest_entries_and_drops_the_least_recently_used() -> None:
    memo = twiml.Memo(entries=2)
    memo.put("a", "A", 1)
    memo.put("b", "B", 1)
    assert memo.get("a") == "A"  # "a" is now the most recent: "b" goes first
    memo.put("c", "C", 1)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == ("A", None, "C")
    assert (memo.hits, memo.misses) == (3, 1)


def test_memo_does_not_keep_large_answers() -> None:
    memo = twiml.Memo(entries=4, max_chars=10)
    memo.put("small", "x" * 10, 10)
    memo.put("large", "x" * 11, 11)
    assert memo.get("small") == "x" * 10 and memo.get("large") is None


def test_a_remembered_render_is_the_rendered_document() -> None:
    fresh = twiml._render(tuple(MENU), URLS, 3, None, None)
    first = twiml.render(MENU, URLS, 3)
    hits = twiml.RENDERED.hits
    again = twiml.render(list(MENU), URLS, 3)  # equal actions in another list: the same key
    assert first == again == fresh and twiml.RENDERED.hits == hits + 1
    assert "seq=4" in twiml.render(MENU, URLS, 4) and "seq=4" not in first  # the seq is part of the key
    other = twiml.render(MENU, twiml.UrlBuilder("https://other.example.com"), 3)
    assert "other.example.com" in other and "other.example.com" not in first  # so is the base URL


def test_actions_holding_a_dict_are_rendered_every_time() -> None:
    transfer: list[Action] = [Say("One moment."), TransferToDepartment("sales", 5, context={"order": "42"})]
    before = (twiml.RENDERED.hits, twiml.RENDERED.misses)
    document = twiml.render(transfer, URLS, 2, tenant="acme")
    assert document == twiml.render(transfer, URLS, 2, tenant="acme")
    assert "<Enqueue" in document and "acme.sales" in document
    assert (twiml.RENDERED.hits, twiml.RENDERED.misses) == before  # unhashable: the memo is not consulted


def test_a_remembered_check_answers_a_fresh_list_each_time() -> None:
    broken = twiml.XML_DECLARATION + "<Response><Say>Hi</Say></Response>"
    problems = twiml.check(broken)
    assert problems == ["document ends with <Say>; it must end by waiting or hanging up"]
    problems.append("changed by the caller")
    assert twiml.check(broken) == ["document ends with <Say>; it must end by waiting or hanging up"]
    assert twiml.check(twiml.render([Say("Bye."), Hangup()], URLS, 2)) == []


def test_a_memo_key_with_an_equal_hash_is_still_compared_by_its_parts() -> None:
    assert hash((-1,)) == hash((-2,))  # CPython hashes -1 as -2: two different keys, one hash
    first, second = twiml._Key((-1,)), twiml._Key((-2,))
    assert hash(first) == hash(second) and first != second and first == twiml._Key((-1,))
    memo = twiml.Memo(entries=4)
    memo.put(first, "minus one", 1)
    assert memo.get(second) is None and memo.get(twiml._Key((-1,))) == "minus one"
    assert first != (-1,)  # a key equals only another key
