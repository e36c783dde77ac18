"""A path functions-framework cannot route (an encoded line break) is answered by our 404 handler in
JSON, on every function, never Flask's HTML page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from livestack import API_KEY_A, Stack, build_stack, client

from common import bootstrap


@pytest.fixture
def stack(memory_store: object) -> Iterator[Stack]:
    yield build_stack(memory_store, all_examples=False)
    bootstrap.install(None)


@pytest.mark.parametrize("path", ["/api/flows/a%0Ab/execute", "/api/departments/route%0A",
                                  "/webhook/voice/incoming%0A", "/webhook/voice/step%0Ax"])  # fmt: skip
def test_a_line_break_in_the_path_is_a_json_404(stack: Stack, path: str) -> None:
    response = client().post(path, headers={"Authorization": f"Bearer {API_KEY_A}"}, data="{}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    error = json.loads(response.get_data(as_text=True))["error"]
    assert error["code"] == "not_found" and "control character" in error["message"]

