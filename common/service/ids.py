"""The identifiers the admin API accepts: one pattern per kind, checked at the edge.

Rules owned here:
- Every id that becomes part of a document path (flow ids, versions, schedule names, deployment ids,
  key ids, tenant ids, phone numbers, Twilio account SIDs) is checked against its pattern before any
  store sees it: in the path (an invalid segment is 404, since no such resource can exist), in the
  query and in bodies (400 naming the field). The same request therefore gets the same answer on
  every store; Firestore would refuse ``/``, ``.``, ``..``, ``""`` and ``__name__`` ids with an error.
- No pattern can produce a reserved Firestore id: ids may not start with two underscores, may not be
  empty, and never contain ``/``. The patterns avoid look-arounds so that pydantic's regex engine,
  the OpenAPI document and its fuzzers all read them the same way.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

from common.core.flow import E164_PATTERN

# 1-64 characters; "_" alone or one leading "_" is fine, two are not (no "__name__" can be formed)
FLOW_ID = r"^(?:[A-Za-z0-9-][A-Za-z0-9_-]{0,63}|_[A-Za-z0-9-][A-Za-z0-9_-]{0,62}|_)$"
SCHEDULE_NAME = r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}|_[A-Za-z0-9][A-Za-z0-9_.-]{0,62}|_)$"
_SEMVER = r"(?:0|[1-9][0-9]{0,5})\.(?:0|[1-9][0-9]{0,5})\.(?:0|[1-9][0-9]{0,5})"  # ASCII digits only
VERSION = rf"^{_SEMVER}$"
VERSION_OR_DRAFT = rf"^(?:draft|{_SEMVER})$"
DEPLOYMENT_ID = r"^dep_[A-Za-z0-9]{1,60}$"
KEY_ID = r"^key_[A-Za-z0-9]{1,64}$"
TENANT_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ACCOUNT_SID = r"^AC[0-9A-Za-z]{32}$"
ENVIRONMENT = r"^[a-z][a-z0-9-]{0,31}$"
E164 = E164_PATTERN


def _id_chars_but(excluded: str = "") -> str:
    """The character class of routing ids (letters, digits, '_', '.', '-') less ``excluded``."""
    parts = []
    for low, high in (("A", "Z"), ("a", "z"), ("0", "9")):
        run: list[str] = []
        for char in [*map(chr, range(ord(low), ord(high) + 1)), ""]:
            if char and char not in excluded:
                run.append(char)
            elif run:
                parts.append(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
                run = []
    parts += [c for c in "_." if c not in excluded] + ["-" if "-" not in excluded else ""]  # "-" last: literal
    return "[" + "".join(parts) + "]"


def _not_word(word: str, longest: int) -> str:
    """Strings of 0..longest id characters other than ``word`` (no look-arounds: by length, then by the
    first character that differs)."""
    c = _id_chars_but()
    options = [f"{c}{{0,{len(word) - 1}}}", f"{c}{{{len(word) + 1},{longest}}}"]
    for i, char in enumerate(word):
        rest = len(word) - i - 1
        options.append(re.escape(word[:i]) + _id_chars_but(char) + (f"{c}{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(options) + ")"


def routing_id(longest: int, reserved: tuple[str, ...] = ()) -> str:
    """1-``longest`` letters, digits, '_', '.', '-', except what Firestore reserves ('.', '..', '__x__') and
    the ``reserved`` words (lower-case, distinct first letters: literal paths next to the parameter)."""
    c, n = _id_chars_but(), longest
    starts = "._" + "".join(word[0] for word in reserved)
    branches = [f"{_id_chars_but(starts)}{c}{{0,{n - 1}}}"]
    branches += [re.escape(word[0]) + _not_word(word[1:], n - 1) for word in reserved]
    branches += [rf"\.{_id_chars_but('.')}{c}{{0,{n - 2}}}", rf"\.\.{c}{{1,{n - 2}}}"]  # not "." or ".."
    not_under = _id_chars_but("_")  # "__x__" is reserved; "_", "__", "___" and "__x_" are not
    branches += ["_", f"_{not_under}{c}{{0,{n - 2}}}", "__", "___", f"__{c}{{0,{n - 3}}}{not_under}",
                 f"__{c}{{0,{n - 4}}}{not_under}_"]  # fmt: skip
    return "^(?:" + "|".join(branches) + ")$"


# the literal segments beside {departmentId} (POST /api/departments/route, /api/departments/tasks/{kind})
DEPARTMENT_ID = routing_id(48, reserved=("route", "tasks"))
AGENT_ID = routing_id(64)
TASK_KIND = r"^(?:escalate|sweep|callback)$"

FlowId = Annotated[str, StringConstraints(pattern=FLOW_ID)]
ScheduleName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME)]
Version = Annotated[str, StringConstraints(pattern=VERSION)]
VersionOrDraft = Annotated[str, StringConstraints(pattern=VERSION_OR_DRAFT)]
DeploymentId = Annotated[str, StringConstraints(pattern=DEPLOYMENT_ID)]
KeyId = Annotated[str, StringConstraints(pattern=KEY_ID)]
TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID)]
AccountSid = Annotated[str, StringConstraints(pattern=ACCOUNT_SID)]
Environment = Annotated[str, StringConstraints(pattern=ENVIRONMENT)]
E164Number = Annotated[str, StringConstraints(pattern=E164)]

#: Path parameters by name: (pattern, what a valid one looks like).
PATH_PARAMS: dict[str, tuple[str, str]] = {
    "flowId": (FLOW_ID, "flow ids are 1-64 letters, digits, '_' or '-', not starting with '__'"),
    "version": (VERSION, "versions are MAJOR.MINOR.PATCH, e.g. 1.2.0"),
    "name": (SCHEDULE_NAME, "schedule names are 1-64 letters, digits, '_', '.' or '-', starting with a letter, "
             "a digit or one '_'"),
    "keyId": (KEY_ID, "key ids look like key_0123abcd"),
    "tenantId": (TENANT_ID, "tenant ids are 1-40 lower-case letters, digits, '_' or '-'"),
    "phoneNumber": (E164, "numbers are E.164, e.g. +14155550123 (%2B14155550123 in a URL)"),
    "departmentId": (DEPARTMENT_ID, "department ids are 1-48 letters, digits, '_', '.' or '-', not '.', '..', "
                     "'__x__', 'route' or 'tasks'"),
    "agentId": (AGENT_ID, "agent ids are 1-64 letters, digits, '_', '.' or '-', not '.', '..' or '__x__'"),
    "kind": (TASK_KIND, "task kinds are escalate, sweep or callback"),
    "callSid": (r"^CA[0-9A-Za-z]{32}$", "call sids are CA followed by 32 letters or digits"),
}  # fmt: skip

_compiled = {name: re.compile(pattern) for name, (pattern, _) in PATH_PARAMS.items()}


def path_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be the path parameter ``name`` (None when it can)."""
    if _compiled[name].fullmatch(value):  # fullmatch: "$" alone would accept a trailing newline
        return None
    return f"{value[:80]!r} is not a valid {name}: {PATH_PARAMS[name][1]}"
