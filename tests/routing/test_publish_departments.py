"""Publish and deploy refuse flows that transfer to a department the tenant lacks (when routing is wired)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from common import bootstrap, config
from common.adapters.memory import MemoryStore
from common.service.admin import ApiError


def _stack() -> tuple[bootstrap.Services, Any]:
    svc = bootstrap.build(config.from_env({}), store=MemoryStore())
    assert svc.routing is not None
    bootstrap.seed_demo(svc)  # departments sales and support, support_line deployed to the demo number
    return svc, svc.admin.authenticate(f"Bearer {config.DEV_API_KEY}")


def _support_line_to(department: str) -> dict[str, Any]:
    flow = json.loads((bootstrap.EXAMPLES / "support_line.json").read_text(encoding="utf-8"))
    moved = copy.deepcopy(flow)
    for node in moved["nodes"]:
        target = node.get("data", {}).get("target", {})
        if node["type"] == "transferNode" and target.get("type") == "department" and target["department"] == "sales":
            target["department"] = department
    assert moved != flow, "support_line transfers to sales"
    return moved


def test_the_demo_seed_publishes_with_its_departments() -> None:
    svc, tenant = _stack()
    assert {d["id"] for d in svc.routing.admin.list_departments(tenant.id)} >= {"sales", "support"}  # type: ignore[union-attr]


def test_publishing_a_transfer_to_a_missing_department_is_refused() -> None:
    svc, tenant = _stack()
    svc.admin.put_flow(tenant, "support_line", _support_line_to("billing"), None, author="tests")
    with pytest.raises(ApiError) as refused:
        svc.deployments.publish(tenant, "support_line", {"version": "2.0.0"}, author="tests")
    assert refused.value.status == 422
    codes = {issue["code"] for issue in refused.value.details["errors"]}
    assert "unknown_department" in codes
    assert len(svc.deployments.list_versions(tenant, "support_line")) == 1  # only the seed's: nothing published


def test_deploying_a_version_whose_department_was_deleted_is_refused() -> None:
    svc, tenant = _stack()
    routing = svc.routing
    assert routing is not None
    sales, _ = routing.admin.get_department(tenant.id, "sales")
    settings = {k: v for k, v in sales.items() if k not in ("id", "etag", "updatedAt", "updatedBy")}
    routing.admin.put_department(tenant.id, "billing", settings)
    svc.admin.put_flow(tenant, "support_line", _support_line_to("billing"), None, author="tests")
    svc.deployments.publish(tenant, "support_line", {"version": "2.0.0"}, author="tests")
    routing.admin.delete_department(tenant.id, "billing")
    with pytest.raises(ApiError) as refused:
        svc.deployments.deploy(tenant, "support_line", {"phoneNumbers": [bootstrap.DEMO_NUMBER], "version": "2.0.0"},
                               author="tests")  # fmt: skip
    assert refused.value.status == 422
    assert "transfers to department 'billing', which does not exist" in refused.value.message


def test_without_routing_departments_are_not_checked() -> None:
    svc = bootstrap.build(config.from_env({}), store=MemoryStore(), routing=None)
    bootstrap.seed_demo(svc)
    tenant = svc.admin.authenticate(f"Bearer {config.DEV_API_KEY}")
    svc.admin.put_flow(tenant, "support_line", _support_line_to("billing"), None, author="tests")
    assert svc.deployments.publish(tenant, "support_line", {"version": "2.0.0"}, author="tests").version == "2.0.0"
