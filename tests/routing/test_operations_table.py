"""The composed operations table: the routing operations reach it with their models, path parameter
patterns that no literal sub-path or reserved Firestore id matches, and roles in ``access.GRANTS``."""

from __future__ import annotations

import importlib
import random
import re
import sys
import types

import pytest

from common.service import access, ids, openapi, operations
from common.web import routing_api


def _valid_routing_id(value: str, longest: int, reserved: tuple[str, ...]) -> bool:
    """The rule in words: the core's characters and length, less Firestore's '.', '..', '__x__'."""
    return (re.fullmatch(rf"[A-Za-z0-9_.-]{{1,{longest}}}", value) is not None and value not in (".", "..")
            and re.fullmatch(r"__.*__", value, re.DOTALL) is None and value not in reserved)  # fmt: skip


@pytest.mark.parametrize(("name", "longest", "reserved"), [("departmentId", 48, ("route", "tasks")),
                                                           ("agentId", 64, ())])  # fmt: skip
def test_the_id_patterns_say_exactly_the_rule(name: str, longest: int, reserved: tuple[str, ...]) -> None:
    pattern = re.compile(ids.PATH_PARAMS[name][0])
    rng = random.Random(8)
    tricky = ["route", "tasks", "routes", "rout", "Route", "task", "tasksx", ".", "..", "...", ".a", "_", "__",
              "___", "____", "__a__", "__a_", "_a__", "a" * longest, "a" * (longest + 1), "", "a/b", "a\n"]  # fmt: skip
    alphabet = "aArRtTsSoOuUekK09_.-/ "
    samples = tricky + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest + 2)))
                        for _ in range(20_000)]  # fmt: skip
    for value in samples:
        assert (pattern.fullmatch(value) is not None) == _valid_routing_id(value, longest, reserved), value
    assert "(?=" not in pattern.pattern and "(?!" not in pattern.pattern  # read alike by every regex engine


def test_literal_sub_paths_are_never_parameters() -> None:
    literal = {"route", "tasks"}
    for op in routing_api.OPERATIONS:
        parts = op.path.split("/")
        for i, part in enumerate(parts):
            if part.startswith("{"):
                siblings = {other.path.split("/")[i] for other in routing_api.OPERATIONS
                            if len(other.path.split("/")) > i and other.path.split("/")[:i] == parts[:i]}  # fmt: skip
                for word in siblings & literal:
                    assert ids.path_problem(part[1:-1], word), (op.path, word)
    assert ids.path_problem("kind", "sweep") is None and ids.path_problem("kind", "sweeps")


def test_the_routing_operations_are_in_the_table_with_their_models() -> None:
    table = {op.name: op for op in operations.operations()}
    for op in routing_api.OPERATIONS:
        assert table[op.name] is op
        assert op.response is not None, op.name
        assert op.body is not None or op.method in ("GET", "DELETE"), op.name
    doc = openapi.document()
    assert doc["paths"]["/api/agents"]["get"]["parameters"][0]["name"] == "department"
    put = doc["paths"]["/api/departments/{departmentId}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DepartmentSettings"}
    assert [p["name"] for p in put["parameters"]] == ["departmentId", "If-Match"]
    assert doc["paths"]["/api/departments/tasks/{kind}"]["post"]["security"] == [{"tasksToken": []},
                                                                                 {"taskSecret": []}]  # fmt: skip


def test_route_and_status_are_granted_as_documented() -> None:
    assert access.roles_granting("route") == ["admin", "editor", "deployer"]
    assert access.roles_granting("status") == ["admin", "editor", "agent"]
    assert access.roles_granting("task") == []


def test_a_part_or_its_library_missing_adds_nothing(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    assert operations.part_operations("common.web.no_such_part") == ()
    real = importlib.import_module

    def importing(name: str, package: str | None = None) -> types.ModuleType:
        if name == "common.web.broken_part":  # the part exists, a library it imports does not
            raise ModuleNotFoundError("No module named 'somelib'", name="somelib")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", importing)
    assert operations.part_operations("common.web.broken_part") == ()
    assert "common.web.broken_part cannot be imported (somelib)" in caplog.text  # said, not swallowed


def test_a_part_table_of_another_kind_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    part = types.ModuleType("common.web.other_kind")
    part.OPERATIONS = (("list_things", "GET", "/api/things"), routing_api.OPERATIONS[0])  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "common.web.other_kind", part)
    assert operations.part_operations("common.web.other_kind") == (routing_api.OPERATIONS[0],)


def test_the_core_table_is_the_full_one_less_the_parts() -> None:
    parts = [op for part in operations.PARTS for op in operations.part_operations(part)]
    assert operations.operations() == operations.core_operations() + parts
    assert not {op.path for op in operations.core_operations()} & {op.path for op in routing_api.OPERATIONS}
