"""Settings, read once from the environment. No I/O, no clients: those are built in bootstrap.

    IVR_STORE               memory (default) | firestore
    PUBLIC_BASE_URL         the https origin Twilio calls (no path, no port); signatures are checked
                            against it, and every callback URL we emit starts with it
    TWILIO_AUTH_TOKEN       auth token of the platform's Twilio account
    TWILIO_ACCOUNT_SID      that account's SID (AC...)
    TWILIO_SUBACCOUNT_TOKENS  JSON {"AC...": "token"} for tenants on their own sub-accounts
    IVR_API_KEY_PEPPER      secret mixed into API-key hashes (HMAC-SHA256)
    IVR_NUMBER_CACHE_SECONDS  how long an instance caches a number's deployment (default 5; 0 = off)
    IVR_CALL_TTL_HOURS      an active call without a status callback expires after this (default 6)
    IVR_FALLBACK_DIAL       E.164 the fallback endpoint dials when the URL names none (optional)
    IVR_HTTP_NODE_TIMEOUT   upper bound in seconds for httpRequestNode requests (default 4)
    IVR_VERIFY_NUMBERS      twilio (default outside a local stack): a number may be registered only if
                            Twilio lists it on the tenant's account | off (default on a local stack)
    IVR_ENV                 local (default: HTTP nodes may call 127.0.0.1) | dev | prod (public hosts only)
    IVR_PLATFORM_ADMIN_KEY  the platform admin key (/api/platform/*); in production a Secret Manager
                            secret mounted as this variable. Unset: platform administration is off,
                            except on a local stack, which uses DEV_PLATFORM_ADMIN_KEY
    IVR_SECRETS             where tenants' Twilio auth tokens live: secretmanager (default outside a
                            local stack; Secret Manager in GOOGLE_CLOUD_PROJECT) | memory (default on a
                            local stack; lost on restart)
    IVR_ACCOUNT_CACHE_SECONDS  how long an instance keeps a linked account's token (default 30; 0 = off)
    IVR_EVENTS              where call events go (docs/events.md): pubsub (the default when
                            IVR_EVENTS_TOPIC is set) | duckdb (a local DuckDB file: what `ivr run` uses)
                            | memory (a list in the process) | off (the default otherwise: no outbox)
    IVR_EVENTS_TOPIC        the Pub/Sub topic, projects/PROJECT/topics/NAME (Terraform passes the id),
                            or NAME in GOOGLE_CLOUD_PROJECT
    IVR_EVENTS_DUCKDB       the DuckDB file of IVR_EVENTS=duckdb (default .ivr/events.duckdb)
    IVR_EVENTS_SWEEP_SECONDS  the sweeper republishes outboxes older than this (default 120)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Literal

DEV_ACCOUNT_SID = "AC00000000000000000000000000000dev"
DEV_AUTH_TOKEN = "dev-auth-token-not-secret-0000000"
DEV_API_KEY = "ivr_dev_demo_key_not_secret"
DEV_PLATFORM_ADMIN_KEY = "ivr_platform_dev_key_not_secret"


@dataclass(frozen=True)
class Settings:
    store: Literal["memory", "firestore"] = "memory"
    public_base_url: str = "http://127.0.0.1:8080"
    twilio_account_sid: str = DEV_ACCOUNT_SID
    # secrets stay out of repr(): a logged or printed Settings must not carry them
    twilio_auth_token: str = field(default=DEV_AUTH_TOKEN, repr=False)
    subaccount_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    api_key_pepper: str = field(default="dev-pepper", repr=False)
    number_cache_seconds: float = 5.0
    call_ttl_hours: float = 6.0
    fallback_dial: str | None = None
    http_node_timeout: float = 4.0
    environment: str = "local"
    verify_numbers: bool = False
    platform_admin_key: str | None = field(default=None, repr=False)
    secrets: Literal["memory", "secretmanager"] = "memory"
    secrets_project: str = ""
    token_cache_seconds: float = 30.0
    events: Literal["memory", "duckdb", "pubsub", "off"] = "off"
    events_topic: str = ""
    events_duckdb: str = ".ivr/events.duckdb"
    events_sweep_seconds: float = 120.0

    def auth_token_for(self, account_sid: str) -> str | None:
        if account_sid == self.twilio_account_sid:
            return self.twilio_auth_token
        return self.subaccount_tokens.get(account_sid)


class ConfigError(ValueError):
    pass


def package_version() -> str:
    """The installed ivr-flows version; a function bundle (common/ copied, not installed) says so."""
    from importlib import metadata

    try:
        return metadata.version("ivr-flows")
    except metadata.PackageNotFoundError:
        return os.environ.get("IVR_RELEASE", "0+bundle")


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    store = env.get("IVR_STORE", "memory")
    if store not in ("memory", "firestore"):
        raise ConfigError(f"IVR_STORE={store!r}: use 'memory' or 'firestore'")
    try:
        subaccounts = json.loads(env.get("TWILIO_SUBACCOUNT_TOKENS", "{}"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TWILIO_SUBACCOUNT_TOKENS is not JSON: {exc.msg}") from exc
    local = env.get("IVR_ENV", "local") == "local"
    secret_backend = env.get("IVR_SECRETS", "memory" if local else "secretmanager").replace("secret-manager",
                                                                                           "secretmanager")
    if secret_backend not in ("memory", "secretmanager"):
        raise ConfigError(f"IVR_SECRETS={secret_backend!r}: use 'secretmanager' or 'memory'")
    platform_key = env.get("IVR_PLATFORM_ADMIN_KEY") or (DEV_PLATFORM_ADMIN_KEY if local else None)
    if platform_key is not None and len(platform_key) < 20:
        raise ConfigError("IVR_PLATFORM_ADMIN_KEY is too short: use at least 20 random characters")
    events, topic = _events(env)
    base = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8080").rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ConfigError(f"PUBLIC_BASE_URL={base!r}: give the origin Twilio calls, e.g. https://ivr.example.com")
    return Settings(
        store=store,  # type: ignore[arg-type]
        public_base_url=base,
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", DEV_ACCOUNT_SID),
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", DEV_AUTH_TOKEN),
        subaccount_tokens={str(k): str(v) for k, v in subaccounts.items()},
        api_key_pepper=env.get("IVR_API_KEY_PEPPER", "dev-pepper"),
        number_cache_seconds=float(env.get("IVR_NUMBER_CACHE_SECONDS", "5")),
        call_ttl_hours=float(env.get("IVR_CALL_TTL_HOURS", "6")),
        fallback_dial=env.get("IVR_FALLBACK_DIAL") or None,
        http_node_timeout=min(float(env.get("IVR_HTTP_NODE_TIMEOUT", "4")), 5.0),
        environment=env.get("IVR_ENV", "local"),
        verify_numbers=env.get("IVR_VERIFY_NUMBERS", "off" if local else "twilio") == "twilio",
        platform_admin_key=platform_key,
        secrets=secret_backend,  # type: ignore[arg-type]
        secrets_project=env.get("GOOGLE_CLOUD_PROJECT", ""),
        token_cache_seconds=float(env.get("IVR_ACCOUNT_CACHE_SECONDS", "30")),
        events=events,  # type: ignore[arg-type]
        events_topic=topic,
        events_duckdb=env.get("IVR_EVENTS_DUCKDB") or ".ivr/events.duckdb",
        events_sweep_seconds=_seconds(env, "IVR_EVENTS_SWEEP_SECONDS", "120"),
    )


def _events(env: dict[str, str]) -> tuple[str, str]:
    """(IVR_EVENTS, the topic's full name)."""
    topic = env.get("IVR_EVENTS_TOPIC", "").strip()
    events = env.get("IVR_EVENTS") or ("pubsub" if topic else "off")
    if events not in ("memory", "duckdb", "pubsub", "off"):
        raise ConfigError(f"IVR_EVENTS={events!r}: use 'pubsub', 'duckdb', 'memory' or 'off'")
    if topic and not topic.startswith("projects/"):
        project = env.get("GOOGLE_CLOUD_PROJECT", "")
        if not project:
            raise ConfigError(f"IVR_EVENTS_TOPIC={topic!r} names no project: write projects/PROJECT/topics/{topic} "
                              "or set GOOGLE_CLOUD_PROJECT")  # fmt: skip
        topic = f"projects/{project}/topics/{topic}"
    if events == "pubsub" and not topic:
        raise ConfigError("IVR_EVENTS=pubsub needs IVR_EVENTS_TOPIC (projects/PROJECT/topics/NAME)")
    return events, topic


def _seconds(env: dict[str, str], name: str, default: str) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        raise ConfigError(f"{name}={env.get(name)!r}: give a number of seconds") from None
    if not 0 <= value <= 86_400:
        raise ConfigError(f"{name}={value:g}: give 0 to 86400 seconds")
    return value
