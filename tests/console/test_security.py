"""What a tenant or a caller controls never runs in the console, the Content-Security-Policy forbids
inline script by itself, and one tenant never sees another's data.

The XSS matrix puts markup in every text a tenant (or a caller) controls: flow names, descriptions,
node labels and texts, version messages and authors, deployment messages and authors, department and
agent names, schedule holidays and override reasons, and a caller's number. It renders every page
with the Content-Security-Policy switched off (``bypass_csp``), so escaping alone must hold: a script
tag or an event handler that became markup would run and open a dialog. Each page must then show the
markup as text, contain no element the payload could have made, and have opened no dialog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consolekit import Console, write_events
from livestack import API_KEY_A, API_KEY_B, B_NUMBER, DEMO_NUMBER, TENANT_A, example

from common.web import console as console_module


def markup(tag: str) -> str:
    """Text that becomes a running script wherever it is parsed as HTML (or breaks out of an attribute)."""
    return f'{tag}"><img src=x onerror=alert("{tag}")><script>alert("{tag}")</script>'


def texts_of(document: dict[str, Any]) -> dict[str, Any]:
    """The support line with markup in its name, description and every node's label and texts."""
    changed = json.loads(json.dumps(document))
    changed["name"], changed["description"] = markup("flowname"), markup("flowdesc")
    for node in changed["nodes"]:
        data = node["data"]
        data["label"] = markup(f"label-{node['id']}")
        for key in ("text", "prompt", "message", "noInputMessage", "noMatchMessage"):
            if key in data:
                data[key] = markup(f"{key}-{node['id']}"[:14])
    return changed


def seed_markup(console: Console) -> tuple[str, str]:
    """Markup in every tenant-controlled field of tenant A; a caller waiting with markup as their
    number. Returns (the agent key bound to the agent with markup in its name, the waiting call's sid)."""
    stack, routed = console.stack, console.routed
    author = {"X-Ivr-Author": markup("author")}
    flow = texts_of(example("support_line"))
    assert stack.api("PUT", "/api/flows/support_line", json=flow).status_code == 200
    published = stack.api("POST", "/api/flows/support_line/versions", json={"message": markup("vermsg")},
                          headers=author)  # fmt: skip
    assert published.status_code == 201, published.json
    deployed = stack.api("POST", "/api/flows/support_line/deploy", headers=author,
                         json={"environment": "production", "phoneNumbers": [DEMO_NUMBER], "message": markup("depmsg")})  # fmt: skip  # noqa: E501
    assert deployed.status_code == 200, deployed.json
    schedule = stack.api("GET", "/api/schedules/business_hours").json
    schedule["holidays"] = [{"type": "date", "date": "2026-01-07", "name": markup("holiday")}]
    schedule["overrides"] = [{"start": "2026-01-09T12:00:00", "end": "2026-01-09T14:00:00", "mode": "closed",
                              "reason": markup("override")}]  # fmt: skip
    saved = stack.api("PUT", "/api/schedules/business_hours", json=schedule)
    assert saved.status_code == 200, saved.json
    admin = routed.service.admin
    department = admin.get_department(TENANT_A, "sales")[0]
    settings = {k: v for k, v in department.items() if k not in ("id", "etag", "updatedAt", "updatedBy")}
    admin.put_department(TENANT_A, "sales", {**settings, "name": markup("dept")})
    agent_key, agent_key_id = console.key("agent")
    admin.put_agent(TENANT_A, "ann", {"name": markup("agent"), "contact": "+15552220001",
                                      "departments": [{"department": "sales", "tier": 1}]}, api_key_id=agent_key_id)  # fmt: skip  # noqa: E501
    session = console.sim(play_seconds=20).start(DEMO_NUMBER, markup("caller"), ["1"])
    t = 0.0
    while session.live and not routed.entries("sales", ("waiting",)) and t < 60:
        session.step(t)
        routed.advance(1)
        t += 1
    assert routed.entries("sales", ("waiting",)), session.transcript
    return agent_key, session.result.call_sid


# the page, its heading, and the fields whose markup it must show as text
MATRIX = [
    ("flows", "Flows", ["flowname"]),
    ("flows/support_line", "flowname", ["flowname", "flowdesc", "vermsg", "author"]),
    ("numbers", "Numbers and deployment history", ["depmsg", "author"]),
    ("departments/sales", "Departments and agents", ["dept", "agent", "caller"]),
    ("calls", "Live calls", ["caller"]),
    ("schedules/business_hours", "Schedules", ["holiday", "override"]),
    ("monitoring", "Monitoring", ["flowname"]),
]

PROBE = """() => ({
    handlers: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes]
        .filter((a) => a.name.startsWith('on')).map((a) => `${el.tagName} ${a.name}`)),
    images: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.src || 'inline'),
})"""


def assert_inert(console: Console, page: Any, where: str, shown: list[str]) -> None:
    probe = page.evaluate(PROBE)
    assert probe["handlers"] == [], f"{where}: event handler attributes {probe['handlers']}"
    assert probe["images"] == 0, f"{where}: an <img> made from tenant text"
    assert probe["scripts"] == [f"{console.base_url}/console/app.js"], f"{where}: scripts {probe['scripts']}"
    text = page.locator("body").inner_text()
    for tag in shown:
        assert markup(tag) in text, f"{where}: the {tag} text is not shown as written"
    assert console.dialogs == [], f"{where}: {console.dialogs}"


def test_markup_in_every_tenant_controlled_field_is_shown_as_text_and_never_runs(console: Console) -> None:
    agent_key, call_sid = seed_markup(console)
    page = console.new_page(bypass_csp=True)
    console.sign_in(page=page)
    for hash_path, heading, shown in MATRIX:
        console.goto(hash_path, markup(heading) if heading == "flowname" else heading, page=page)
        if hash_path == "departments/sales":
            page.get_by_role("cell", name=markup("caller")).wait_for()  # the live view's first refresh
        if hash_path == "calls":
            page.get_by_role("link", name=call_sid).first.wait_for()
        assert_inert(console, page, hash_path, shown)
        console.shot("xss-" + hash_path.replace("/", "-"), page=page)

    console.goto("flows/support_line", markup("flowname"), page=page)  # what only a click shows
    page.locator("g[data-node=greeting]").click()
    page.get_by_role("heading", name=markup("label-greeting"), exact=False).wait_for()
    form = page.get_by_role("region", name="Changes between versions")
    form.get_by_label("From").select_option("1.0.0")
    form.get_by_label("To").select_option("draft")
    form.get_by_role("button", name="Show changes").click()
    form.get_by_text("1.0.0 → draft").wait_for()
    assert_inert(console, page, "flow node details and diff", ["label-greeting", "text-greeting", "flowname"])
    console.shot("xss-flow-details", page=page)
    page.get_by_role("region", name="Deploy").get_by_role("button", name="Review deploy…").wait_for()
    console.goto(f"calls/{call_sid}", f"Call {call_sid}", page=page)
    assert_inert(console, page, "call transcript", ["caller"])
    console.shot("xss-call", page=page)

    agent = console.new_page(bypass_csp=True)
    console.sign_in(agent_key, page=agent)
    agent.get_by_role("heading", level=1, name="My status").wait_for()
    assert_inert(console, agent, "agent panel", ["agent"])
    assert agent.locator("#who").inner_text().startswith("demo · agent")
    assert console.unexpected() == []


def test_the_content_security_policy_blocks_inline_script_by_itself(console: Console) -> None:
    page = console.page
    shell = page.goto("/console")
    assert shell is not None
    for response in (shell, page.request.get("/console/app.js"), page.request.get("/console/api/me")):
        policy = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "data:" not in directives["script-src"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert policy == console_module.CSP
    console.sign_in()
    blocked = page.evaluate("""async () => {
        const seen = [];
        document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
        const inline = document.createElement('script');
        inline.textContent = 'window.__inline = 1';
        document.head.append(inline);
        const handler = document.createElement('img');
        handler.setAttribute('onerror', 'window.__handler = 1');
        handler.setAttribute('src', 'data:,not-an-image');
        document.body.append(handler);
        const framed = document.createElement('iframe');
        framed.setAttribute('src', 'https://example.test/');
        document.body.append(framed);
        await new Promise((done) => setTimeout(done, 300));
        let evaluated = 'blocked';
        try { evaluated = String(window.eval('1 + 1')); } catch (e) { evaluated = 'blocked'; }
        return {inline: window.__inline ?? null, handler: window.__handler ?? null, evaluated, seen};
    }""")
    assert blocked["inline"] is None and blocked["handler"] is None, blocked
    assert blocked["evaluated"] == "blocked", blocked
    assert {"script-src-elem", "script-src-attr", "frame-src"} <= set(blocked["seen"]), blocked


def test_a_tenant_never_sees_another_tenants_data(console: Console, events_file: Path) -> None:
    write_events(events_file)  # reports of both tenants
    a_call = console.sim().call(DEMO_NUMBER, inputs=["hangup"]).call_sid
    page = console.page
    seen: list[str | None] = []
    page.on("request", lambda r: seen.append(r.headers.get("authorization")) if "/api/" in r.url else None)
    console.sign_in(API_KEY_B)
    a_things = ["Account balance lookup", "After-hours", DEMO_NUMBER, "Sales", "Ann", "Bob", "business_hours", a_call,
                "2026-10", "2026-12", "menu"]  # the last three: tenant A's reports
    for hash_path, heading in [("flows", "Flows"), ("numbers", "Numbers and deployment history"),
                               ("departments", "Departments and agents"), ("calls", "Live calls"),
                               ("schedules", "Schedules"), ("monitoring", "Monitoring")]:  # fmt: skip
        console.goto(hash_path, heading)
        text = page.locator("main").inner_text()
        assert [thing for thing in a_things if thing in text] == [], hash_path
        console.shot("tenant-b-" + hash_path)
    console.goto("numbers", "Numbers and deployment history")
    assert B_NUMBER in page.locator("main").inner_text()
    console.goto("monitoring", "Monitoring")  # tenant B's own report rows are there
    assert "main" in page.get_by_role("region", name="Calls and cost per flow version").inner_text()
    console.goto("flows/account_lookup")  # tenant A's flow, by its id
    page.get_by_role("alert").filter(has_text="404").wait_for()
    console.goto(f"calls/{a_call}")  # tenant A's call, by its sid
    page.get_by_role("alert").filter(has_text="does not exist").wait_for()
    assert "Account" not in page.locator("main").inner_text()
    assert seen and all(h == f"Bearer {API_KEY_B}" for h in seen)
    assert API_KEY_A not in json.dumps(seen)
    assert [p for p in console.unexpected() if "404" not in p] == []
