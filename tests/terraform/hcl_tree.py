"""Reading the Terraform configuration for the structural tests: python-hcl2 parses the HCL (no
provider, no network), and these helpers give the blocks, resources, modules, variables and locals
of one module directory, with python-hcl2's quoting and marker keys removed.

The tests only check what the configuration says, not what Google Cloud would accept: see
docs/terraform.md for what only a real `terraform plan` can tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = TF / "modules"
PLATFORM = MODULES / "platform"
FUNCTION = MODULES / "function"
ENVIRONMENTS = ("dev", "prod")

FUNCTIONS = ("incoming_call", "flow_step", "deploy_flow", "route_department")
WEBHOOK_FUNCTIONS = ("incoming_call", "flow_step")
PUBLIC_FUNCTIONS = ("incoming_call", "flow_step", "deploy_flow", "route_department")

EXPECTED_ROUTES = {
    "/webhook/voice/incoming": "incoming_call",
    "/webhook/voice/status": "incoming_call",
    "/webhook/voice/fallback": "incoming_call",
    "/webhook/voice/step": "flow_step",
    "/webhook/departments/*": "flow_step",
    "/api/*": "deploy_flow",
    "/console": "deploy_flow",
    "/console/*": "deploy_flow",
    "/api/departments/route": "route_department",
    "/api/departments/tasks/*": "route_department",
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


def load_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return _normalize(hcl2.load(fh))


@cache
def load_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of the .tf files of one module directory."""
    tree: dict[str, list[Any]] = {}
    files = sorted(directory.glob("*.tf"))
    assert files, f"no .tf files in {directory}"
    for path in files:
        for key, blocks in load_file(path).items():
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
        if rule["for_each"] == "${local.regional_path_rules}":
            continue  # region-pinned fallback paths (regions_webhooks.tf); empty with one region
        assert rule["for_each"] == "${local.lb_functions}"
        content = block(rule, "content")
        assert content["paths"] == "${path_rule.value.routes}"
        service = content["service"]
        regional = re.fullmatch(r"\$\{lookup\(local\.webhook_backend_ids, path_rule\.key, (.+)\)\}", service)
        if regional:  # the multi-region backend when there is one, else the function's own
            service = "${" + regional.group(1) + "}"
        assert backend_key(service, "path_rule") == "<iterated>"
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
