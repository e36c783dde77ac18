"""Helpers for the admin API tests that run on both stores.

    from apikit import any_stack, body, send   # any_stack: a fixture, memory and Firestore emulator

``any_stack`` is ``livestack.build_stack`` (tenant A = demo with support_line on DEMO_NUMBER, tenant B
on B_NUMBER) on the embedded store and on FirestoreStore against Google's emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from livestack import API_KEY_A, BASE, Stack, build_stack, client
from werkzeug.test import TestResponse

from common import bootstrap


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator)])
def any_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    store = request.getfixturevalue(f"{request.param}_store")
    yield build_stack(store, all_examples=False)
    bootstrap.install(None)


def body(response: TestResponse) -> Any:
    return json.loads(response.get_data(as_text=True))


def send(stack: Stack, method: str, path: str, raw: bytes | str, content_type: str | None = "application/json",
         headers: dict[str, str] | None = None, key: str | None = API_KEY_A,
         **environ: Any) -> TestResponse:  # fmt: skip
    """A request with a raw body and exactly the Content-Type given (None: no Content-Type)."""
    sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    if content_type is not None:
        sent["Content-Type"] = content_type
    data = raw.encode() if isinstance(raw, str) else raw
    return client(stack.app).open(path, method=method, data=data, headers=sent, base_url=BASE,
                                  environ_overrides=environ or None)  # fmt: skip


def small_flow(flow_id: str = "menu_flow", text: str = "Hello.") -> dict[str, Any]:
    return {"id": flow_id, "name": f"{flow_id} menu",
            "nodes": [{"id": "start", "type": "startNode", "position": {"x": 0, "y": 0}, "data": {}},
                      {"id": "hi", "type": "sayNode", "position": {"x": 0, "y": 1}, "data": {"text": text}},
                      {"id": "bye", "type": "hangupNode", "position": {"x": 0, "y": 2}, "data": {}}],
            "edges": [{"id": "e1", "source": "start", "target": "hi"},
                      {"id": "e2", "source": "hi", "target": "bye"}]}  # fmt: skip
