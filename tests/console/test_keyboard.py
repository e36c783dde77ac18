"""Keyboard and screen-reader basics on every page: every control has a name, Tab follows the page's
order and the focused element is visibly marked, the skip link and the confirmation dialog work from
the keyboard, and at tablet width no page needs sideways scrolling."""

from __future__ import annotations

from typing import Any

from consolekit import TABLET, Console
from livestack import DEMO_NUMBER

PAGES = [("flows", "Flows"), ("flows/support_line", "Acme support line"), ("numbers", "Numbers and deployment history"),
         ("departments/sales", "Departments and agents"), ("calls", "Live calls"),
         ("schedules", "Schedules"), ("monitoring", "Monitoring")]  # fmt: skip

UNNAMED = """() => {
    const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label')
        || el.getAttribute('aria-labelledby');
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
        if (!named(el)) out.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
        if (!(el.textContent.trim() || el.getAttribute('aria-label'))) out.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('svg[role=img], svg[role=group], section')) {
        if (!el.getAttribute('aria-label')) out.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('table')) {
        if (!el.querySelector('caption')) out.push('table without caption');
    }
    if (document.querySelectorAll('h1').length !== 1) out.push(`${document.querySelectorAll('h1').length} h1 elements`);
    return out;
}"""

TAB_STOPS = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
    .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length
                    && getComputedStyle(el).visibility !== 'hidden')
    .map((el) => el.dataset.tabProbe || (el.dataset.tabProbe = String(Math.random())))"""

FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const rect = el instanceof SVGElement ? el.querySelector('rect') : null;
    return {probe: el.dataset.tabProbe || null, tag: el.outerHTML.slice(0, 160),
            outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
            svgMarked: rect ? parseFloat(getComputedStyle(rect).strokeWidth) >= 3 : false};
}"""


def tab_through(page: Any, stops: int) -> list[str]:
    """Press Tab ``stops`` times from the top of a freshly loaded page; each focused element must be
    visibly marked. Returns the probes of the elements focused, in order."""
    seen = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["outline"] or focused["svgMarked"], f"{focused} has no visible focus"
        seen.append(focused["probe"])
    return seen


def test_every_page_names_its_controls_and_tab_follows_the_page_with_visible_focus(console: Console) -> None:
    page = console.page
    page.goto("/console")
    page.get_by_label("API key").wait_for()
    assert page.evaluate(UNNAMED) == []
    assert page.evaluate("document.activeElement.id") == "api-key"  # the sign-in form starts in the key field
    console.sign_in()
    for hash_path, heading in PAGES:
        console.goto(hash_path, heading)
        page.reload()  # a fresh load starts Tab at the top (a page change moves the focus to <main>)
        page.get_by_role("heading", level=1, name=heading).wait_for()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED) == [], hash_path
        order = page.evaluate(TAB_STOPS)
        count = min(len(order), 16)
        assert tab_through(page, count) == order[:count], f"{hash_path}: Tab does not follow the page's order"
    assert console.unexpected() == []


def test_the_skip_link_and_the_confirmation_work_from_the_keyboard(console: Console) -> None:
    page = console.page
    console.sign_in()
    console.goto("flows/account_lookup", "Account balance lookup")
    page.reload()
    page.get_by_role("heading", level=1, name="Account balance lookup").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    deploy = page.get_by_role("region", name="Deploy")
    deploy.get_by_label(f"{DEMO_NUMBER} (runs support_line@1.0.0)").focus()
    page.keyboard.press("Space")
    deploy.get_by_role("button", name="Review deploy…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Deploy account_lookup")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Cancel"  # the safe choice has the focus
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Deploy"
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    page.locator("#status").filter(has_text="Deploy cancelled.").wait_for()
    numbers = console.stack.api("GET", "/api/numbers").json["numbers"]
    assert next(n for n in numbers if n["phoneNumber"] == DEMO_NUMBER)["deployment"]["flowId"] == "support_line"
    console.shot("keyboard-dialog-cancelled")
    assert console.unexpected() == []


def test_at_tablet_width_no_page_scrolls_sideways(console: Console) -> None:
    page = console.new_page(TABLET)
    console.sign_in(page=page)
    for hash_path, heading in PAGES:
        console.goto(hash_path, heading, page=page)
        wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
            .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                            && !el.closest('.graph-scroll'))
            .map((el) => el.tagName + '.' + el.className).slice(0, 5)""")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
            (hash_path, wide)  # fmt: skip
        console.shot("tablet-" + hash_path.replace("/", "-"), page=page)
    assert console.unexpected() == []
