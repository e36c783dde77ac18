"""The admin API as an OpenAPI 3.1 document, generated from the operations table and the same pydantic
models that validate requests (``GET /api/openapi.json``).

Rules owned here:
- Request bodies are the models the service parses: the FlowDesigner ``Flow`` (common/core/flow.py)
  for drafts, ``Schedule`` for schedules, the request models of common/service/* for the rest. Two
  adjustments state what the API adds: a draft's ``id`` and a schedule's ``name`` come from the path
  when the body has none, so they are not required in the body.
- Path parameters carry the patterns of ``ids.PATH_PARAMS``; query parameters come from the
  operation's query model; optional request headers (If-Match) from ``request_headers``. Security
  follows the permission: none for public, the platform key, the routing timers' OIDC token or
  shared secret for ``task``, a tenant key for the rest. Responses are the models of ``api_models``;
  every status an operation can answer is listed (the status set follows from its shape: key, path
  parameters, query, body), so a fuzzer can hold the API to it.
- The document is built once per process and is the same for every caller (no key needed).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from common.config import package_version
from common.service import api_models, ids
from common.service.operations import Operation, operations

REASONS = {
    400: "invalid JSON, body, query or header value (the message names the field)",
    401: "no key, an unknown key or a revoked key",
    403: "the key's role may not do this, or a key of the wrong kind (tenant vs platform)",
    404: "no such resource (an id that cannot exist is reported the same way)",
    409: "a conflict: changed meanwhile, exists already, or in use",
    413: "the body is larger than 1 MiB (with or without Content-Length)",
    415: "the body is not declared as JSON (application/json or application/*+json, UTF-8)",
    422: "well-formed but not acceptable; details lists every problem",
    503: "the store (or Twilio, or the secret store) did not answer; retry after Retry-After seconds",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def statuses(op: Operation) -> list[int]:
    """Every status ``op`` may answer besides its success."""
    found = set(op.errors)
    if op.permission != "public":
        found |= {401, 403, 503}
    if op.params:
        found.add(404)
    if op.body is not None:
        found |= {400, 413, 415}
    if op.query is not None:
        found.add(400)
    return sorted(found)


def _models() -> list[tuple[type[BaseModel], Any]]:
    pairs: list[tuple[type[BaseModel], Any]] = [(api_models.ErrorBody, "serialization")]
    for op in operations():
        if op.body is not None:
            pairs.append((op.body, "validation"))
        if op.response is not None:
            pairs.append((op.response, "serialization"))
    return list(dict.fromkeys(pairs))


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: the ``null`` of an optional model field does not apply."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    out = {k: v for k, v in (options[0] if len(options) == 1 else schema).items()}
    for key in ("description", "default"):
        if key in schema and key not in out:
            out[key] = schema[key]
    if out.get("default", "") is None:
        del out["default"]
    return out


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True, "description": ids.PATH_PARAMS[name][1],
               "schema": {"type": "string", "pattern": ids.PATH_PARAMS[name][0]}} for name in op.params]  # fmt: skip
    if op.query is not None:
        schema = op.query.model_json_schema(by_alias=True)
        for name, prop in schema.get("properties", {}).items():
            prop = _not_null(prop)
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                           "schema": {k: v for k, v in prop.items() if k != "title"}})  # fmt: skip
    for name, text in op.request_headers.items():
        params.append({"name": name, "in": "header", "required": False, "schema": {"type": "string"},
                       "description": text})  # fmt: skip
    return params


def _content(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


@functools.cache
def _build() -> dict[str, Any]:
    key_map, defs = models_json_schema(_models(), by_alias=True, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return key_map[(model, mode)]  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for op in operations():
        responses: dict[str, Any] = {}
        if op.response is not None:
            answer = ref(op.response, "serialization")
            success: dict[str, Any] = {"description": op.summary, "content": _content(answer)}
            if op.headers:
                success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                      for name, text in op.headers.items() if name != "Retry-After"}  # fmt: skip
            for status in (op.success, *op.also_ok):
                responses[str(status)] = success
        for status in statuses(op):
            body = ref(op.response if op.name == "health" else api_models.ErrorBody, "serialization")
            responses[str(status)] = {"description": REASONS[status], "content": _content(body)}
            if status == 503:
                responses[str(status)]["headers"] = RETRY_AFTER
        item: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [_tag(op)],
                                "parameters": _parameters(op), "responses": responses,
                                "security": _security(op)}  # fmt: skip
        if op.body is not None:
            body_ref = ref(op.body, "validation")
            target = schemas[body_ref["$ref"].rsplit("/", 1)[-1]]
            item["requestBody"] = {"required": bool(target.get("required")), "content": _content(body_ref)}
        paths.setdefault(op.path, {})[op.method.lower()] = item
    _from_the_path(schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ivr-flows admin API", "version": package_version(),
                 "description": "Flows, versions, deployments, numbers, schedules, keys, tenants, "
                                "departments and agents. See docs/api.md and docs/routing-api.md."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "tenantKey": {"type": "http", "scheme": "bearer", "description": "a tenant API key (its role decides)"},
            "platformKey": {"type": "http", "scheme": "bearer", "description": "the platform admin key"},
            "tasksToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "an OIDC token of the tasks' service account (Cloud Tasks)"},
            "taskSecret": {"type": "apiKey", "in": "header", "name": "X-Ivr-Task-Secret",
                           "description": "the shared secret of a laptop stack or the Cloud Tasks emulator"}}},
    }  # fmt: skip


def _from_the_path(schemas: dict[str, Any]) -> None:
    """A draft's ``id`` and a schedule's ``name`` default to the path's flowId / name."""
    for name, field in (("Flow", "id"), ("Schedule", "name"), ("Schedule-Input", "name")):
        schema = schemas.get(name)
        if schema is not None and field in schema.get("required", []):
            schema["required"] = [f for f in schema["required"] if f != field]
            schema["properties"][field]["description"] = "defaults to the id in the path; must equal it if given"


def _tag(op: Operation) -> str:
    if op.permission == "platform":
        return "platform"
    parts = op.path.split("/")
    return parts[2] if len(parts) > 2 else "api"


def _security(op: Operation) -> list[dict[str, list[str]]]:
    if op.permission == "public":
        return []
    if op.permission == "task":
        return [{"tasksToken": []}, {"taskSecret": []}]
    return [{"platformKey": []}] if op.permission == "platform" else [{"tenantKey": []}]


def document() -> dict[str, Any]:
    """The OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_build())
