"""Who may do what: roles of API keys and the permissions they grant.

Rules owned here:
- Every tenant API key has one role. Each admin API operation needs one permission
  (``common.service.operations``); a role either grants it or the request is 403 ``forbidden``,
  naming the role, what it tried and which roles may.

      permission   admin  editor  deployer  viewer  agent   what it covers
      read           x      x        x        x             every GET of the tenant's data
      edit           x      x                               drafts (save, delete), publish, schedules, execute
      deploy         x               x                      deploy, promote, rollback, numbers (register, release)
      keys           x                                      the tenant's API keys (list, issue, revoke, rotate)
      whoami         x      x        x        x       x     GET /api/whoami
      route          x      x        x                      POST /api/departments/route (a live call joins a queue)
      status         x      x                         x     POST /api/agents/{agentId}/status (an agent key:
                                                            only the agent bound to it, checked by the service)

- ``public`` operations (health, the OpenAPI document) need no key; ``platform`` operations need the
  platform admin key and nothing else opens them; ``task`` operations (the routing timers) take the
  tasks' OIDC token or a laptop's shared secret, never an API key, so no role grants them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from common.adapters.ports import ApiKey, Role, Tenant

ROLES: tuple[Role, ...] = get_args(Role)

GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "edit", "deploy", "keys", "whoami", "route", "status"}),
    "editor": frozenset({"read", "edit", "whoami", "route", "status"}),
    "deployer": frozenset({"read", "deploy", "whoami", "route"}),
    "viewer": frozenset({"read", "whoami"}),
    "agent": frozenset({"whoami", "status"}),
}


@dataclass(frozen=True)
class Principal:
    """The caller behind a tenant API key."""

    tenant: Tenant
    role: Role
    key_id: str


def key_id_of(key: ApiKey) -> str:
    """Keys stored before ids existed are named by the start of their hash (never the key itself)."""
    return key.key_id or f"key_{key.key_hash[:16]}"


def may(role: str, permission: str) -> bool:
    return permission in GRANTS.get(role, frozenset())


def roles_granting(permission: str) -> list[str]:
    return [role for role in ROLES if may(role, permission)]
