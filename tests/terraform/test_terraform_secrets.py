"""Structural tests of the secrets: containers without versions, no secret values anywhere, and the
grants on the tenants' Twilio auth tokens (twilio-token-<AccountSid>).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hcl_tree import (
    ACCOUNT_SID,
    ENVIRONMENTS,
    PLATFORM,
    SECRETISH_NAME,
    SECRETISH_VALUE,
    TF,
    all_module_dirs,
    block,
    function_catalogue,
    load_dir,
    load_file,
    locals_,
    resource,
    resources,
    variables,
    walk,
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
    values = load_file(path)
    declared = variables(TF / "environments" / env)
    for key, value in values.items():
        assert key in declared, f"{path.name} sets undeclared variable {key}"
        assert not SECRETISH_NAME.search(key), f"{path.name} sets {key}: secrets never go in tfvars"
        for item in _strings(value):
            assert not _looks_like_secret(item), f"{path.name}: {key} looks like a secret"
    required = {v for v, spec in declared.items() if "default" not in spec}
    assert required <= set(values), f"{path.name} misses required variables {sorted(required - set(values))}"


