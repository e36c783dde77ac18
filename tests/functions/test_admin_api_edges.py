"""Hostile input at the admin API's edge, on both stores: nesting, ids that are not document ids,
unbounded (chunked) bodies, NaN, content types, empty versions, store outages and ETags.

Every case runs on the embedded store and on FirestoreStore against Google's emulator, and must get
the same 4xx on both: an id the API lets through would reach Firestore as a document path.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest
from apikit import any_stack, body, send, small_flow
from livestack import API_KEY_A, DEMO_NUMBER, Stack, build_stack, warm_up

from common import bootstrap
from common.adapters.memory import MemoryStore
from common.adapters.ports import StoreUnavailable
from common.web import api

__all__ = ["any_stack"]  # a fixture of apikit, used by name


JSON_ENDPOINTS = [
    ("PUT", "/api/flows/support_line"), ("POST", "/api/flows/support_line/versions"),
    ("POST", "/api/flows/support_line/deploy"), ("POST", "/api/flows/support_line/execute"),
    ("POST", "/api/flows/support_line/promote"), ("POST", "/api/flows/support_line/rollback"),
    ("POST", "/api/numbers"), ("PUT", "/api/schedules/office"),
]  # fmt: skip


# -- 6: nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", JSON_ENDPOINTS)
@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"a":' * 65 + "1" + "}" * 65,
                                 '{"nodes": ' + "[" * 65 + "]" * 65 + "}"])  # fmt: skip
def test_deeply_nested_bodies_are_400_naming_the_limit(any_stack: Stack, method: str, path: str, raw: str) -> None:
    writes = any_stack.store.writes
    response = send(any_stack, method, path, raw)
    assert response.status_code == 400, body(response)
    error = body(response)["error"]
    assert error["code"] == "too_deep" and str(api.MAX_JSON_DEPTH) in error["message"]
    assert any_stack.store.writes == writes


@pytest.mark.parametrize("extra,status", [(0, 200), (1, 400)])
def test_nesting_up_to_the_limit_is_parsed(any_stack: Stack, extra: int, status: int) -> None:
    levels = api.MAX_JSON_DEPTH - 3 + extra  # inside {"http": [{"body": ...}]}, three levels already
    deep = '{"a":' * levels + "1" + "}" * levels
    response = send(any_stack, "POST", "/api/flows/support_line/execute", '{"http": [{"match": "x", "body": '
                    + deep + "}]}")  # fmt: skip
    assert response.status_code == status, body(response)


# -- 7: ids that are not document ids -----------------------------------------------------------------

BAD_VERSIONS = ["a/b", "../../x", "", "__x__", "1.0.0/../../2.0.0"]
BAD_IDS = ["a/b/c", "__x__", "", "..", "a" * 300]


def _id_cases() -> list[tuple[str, str, Any, int]]:
    cases: list[tuple[str, str, Any, int]] = []
    for v in BAD_VERSIONS:
        cases += [("POST", "/api/flows/support_line/versions", {"version": v}, 400),
                  ("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [DEMO_NUMBER], "version": v}, 400),
                  ("POST", "/api/flows/support_line/execute", {"version": v}, 400),
                  ("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [DEMO_NUMBER], "version": v}, 400)]
    for bad in BAD_IDS:
        cases += [("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [DEMO_NUMBER], "deployment": bad}, 400),
                  ("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [DEMO_NUMBER], "fallbackFlow": bad}, 400),
                  ("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [DEMO_NUMBER], "schedules": [bad]}, 400)]
    for query in ("from=a%2Fb&to=draft", "from=draft&to=__x__", "from=..%2F..%2Fx&to=draft", "from=&to=draft"):
        cases.append(("GET", f"/api/flows/support_line/diff?{query}", None, 400))
    for path in ("/api/flows/__x__", "/api/flows/__x__/versions", "/api/flows/support_line/versions/__x__",
                 "/api/schedules/__x__", "/api/schedules/__x__/status", "/api/flows/a%2Fb"):
        cases.append(("GET", path, None, 404))
    cases += [("PUT", "/api/flows/__x__", small_flow("__x__"), 404),
              ("POST", "/api/flows/__x__/deploy", {"phoneNumbers": [DEMO_NUMBER]}, 404),
              ("PUT", "/api/schedules/__x__", {"timezone": "UTC"}, 404),
              ("DELETE", "/api/schedules/__x__", None, 404)]
    return cases  # fmt: skip


@pytest.mark.parametrize("method,path,payload,status", _id_cases())
def test_ids_that_cannot_be_document_ids_are_refused_at_the_edge(any_stack: Stack, method: str, path: str,
                                                                 payload: Any, status: int) -> None:  # fmt: skip
    writes = any_stack.store.writes
    response = any_stack.api(method, path, json=payload)
    assert response.status_code == status, body(response)
    assert body(response)["error"]["message"]
    assert any_stack.store.writes == writes


def test_an_empty_version_publishes_nothing(any_stack: Stack) -> None:
    flow = small_flow("support_line")
    assert any_stack.api("PUT", "/api/flows/support_line", json=flow).status_code == 200
    before = any_stack.store.list_versions("demo", "support_line")
    response = any_stack.api("POST", "/api/flows/support_line/versions", json={"version": ""})
    assert response.status_code == 400
    assert "version" in body(response)["error"]["message"]
    assert any_stack.store.list_versions("demo", "support_line") == before
    # no version given at all still means "the next patch"
    response = any_stack.api("POST", "/api/flows/support_line/versions", json={})
    assert response.status_code == 201 and body(response)["version"] == "1.0.1"


# -- 8: bodies without Content-Length -----------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes that counts how much of it the server read."""

    def __init__(self, prefix: bytes, size: int) -> None:
        self.prefix, self.size, self.read_bytes = prefix, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        start = self.read_bytes
        head = self.prefix[start:start + n]
        buffer[:n] = head + b" " * (n - len(head))
        self.read_bytes += n
        return n


def test_a_chunked_body_over_the_limit_is_413_and_read_no_further(any_stack: Stack) -> None:
    writes = any_stack.store.writes
    stream = CountingStream(b'{"id": "support_line", "name": "', 20 * 1024 * 1024)
    response = send(any_stack, "PUT", "/api/flows/support_line", b"", headers={"Transfer-Encoding": "chunked"},
                    **{"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": ""})  # fmt: skip
    assert response.status_code == 413, response.get_data(as_text=True)
    assert body(response)["error"]["code"] == "too_large"
    assert stream.read_bytes <= api.MAX_BODY_BYTES + 64 * 1024  # not the whole 20 MB
    assert any_stack.store.writes == writes


def test_a_chunked_body_under_the_limit_is_read(any_stack: Stack) -> None:
    raw = json.dumps(small_flow()).encode()
    response = send(any_stack, "PUT", "/api/flows/menu_flow", b"", headers={"Transfer-Encoding": "chunked"},
                    **{"wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True, "CONTENT_LENGTH": ""})  # fmt: skip
    assert response.status_code == 200, body(response)
    assert any_stack.store.get_draft("demo", "menu_flow") is not None


def test_a_declared_length_over_the_limit_is_413(any_stack: Stack) -> None:
    response = send(any_stack, "PUT", "/api/flows/x", b"{}" + b" " * (api.MAX_BODY_BYTES + 10))
    assert response.status_code == 413


# -- 9: NaN and Infinity ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_400_and_nothing_is_stored(any_stack: Stack, token: str) -> None:
    raw = json.dumps(small_flow()).replace('"x": 0, "y": 2', f'"x": {token}, "y": 2')
    assert token in raw
    writes = any_stack.store.writes
    response = send(any_stack, "PUT", "/api/flows/menu_flow", raw)
    assert response.status_code == 400, body(response)
    assert body(response)["error"]["code"] == "invalid_json"
    assert any_stack.store.writes == writes
    assert any_stack.store.get_draft("demo", "menu_flow") is None


def test_non_finite_numbers_already_stored_are_never_emitted(any_stack: Stack) -> None:
    from common.adapters.ports import FlowDraft

    document = json.dumps({**small_flow(), "viewport": {"x": math.nan, "y": math.inf, "zoom": 1}})
    any_stack.store.save_draft(FlowDraft(tenant_id="demo", flow_id="menu_flow", document=document, etag="e1",
                                         updated_at="2026-01-01T00:00:00+00:00"), None)  # fmt: skip
    response = any_stack.api("GET", "/api/flows/menu_flow")
    assert response.status_code == 200

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} emitted")

    parsed = json.loads(response.get_data(as_text=True), parse_constant=refuse)
    assert parsed["viewport"] == {"x": None, "y": None, "zoom": 1}


# -- 10: content types --------------------------------------------------------------------------------


NOT_JSON = ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
            None, "application/json; charset=latin-1", "application/jsonx", "text/json"]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_bodies_not_declared_as_json_are_415(any_stack: Stack, content_type: str | None) -> None:
    writes = any_stack.store.writes
    response = send(any_stack, "PUT", "/api/flows/menu_flow", json.dumps(small_flow()), content_type=content_type)
    assert response.status_code == 415, body(response)
    assert body(response)["error"]["code"] == "unsupported_media_type"
    assert "application/json" in body(response)["error"]["message"]
    assert any_stack.store.writes == writes


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8", "application/vnd.x+json"])  # fmt: skip
def test_json_and_plus_json_types_are_accepted(any_stack: Stack, content_type: str) -> None:
    response = send(any_stack, "PUT", "/api/flows/menu_flow", json.dumps(small_flow()), content_type=content_type)
    assert response.status_code == 200, body(response)


def test_an_empty_body_needs_no_content_type(any_stack: Stack) -> None:
    flow = small_flow("support_line")
    assert any_stack.api("PUT", "/api/flows/support_line", json=flow).status_code == 200
    response = send(any_stack, "POST", "/api/flows/support_line/versions", b"", content_type=None)
    assert response.status_code == 201, body(response)


# -- 11: the store is down ----------------------------------------------------------------------------


class DownStore(MemoryStore):
    """The embedded store, with an outage switch: while ``down``, every method raises StoreUnavailable."""

    down = False

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if callable(attr) and not name.startswith("_") and super().__getattribute__("down"):
            def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable(f"{name}: deadline exceeded")

            return unavailable
        return attr


@pytest.mark.parametrize("method,path,payload", [("GET", "/api/flows/support_line", None),
                                                 ("PUT", "/api/flows/menu_flow", small_flow()),
                                                 ("GET", "/api/deployments", None)])  # fmt: skip
def test_a_store_outage_is_503_with_retry_after(method: str, path: str, payload: Any) -> None:
    store = DownStore()
    stack = build_stack(store, all_examples=False)
    try:
        store.down = True
        response = stack.api(method, path, json=payload)
        assert response.status_code == 503, body(response)
        assert body(response)["error"]["code"] == "store_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    finally:
        bootstrap.install(None)


@pytest.mark.emulator
def test_a_firestore_outage_is_503_with_retry_after(firestore_emulator: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from google.cloud import firestore

    from common.adapters.emulator import FirestoreEmulator
    from common.adapters.firestore import FirestoreStore

    emulator = FirestoreEmulator().start()  # an emulator of its own: this test kills it
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    db = firestore.Client(project="ivr-api-outage")
    try:
        warm_up(db)
        stack = build_stack(FirestoreStore(db), all_examples=False)
        emulator.kill()
        for method, path, payload in (("GET", "/api/flows/support_line", None),
                                      ("PUT", "/api/flows/menu_flow", small_flow())):  # fmt: skip
            response = stack.api(method, path, json=payload)
            assert response.status_code == 503, body(response)
            assert body(response)["error"]["code"] == "store_unavailable"
            assert int(response.headers["Retry-After"]) > 0
    finally:
        bootstrap.install(None)
        emulator.kill()
        db.close()


# -- 12: ETags ----------------------------------------------------------------------------------------


def test_etags_are_quoted_and_if_match_accepts_quoted_unquoted_and_star(any_stack: Stack) -> None:
    saved = body(any_stack.api("PUT", "/api/flows/menu_flow", json=small_flow()))
    got = any_stack.api("GET", "/api/flows/menu_flow")
    assert got.headers["ETag"] == f'"{saved["etag"]}"'
    etag = saved["etag"]
    for form in ('"{}"', "{}", "*", '"nope", "{}"', 'W/"{}", "{}"'):
        if_match = form.format(etag, etag)
        response = any_stack.api("PUT", "/api/flows/menu_flow", json=small_flow(), headers={"If-Match": if_match})
        assert response.status_code == 200, (if_match, body(response))
        etag = body(response)["etag"]
        assert any_stack.api("GET", "/api/flows/menu_flow").headers["ETag"] == f'"{etag}"'


@pytest.mark.parametrize("if_match", ['W/"{etag}"', '"stale"', "stale", '"{etag}x"', ""])
def test_if_match_that_does_not_match_strongly_is_409(any_stack: Stack, if_match: str) -> None:
    etag = body(any_stack.api("PUT", "/api/flows/menu_flow", json=small_flow()))["etag"]
    writes = any_stack.store.writes
    response = any_stack.api("PUT", "/api/flows/menu_flow", json=small_flow(),
                             headers={"If-Match": if_match.format(etag=etag)})  # fmt: skip
    assert response.status_code == 409, body(response)
    assert any_stack.store.writes == writes
    assert any_stack.store.get_draft("demo", "menu_flow").etag == etag


def test_if_match_star_on_a_missing_draft_is_409(any_stack: Stack) -> None:
    response = any_stack.api("PUT", "/api/flows/new_flow", json=small_flow("new_flow"), headers={"If-Match": "*"})
    assert response.status_code == 409
    assert any_stack.store.get_draft("demo", "new_flow") is None


def test_a_chunked_20_mb_draft_over_a_real_socket_is_413_and_not_saved(stack: Stack) -> None:
    """Through a real HTTP server (werkzeug's, as `ivr run` serves): the 20 MB body of the report."""
    import socket
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sent = {"bytes": 0}

    def send_chunked(sock: socket.socket) -> None:
        head = (f"PUT /api/flows/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY_A}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b" " * 65536
        try:
            sock.sendall(head.encode() + b'%x\r\n{"id": "big", "name": "\r\n' % len(b'{"id": "big", "name": "'))
            while sent["bytes"] < 20 * 1024 * 1024:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent["bytes"] += len(chunk)
            sock.sendall(b'2\r\n"}\r\n0\r\n\r\n')
        except OSError:
            pass  # the server answered and closed: it stopped reading, which is the point

    try:
        with socket.create_connection(server.server_address, timeout=20) as sock:
            sender = threading.Thread(target=send_chunked, args=(sock,), daemon=True)
            sender.start()
            reply = b""
            while b"\r\n\r\n" not in reply:
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
            assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    finally:
        server.shutdown()
    assert stack.store.get_draft("demo", "big") is None


def test_invalid_bodies_are_explained_in_the_projects_words(stack: Any) -> None:
    """Field errors of request bodies and schedules say what is wrong and how to fix it, not pydantic's
    wording ("Input should be ...")."""
    reply = stack.api("PUT", "/api/schedules/hours", json={"timezone": "America/New_York", "colour": "red",
                      "overrides": [{"start": "2026-11-24T00:00", "end": "2026-11-25T00:00", "mode": "maybe",
                                     "reason": "x"}]})  # fmt: skip
    assert reply.status_code == 422
    details = {d["field"]: d["message"] for d in reply.get_json()["error"]["details"]}
    assert details["overrides.0.mode"] == "mode is 'maybe'; use 'closed' or 'open'"
    assert details["colour"] == "unknown field 'colour'; remove it or check its spelling"
    assert not any("Input should be" in m for m in details.values())
