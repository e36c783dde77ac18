"""Settings of the admin API: the platform admin key, where Twilio tokens live, and secrets kept out of repr."""

from __future__ import annotations

import pytest

from common import bootstrap, config
from common.adapters.secrets import MemorySecretStore, SecretManagerStore


def test_a_local_stack_has_a_dev_platform_key_and_memory_secrets() -> None:
    settings = config.from_env({})
    assert settings.platform_admin_key == config.DEV_PLATFORM_ADMIN_KEY
    assert settings.secrets == "memory"
    assert isinstance(bootstrap._secret_store(settings), MemorySecretStore)


@pytest.mark.parametrize("value", ["secretmanager", "secret-manager"])
def test_production_defaults_to_secret_manager_and_no_platform_key(value: str) -> None:
    settings = config.from_env({"IVR_ENV": "prod", "GOOGLE_CLOUD_PROJECT": "p1"})
    assert settings.platform_admin_key is None and settings.secrets == "secretmanager"
    assert config.from_env({"IVR_ENV": "prod", "IVR_SECRETS": value}).secrets == "secretmanager"
    store = bootstrap._secret_store(settings)
    assert isinstance(store, SecretManagerStore) and store.project == "p1"


def test_bad_values_are_config_errors() -> None:
    with pytest.raises(config.ConfigError, match="IVR_SECRETS"):
        config.from_env({"IVR_SECRETS": "vault"})
    with pytest.raises(config.ConfigError, match="too short"):
        config.from_env({"IVR_PLATFORM_ADMIN_KEY": "short"})


def test_secrets_never_appear_in_the_settings_repr() -> None:
    settings = config.from_env({"TWILIO_AUTH_TOKEN": "tok-1234567890", "IVR_API_KEY_PEPPER": "pepper-xyz",
                                "IVR_PLATFORM_ADMIN_KEY": "platform-key-0123456789abc",
                                "TWILIO_SUBACCOUNT_TOKENS": '{"ACx": "sub-token-987"}'})  # fmt: skip
    shown = repr(settings)
    for secret in ("tok-1234567890", "pepper-xyz", "platform-key-0123456789abc", "sub-token-987"):
        assert secret not in shown
    assert settings.auth_token_for("ACx") == "sub-token-987"  # still there, just not shown
