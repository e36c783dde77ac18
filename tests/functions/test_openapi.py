"""The OpenAPI document of the admin API, and every operation fuzzed against it with schemathesis.

The fuzzing runs in process against the WSGI stack (all four functions behind the local dispatcher,
the embedded store, the demo and B tenants seeded, department routing attached: the routing
operations are in the table and fuzzed like the rest): positive and negative cases per operation, with
a fixed seed and a bounded number of examples, and holds every answer to the document: no 5xx, only
declared statuses, content types and headers, and bodies that match their response schemas.
Invalid input must be refused with a 4xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from livestack import API_KEY_A, Stack, build_stack, wsgi_app
from routingkit import TASK_SECRET, attach_routing

from common import bootstrap
from common.config import DEV_PLATFORM_ADMIN_KEY
from common.core.flow import Flow
from common.service import ids, openapi
from common.service.deployments import DeployRequest
from common.service.operations import operations

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def fuzz_stack(memory_store: Any) -> Iterator[Stack]:
    stack = build_stack(memory_store, all_examples=False)
    attach_routing(stack)
    yield stack
    bootstrap.install(None)


def _stack_app(environ: dict[str, Any], start_response: Any) -> Any:
    """The local dispatcher, loaded on first request; it serves what the ``fuzz_stack`` installed."""
    return wsgi_app()(environ, start_response)


# Loaded from the same builder that serves GET /api/openapi.json (test_the_document_is_served... shows
# they are equal); schemathesis' fixture-based loader does not run on this pytest.
schema = schemathesis.openapi.from_dict(openapi.document())
schema.app = _stack_app

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_headers_conformance,
          schemathesis.checks.response_schema_conformance, schemathesis.checks.negative_data_rejection]  # fmt: skip


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_holds_to_the_document(fuzz_stack: Stack, case: Any) -> None:
    if case.operation.path.startswith("/api/departments/tasks/"):
        credential = {"X-Ivr-Task-Secret": TASK_SECRET}  # the routing timers' credential, not an API key
    else:
        key = DEV_PLATFORM_ADMIN_KEY if case.operation.path.startswith("/api/platform") else API_KEY_A
        credential = {"Authorization": f"Bearer {key}"}
    case.call_and_validate(headers=credential, checks=CHECKS)


# -- the document itself ------------------------------------------------------------------------------


def test_the_document_is_served_without_a_key_and_lists_every_operation(fuzz_stack: Stack) -> None:
    response = fuzz_stack.api("GET", "/api/openapi.json", key=None)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    served = json.loads(response.get_data(as_text=True))
    assert served == openapi.document()
    assert served["openapi"] == "3.1.0"
    listed = {(method.upper(), path) for path, item in served["paths"].items() for method in item}
    assert listed == {(op.method, op.path) for op in operations()}
    assert len({op.name for op in operations()}) == len(operations())


def test_bodies_are_the_models_that_validate_requests() -> None:
    schemas = openapi.document()["components"]["schemas"]
    deploy = DeployRequest.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    assert schemas["DeployRequest"]["properties"] == deploy["properties"]
    flow = Flow.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    assert schemas["Flow"]["properties"].keys() == flow["properties"].keys()
    assert "id" in flow["required"] and "id" not in schemas["Flow"]["required"]  # the path gives it
    put_flow = openapi.document()["paths"]["/api/flows/{flowId}"]["put"]
    assert put_flow["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Flow"}


def test_path_parameters_carry_the_id_patterns() -> None:
    for path, item in openapi.document()["paths"].items():
        for operation in item.values():
            for param in operation["parameters"]:
                if param["in"] == "path":
                    assert param["schema"]["pattern"] == ids.PATH_PARAMS[param["name"]][0], (path, param)


def test_security_follows_the_permission() -> None:
    doc = openapi.document()
    for op in operations():
        security = doc["paths"][op.path][op.method.lower()]["security"]
        by_permission: dict[str, list[dict[str, list[str]]]] = {
            "public": [], "platform": [{"platformKey": []}], "task": [{"tasksToken": []}, {"taskSecret": []}]}
        expected = by_permission.get(op.permission, [{"tenantKey": []}])
        assert security == expected, op.name
