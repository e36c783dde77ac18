"""Tenants, their Twilio accounts and their API keys: the platform administration and a tenant admin's
key management.

Rules owned here:
- The platform admin key (settings ``platform_admin_key``) opens ``/api/platform/*`` and nothing
  else; no tenant key opens it (403 for a valid tenant key, 401 for anything else). Without a
  configured key, platform administration is off (401 saying so).
- Creating a tenant links it to its Twilio account or sub-account and issues its first admin key.
  An account belongs to at most one tenant (409 ``account_taken``). The auth token goes to the
  secret store under a name derived from the AccountSid; Firestore holds only the account index
  (AccountSid -> tenant, secret name). Tokens are never logged or echoed, and never in an error.
  The platform's own account (TWILIO_ACCOUNT_SID) is not indexed: its token is the platform's.
- Relinking replaces the token (same account) or moves the tenant to another account: the new one is
  claimed and its token stored first, then the tenant record, then the old entry and secret go.
- Keys are random, shown once, stored as an HMAC hash; each has a public id (``key_...``), a role
  and a label. Revoking keeps the record (listed as revoked) and the key stops working at once.
  Rotating issues a key with the same role and label and revokes the old one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from common.adapters.ports import ApiKey, Role, Store, Tenant, TwilioAccount
from common.adapters.secrets import SecretStore
from common.config import Settings
from common.service import ids
from common.service.access import key_id_of
from common.service.admin import ApiError, _Body, hash_key, parse
from common.service.twilio_tokens import TwilioTokens, secret_name

log = logging.getLogger("ivr.tenants")

AuthToken = Field(min_length=16, max_length=128, pattern=r"^[\x21-\x7e]+$", description="write-only")


class TwilioLink(_Body):
    twilio_account_sid: ids.AccountSid
    twilio_auth_token: str = AuthToken


class TenantRequest(TwilioLink):
    id: ids.TenantId
    name: str = Field(min_length=1, max_length=200)


class KeyRequest(_Body):
    role: Role
    label: str = Field("", max_length=100)


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {"id": tenant.id, "name": tenant.name, "twilioAccountSid": tenant.twilio_account_sid,
            "createdAt": tenant.created_at}  # fmt: skip


def key_view(key: ApiKey) -> dict[str, Any]:
    view: dict[str, Any] = {"keyId": key_id_of(key), "label": key.label, "role": key.role,
                            "createdAt": key.created_at, "revoked": key.revoked}  # fmt: skip
    return view


class TenantService:
    def __init__(self, store: Store, settings: Settings, now: Callable[[], datetime], secrets_: SecretStore,
                 tokens: TwilioTokens) -> None:  # fmt: skip
        self.store, self.settings, self.now, self.secrets, self.tokens = store, settings, now, secrets_, tokens

    # -- the platform admin key ------------------------------------------------------------------

    def is_platform_key(self, authorization: str | None) -> bool:
        scheme, _, key = (authorization or "").partition(" ")
        expected = self.settings.platform_admin_key
        return bool(expected and scheme.lower() == "bearer" and key.strip()
                    and hmac.compare_digest(key.strip().encode(), expected.encode()))  # fmt: skip

    # -- tenants ---------------------------------------------------------------------------------

    def create(self, body: Any) -> dict[str, Any]:
        request: TenantRequest = parse(TenantRequest, body)
        if self.store.get_tenant(request.id) is not None:
            raise ApiError(409, "tenant_exists", f"tenant '{request.id}' exists already")
        tenant = Tenant(id=request.id, name=request.name, twilio_account_sid=request.twilio_account_sid,
                        created_at=self.now().isoformat())  # fmt: skip
        self._link(tenant, request)
        if not self.store.create_tenant(tenant):
            self._unlink(tenant.id, request.twilio_account_sid)
            raise ApiError(409, "tenant_exists", f"tenant '{request.id}' was created concurrently")
        key, record = self._new_key(tenant.id, "admin", "first admin key")
        log.info("tenant %s created on Twilio account %s", tenant.id, tenant.twilio_account_sid)
        return {"tenant": tenant_view(tenant), "adminKey": {"keyId": record.key_id, "key": key}}

    def list_tenants(self) -> list[dict[str, Any]]:
        return [tenant_view(t) for t in self.store.list_tenants()]

    def get(self, tenant_id: str) -> Tenant:
        tenant = self.store.get_tenant(tenant_id)
        if tenant is None:
            raise ApiError(404, "not_found", f"tenant '{tenant_id}' does not exist")
        return tenant

    def relink(self, tenant_id: str, body: Any) -> dict[str, Any]:
        request: TwilioLink = parse(TwilioLink, body)
        tenant = self.get(tenant_id)
        old = tenant.twilio_account_sid
        self._link(tenant, request)
        if old != request.twilio_account_sid:
            tenant = tenant.model_copy(update={"twilio_account_sid": request.twilio_account_sid})
            self.store.put_tenant(tenant)
            self._unlink(tenant.id, old)
        log.info("tenant %s linked to Twilio account %s (was %s)", tenant.id, request.twilio_account_sid, old)
        return tenant_view(tenant)

    def _link(self, tenant: Tenant, request: TwilioLink) -> None:
        sid = request.twilio_account_sid
        if sid == self.settings.twilio_account_sid:
            if not hmac.compare_digest(request.twilio_auth_token.encode(), self.settings.twilio_auth_token.encode()):
                raise ApiError(422, "invalid_token", f"{sid} is the platform's own account; its auth token is "
                               "configured by the platform (TWILIO_AUTH_TOKEN), and this is not it")  # fmt: skip
            return
        link = TwilioAccount(account_sid=sid, tenant_id=tenant.id, secret_name=secret_name(sid),
                             linked_at=self.now().isoformat())  # fmt: skip
        if not self.store.claim_twilio_account(link):
            raise ApiError(409, "account_taken", f"Twilio account {sid} belongs to another tenant")
        self.secrets.put(link.secret_name, request.twilio_auth_token)
        self.tokens.forget(sid)

    def _unlink(self, tenant_id: str, account_sid: str) -> None:
        if account_sid == self.settings.twilio_account_sid:
            return
        if self.store.release_twilio_account(account_sid, tenant_id):
            self.secrets.delete(secret_name(account_sid))
        self.tokens.forget(account_sid)

    # -- keys ------------------------------------------------------------------------------------

    def _new_key(self, tenant_id: str, role: Role, label: str) -> tuple[str, ApiKey]:
        key = f"ivr_{tenant_id}_{secrets.token_urlsafe(24)}"
        record = ApiKey(key_hash=hash_key(key, self.settings.api_key_pepper), tenant_id=tenant_id, label=label,
                        created_at=self.now().isoformat(), key_id=f"key_{secrets.token_hex(8)}", role=role)  # fmt: skip
        self.store.put_api_key(record)
        return key, record

    def issue_key(self, tenant_id: str, body: Any) -> dict[str, Any]:
        request: KeyRequest = parse(KeyRequest, body)
        self.get(tenant_id)
        key, record = self._new_key(tenant_id, request.role, request.label)
        return {"keyId": record.key_id, "key": key, "role": record.role, "label": record.label}

    def list_keys(self, tenant_id: str) -> list[dict[str, Any]]:
        self.get(tenant_id)
        return [key_view(k) for k in self.store.list_api_keys(tenant_id)]

    def _find_key(self, tenant_id: str, key_id: str) -> ApiKey:
        found = next((k for k in self.store.list_api_keys(tenant_id) if key_id_of(k) == key_id), None)
        if found is None:
            raise ApiError(404, "not_found", f"key {key_id} does not exist")
        return found

    def revoke_key(self, tenant_id: str, key_id: str) -> dict[str, Any]:
        found = self._find_key(tenant_id, key_id)
        if not found.revoked:
            self.store.put_api_key(found.model_copy(update={"revoked": True, "revoked_at": self.now().isoformat()}))
        return {"revoked": key_id}

    def rotate_key(self, tenant_id: str, key_id: str) -> dict[str, Any]:
        found = self._find_key(tenant_id, key_id)
        if found.revoked:
            raise ApiError(409, "key_revoked", f"key {key_id} is revoked; issue a new key instead")
        key, record = self._new_key(tenant_id, found.role, found.label)
        self.store.put_api_key(found.model_copy(update={"revoked": True, "revoked_at": self.now().isoformat()}))
        return {"keyId": record.key_id, "key": key, "replaces": key_id}
