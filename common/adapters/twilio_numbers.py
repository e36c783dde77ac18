"""Does this Twilio account own this phone number? Asked before a tenant may register a number.

Numbers are global and a tenant's claim decides whose flow answers it, so a claim must be backed by
Twilio's own records: the number must be one of the IncomingPhoneNumbers of the tenant's account
(its sub-account, or the platform account). ``owns`` answers True, False, or None when Twilio could
not be asked (no credentials for that account, timeout, error): the caller refuses either way, with
a different message.

``TrustingOwnership`` is the embedded stand-in for a laptop stack, which has no Twilio account: it
accepts every claim and says so in its name.
"""

from __future__ import annotations

import logging
from typing import Any

from common.config import Settings

log = logging.getLogger("ivr.twilio")


class TwilioNumberOwnership:
    def __init__(self, settings: Settings, http_client: Any = None, timeout: float = 3.0) -> None:
        self.settings = settings
        self.http_client = http_client
        self.timeout = timeout

    def owns(self, account_sid: str, number: str) -> bool | None:
        token = self.settings.auth_token_for(account_sid)
        if token is None:
            log.error("no auth token for account %s; cannot verify %s", account_sid, number)
            return None
        from twilio.base.exceptions import TwilioException
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(account_sid, token, http_client=self.http_client or TwilioHttpClient(timeout=self.timeout))
        try:
            found = client.api.v2010.accounts(account_sid).incoming_phone_numbers.list(phone_number=number, limit=1)
        except (TwilioException, OSError) as exc:
            log.error("Twilio did not answer whether %s owns %s: %s", account_sid, number, exc)
            return None
        return any(getattr(item, "phone_number", None) == number for item in found)


class TrustingOwnership:
    """Local stacks only: no Twilio account to ask, so every claim is accepted."""

    def owns(self, account_sid: str, number: str) -> bool | None:
        return True
