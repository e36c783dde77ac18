"""Which auth token verifies a webhook signed by a Twilio account: ``TwilioTokens.token(account_sid)``.

Rules owned here (``Services.twilio_token`` is this method):
- Lookup order: the platform account (settings: TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN); then
  TWILIO_SUBACCOUNT_TOKENS (kept for compatibility); then an account linked through the platform
  API: the account index (``twilio_accounts/{AccountSid}``) names the secret, the secret store holds
  the token. Anything else is None: unknown accounts are refused, not guessed.
- A string that cannot be an AccountSid (``AC`` + 32 letters or digits) is None without any I/O, so
  forged requests cannot make the store read odd document ids.
- Linked tokens are cached per instance for ``token_cache_seconds`` (default 30 s), unknown accounts
  for at most 5 s. The instance that relinks an account forgets it at once; the others see a new
  token within the cache time (a rotated Twilio token therefore fails signature checks on other
  instances for at most that long).
- It never raises. When the index or the secret store cannot be read, the last token this instance
  saw for that account is used (however old), else None; the failure is logged without the token.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from common.adapters.ports import Store
from common.adapters.secrets import SecretStore
from common.config import Settings
from common.service import ids

log = logging.getLogger("ivr.twilio")

UNKNOWN_CACHE_SECONDS = 5.0
_ACCOUNT_SID = re.compile(ids.ACCOUNT_SID)


def secret_name(account_sid: str) -> str:
    """The secret that holds a linked account's auth token (names are not secret; tokens are)."""
    return f"twilio-token-{account_sid}"


class TwilioTokens:
    def __init__(self, settings: Settings, store: Store, secrets: SecretStore,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.settings, self.store, self.secrets, self.clock = settings, store, secrets, clock
        self._cache: dict[str, tuple[float, str | None]] = {}  # sid -> (expires at, token)
        self._last: dict[str, str] = {}  # the last token read per sid, whatever its age
        self._lock = threading.Lock()

    def token(self, account_sid: str) -> str | None:
        if account_sid == self.settings.twilio_account_sid:
            return self.settings.twilio_auth_token
        legacy = self.settings.subaccount_tokens.get(account_sid)
        if legacy is not None:
            return legacy
        if not _ACCOUNT_SID.fullmatch(account_sid):
            return None
        now = self.clock()
        with self._lock:
            hit = self._cache.get(account_sid)
        if hit is not None and now < hit[0]:
            return hit[1]
        try:
            link = self.store.get_twilio_account(account_sid)
            found = self.secrets.get(link.secret_name) if link is not None else None
        except Exception as exc:  # an outage must not turn into a 5xx for Twilio
            log.error("token of Twilio account %s unreadable (%s); using the last one seen", account_sid,
                      type(exc).__name__)  # fmt: skip
            return self._last.get(account_sid)
        ttl = self.settings.token_cache_seconds if found is not None else min(
            UNKNOWN_CACHE_SECONDS, self.settings.token_cache_seconds)  # fmt: skip
        with self._lock:
            if ttl > 0:
                if len(self._cache) >= 20_000:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[account_sid] = (now + ttl, found)
            if found is not None:
                self._last[account_sid] = found
            else:
                self._last.pop(account_sid, None)
        return found

    def forget(self, account_sid: str) -> None:
        with self._lock:
            self._cache.pop(account_sid, None)
            self._last.pop(account_sid, None)
