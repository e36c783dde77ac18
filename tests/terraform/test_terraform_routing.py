"""Structural tests of the department routing infrastructure: who may invoke route_department and
through which paths, the routing-timers queue and its identities, the environment the code reads,
and the Firestore indexes and field settings of the routing store's queries."""

from __future__ import annotations

import re

import pytest
from hcl_tree import (
    ENVIRONMENTS,
    FUNCTIONS,
    PLATFORM,
    block,
    function_catalogue,
    lb_route_table,
    load_file,
    locals_,
    modules,
    platform_call,
    resource,
    resources,
    variables,
)

TASKS_SA = "google_service_account.tasks_invoker"

# --------------------------------------------------------------------------------------------------
# Access to route_department
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_public_functions_and_their_ingress(function: str) -> None:
    entry = function_catalogue()[function]
    # Every function is invokable without a Google identity: Twilio sends none, admin API callers
    # carry API keys. The gate is in the app, and ingress keeps the direct URLs closed.
    assert entry["public"] is True, f"{function} must be publicly invokable"
    if function == "route_department":
        # Only the load balancer (and internal sources): not even lb_only_ingress = false opens it.
        assert entry["ingress"] == "ALLOW_INTERNAL_AND_GCLB"
    else:
        assert entry["ingress"] == "${local.public_ingress}"
    assert locals_(PLATFORM)["public_ingress"] == '${var.lb_only_ingress ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"}'
    assert modules(PLATFORM)["functions"]["function_config"]["ingress"] == "${each.value.ingress}"


def _resolve(table: dict[str, str], path: str, default: str = "deploy_flow") -> str:
    """The URL map's path rules: `/x/*` matches by prefix, anything else exactly, the longest wins."""
    matches = [rule for rule in table if (rule.endswith("/*") and path.startswith(rule[:-1])) or rule == path]
    return table[max(matches, key=len)] if matches else default


@pytest.mark.parametrize(
    ("path", "function"),
    [
        ("/api/departments/route", "route_department"),
        ("/api/departments/tasks/escalate", "route_department"),
        ("/api/departments/tasks/sweep", "route_department"),
        ("/api/departments/tasks/callback", "route_department"),
        ("/api/departments", "deploy_flow"),
        ("/api/departments/sales", "deploy_flow"),
        ("/api/departments/sales/stats", "deploy_flow"),
        ("/api/departments/route/extra", "deploy_flow"),
        ("/api/flows/support_line", "deploy_flow"),
        ("/webhook/voice/step", "flow_step"),
        ("/webhook/voice/incoming", "incoming_call"),
        ("/elsewhere", "deploy_flow"),
    ],
)
def test_load_balancer_sends_routing_paths_to_route_department_only(path: str, function: str) -> None:
    assert _resolve(lb_route_table(), path) == function


def test_route_department_routes() -> None:
    routes = function_catalogue()["route_department"]["routes"]
    assert routes == ["/api/departments/route", "/api/departments/tasks/*"]
    assert {p for p, f in lb_route_table().items() if f == "route_department"} == set(routes)


def test_tasks_identity_invokes_route_department_and_nothing_else() -> None:
    sa = resource(PLATFORM, "google_service_account", "tasks_invoker")
    assert sa["account_id"] == "${var.name_prefix}-tasks-invoker"
    binding = resource(PLATFORM, "google_cloud_run_service_iam_member", "tasks_invoke_route_department")
    assert binding["role"] == "roles/run.invoker"
    assert binding["service"] == '${module.functions["route_department"].name}'
    assert binding["member"] == f"serviceAccount:${{{TASKS_SA}.email}}"
    grants = [
        (name, r)
        for kind, named in resources(PLATFORM).items()
        if kind.endswith(("_iam_member", "_iam_binding"))
        for name, r in named.items()
        if f"{TASKS_SA}.email" in str(r.get("member", "")) + str(r.get("members", ""))
    ]
    assert [name for name, _ in grants] == ["tasks_invoke_route_department"], "the tasks identity holds one role"


# --------------------------------------------------------------------------------------------------
# Timers: the queue, who may enqueue, the environment
# --------------------------------------------------------------------------------------------------


def test_routing_timers_queues_for_at_least_once_timers() -> None:
    queues = resources(PLATFORM)["google_cloud_tasks_queue"]
    assert list(queues) == ["routing_timers"]
    queue = queues["routing_timers"]
    # sharded past one queue's 500 dispatches/s; the first keeps the name it always had
    assert queue["count"] == "${var.routing_timer_queues}"
    assert queue["name"] == '${count.index == 0 ? "routing-timers" : "routing-timers-${count.index}"}'
    shards = variables(PLATFORM)["routing_timer_queues"]
    assert shards["default"] == 1 and shards["type"] == "number"
    assert ">= 1" in shards["validation"][0]["condition"] and "<= 16" in shards["validation"][0]["condition"]
    moved = load_file(PLATFORM / "tasks.tf").get("moved", [])
    queue_address = "google_cloud_tasks_queue.routing_timers"
    kept = [{"from": "${" + queue_address + "}", "to": "${" + queue_address + "[0]}"}]
    assert moved == kept, "the existing queue is kept, not recreated"
    assert queue["location"] == "${var.region}"
    rate = block(queue, "rate_limits")
    assert rate["max_dispatches_per_second"] == 500
    concurrent = rate["max_concurrent_dispatches"]
    assert concurrent.startswith("${min(5000, ")
    for attribute in ("max_instances", "max_instance_request_concurrency"):
        assert f"local.route_department_sizing.{attribute}" in concurrent
    assert locals_(PLATFORM)["route_department_sizing"] == '${var.functions["route_department"]}'
    retry = block(queue, "retry_config")
    assert retry["max_attempts"] == 5
    assert retry["min_backoff"] == "1s"
    seconds = {k: float(retry[k].rstrip("s")) for k in ("min_backoff", "max_backoff")}
    assert seconds["min_backoff"] <= seconds["max_backoff"]
    assert retry["max_doublings"] >= 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_queue_concurrency_fits_route_department(env: str) -> None:
    """The queue's concurrency formula with each environment's sizing (defaults from the variable)."""
    sizing = platform_call(env)["functions"]["route_department"]
    type_expr = re.sub(r"\s+", " ", variables(PLATFORM)["functions"]["type"])
    default = int(re.search(r"max_instance_request_concurrency = optional\(number, (\d+)\)", type_expr).group(1))
    concurrency = sizing.get("max_instance_request_concurrency", default)
    limit = min(5000, sizing["max_instances"] * concurrency)
    assert 0 < limit <= 5000
    assert limit >= 100, f"{env}: {limit} concurrent timer requests is too few for a sweep burst"


def test_every_function_may_set_timers_on_that_queue_only() -> None:
    catalogue = function_catalogue()
    assert {f for f, e in catalogue.items() if e["enqueues_tasks"]} == set(FUNCTIONS)
    task_queues = locals_(PLATFORM)["task_queues"]
    each_queue = 'for i, queue in google_cloud_tasks_queue.routing_timers : "routing_timers_${i}" => queue.name'
    assert task_queues == "${{" + each_queue + "}}"
    assert "f.enqueues_tasks" in locals_(PLATFORM)["task_enqueue_grants"]
    enqueue = resource(PLATFORM, "google_cloud_tasks_queue_iam_member", "function_enqueuer")
    assert enqueue["for_each"] == "${local.task_enqueue_grants}"
    assert enqueue["role"] == "roles/cloudtasks.enqueuer"
    assert enqueue["name"] == "${each.value.queue}"
    assert enqueue["member"] == "serviceAccount:${google_service_account.function[each.value.function].email}"

    acts_as = resource(PLATFORM, "google_service_account_iam_member", "function_acts_as_tasks_invoker")
    assert acts_as["service_account_id"] == f"${{{TASKS_SA}.name}}"
    assert acts_as["role"] == "roles/iam.serviceAccountUser"
    assert "f.enqueues_tasks" in acts_as["for_each"]
    assert list(resources(PLATFORM)["google_service_account_iam_member"]) == ["function_acts_as_tasks_invoker"]
    for grant in resources(PLATFORM).get("google_project_iam_member", {}).values():
        assert "cloudtasks" not in grant["role"], "Cloud Tasks roles are granted on the queue, not the project"


def test_functions_know_the_queue_identity_and_audience() -> None:
    env = locals_(PLATFORM)["managed_environment"]
    assert env["IVR_TASKS"] == "cloudtasks"
    assert env["IVR_TASKS_QUEUE"] == "${local.routing_timer_queue_ids}"  # projects/P/locations/L/queues/Q,...
    assert locals_(PLATFORM)["routing_timer_queue_ids"] == '${join(",", google_cloud_tasks_queue.routing_timers[*].id)}'
    assert env["IVR_TASKS_SERVICE_ACCOUNT"] == f"${{{TASKS_SA}.email}}"
    assert env["IVR_TASKS_AUDIENCE"] == "${local.public_base_url}"
    assert env["PUBLIC_BASE_URL"] == "${local.public_base_url}", "tasks are POSTed to PUBLIC_BASE_URL + path"
    for retired in ("IVR_DISPATCH_QUEUE", "IVR_ESCALATION_QUEUE", "IVR_TASKS_INVOKER_SA", "IVR_ROUTE_DEPARTMENT_URL"):
        assert retired not in env
    reserved = " ".join(v["condition"] for v in variables(PLATFORM)["extra_environment"]["validation"])
    for name in ("IVR_TASKS", "IVR_TASKS_QUEUE", "IVR_TASKS_SERVICE_ACCOUNT", "IVR_TASKS_AUDIENCE"):
        assert f'"{name}"' in reserved, f"extra_environment must not override {name}"


# --------------------------------------------------------------------------------------------------
# Firestore
# --------------------------------------------------------------------------------------------------


def test_firestore_indexes_match_the_apps_queries() -> None:
    indexes = locals_(PLATFORM)["firestore_indexes"]
    found = {
        (
            spec["collection"],
            spec["query_scope"],
            tuple((f["field_path"], f["order"] or f["array_config"]) for f in spec["fields"]),
        )
        for spec in indexes.values()
    }
    agents = (("department_ids", "CONTAINS"), ("status", "ASCENDING"))
    assert found == {
        ("calls", "COLLECTION", (("status", "ASCENDING"), ("expires_at", "ASCENDING"))),
        ("entries", "COLLECTION", (("status", "ASCENDING"), ("priority", "DESCENDING"), ("arrived_at", "ASCENDING"))),
        ("agents", "COLLECTION", agents),
        ("agents", "COLLECTION_GROUP", agents),
    }
    for spec in indexes.values():
        for field in spec["fields"]:
            assert (field["order"] is None) != (field["array_config"] is None), f"{field}: an order or CONTAINS"

    index = resource(PLATFORM, "google_firestore_index", "this")
    assert index["for_each"] == "${local.firestore_indexes}"
    assert index["query_scope"] == "${each.value.query_scope}"
    assert index["collection"] == "${each.value.collection}"
    fields = index["dynamic"][0]["fields"]
    assert fields["for_each"] == "${each.value.fields}"
    content = block(fields, "content")
    assert content["order"] == "${fields.value.order}"
    assert content["array_config"] == "${fields.value.array_config}"


def test_queue_entries_expire_and_are_found_by_call_across_departments() -> None:
    fields = resources(PLATFORM)["google_firestore_field"]
    ttl = fields["entries_ttl"]
    assert (ttl["collection"], ttl["field"]) == ("entries", "expires_at")
    assert "ttl_config" in ttl
    call_sid = fields["entries_call_sid"]
    assert (call_sid["collection"], call_sid["field"]) == ("entries", "call_sid")
    indexes = {(i["order"], i["query_scope"]) for i in block(call_sid, "index_config")["indexes"]}
    # The collection group index the lookup needs, and the automatic ones an override replaces.
    assert indexes == {("ASCENDING", "COLLECTION_GROUP"), ("ASCENDING", "COLLECTION"), ("DESCENDING", "COLLECTION")}
    for field in fields.values():
        assert field["database"] == "${google_firestore_database.this.name}"
