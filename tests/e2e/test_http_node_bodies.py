"""What an HTTP node's POST puts on the wire, through the whole stack with the real fetcher.

A small HTTP server on 127.0.0.1 keeps every request it is sent. A POST node declares its body's
format (``contentType``: JSON, the default, or a form); the request must say so in its Content-Type,
or an API that parses by Content-Type (most web frameworks) sees no parameters at all. A header the
flow sets itself wins over the declared format.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from livestack import ACCOUNT_A, API_KEY_A, Stack, build_stack, deploy, example

from common import bootstrap
from common.adapters.http_fetch import RequestsFetcher

NUMBER = "+13072240111"


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append({"content_type": self.headers.get("Content-Type"),
                          "body": self.rfile.read(length).decode()})  # fmt: skip
        answer = b'{"status": "active", "name": "Ada"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def posting_stack(memory_store: Any, url: str, **data: Any) -> Stack:
    """The account lookup, its request turned into a POST with ``data`` merged into the node."""
    stack = build_stack(memory_store, fetcher=RequestsFetcher(allow_hosts=("127.0.0.1",)), all_examples=False)
    flow = example("account_lookup")
    flow["id"] = "posting_lookup"
    for node in flow["nodes"]:
        if node["id"] == "lookup":
            node["data"].update({"method": "POST", "url": f"{url}/v1/lookups",
                                 "parameters": [{"name": "account", "value": "{{ flow.variables.account }}"}],
                                 **data})  # fmt: skip
    deploy(stack.svc, stack.svc.admin.authenticate(f"Bearer {API_KEY_A}"), flow, NUMBER)
    bootstrap.install(stack.svc)
    return stack


def lookup(stack: Stack) -> str:
    sent = {"CallSid": "CA" + "c" * 32, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": NUMBER,
            "Direction": "inbound", "CallStatus": "in-progress"}  # fmt: skip
    assert stack.signed_post("/webhook/voice/incoming", sent).status_code == 200
    assert stack.signed_post("/webhook/voice/step?seq=2", {**sent, "Digits": "123456"}).status_code == 200
    answer = stack.signed_post("/webhook/voice/step?seq=3", sent)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


@pytest.mark.parametrize(("content_type", "decode"), [
    ("application/x-www-form-urlencoded", lambda body: {k: v[0] for k, v in parse_qs(body).items()}),
    ("application/json", json.loads),
])  # fmt: skip
def test_a_post_says_what_its_body_is(memory_store: Any, api: tuple[str, list[dict[str, Any]]],
                                      content_type: str, decode: Any) -> None:  # fmt: skip
    url, seen = api
    stack = posting_stack(memory_store, url, contentType=content_type)
    try:
        assert "Ada" in lookup(stack)  # the success branch read the API's answer
    finally:
        bootstrap.install(None)
    [request] = seen
    assert request["content_type"] == content_type
    assert decode(request["body"]) == {"account": "123456"}


def test_the_flows_own_content_type_header_wins(memory_store: Any, api: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = api
    own = {"Accept": "application/json", "content-type": "application/vnd.acme+json"}
    stack = posting_stack(memory_store, url, contentType="application/json", headers=own)
    try:
        lookup(stack)
    finally:
        bootstrap.install(None)
    [request] = seen
    assert request["content_type"] == "application/vnd.acme+json"
