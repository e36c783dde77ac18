"""X-Twilio-Signature at the HTTP boundary: every forgery is 403 and changes nothing; every request
Twilio would really sign passes, however odd its query string.

Twilio signs the URL exactly as it requested it (scheme, host, path, raw query) followed by the POST
parameters sorted by name; the webhooks rebuild that URL as PUBLIC_BASE_URL + the raw request target.
twilio's RequestValidator accepts a signature over the URL with or without the scheme's default port
(https -> :443), because Twilio's own signing is inconsistent about it; any other port is a different
URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from livestack import (
    ACCOUNT_A,
    ACCOUNT_B,
    B_NUMBER,
    BASE,
    DEMO_NUMBER,
    STEP_FRAGMENT,
    TOKEN_A,
    TOKEN_B,
    Stack,
    problems_in,
    sign,
)  # fmt: skip

EXISTING = "CA" + "e" * 32  # a live call of tenant A, at seq 1 (waiting in the main menu)
NEW = "CA" + "n" * 32  # the call an accepted forged incoming webhook would create
INCOMING = "/webhook/voice/incoming"


def params(sid: str = NEW, account: str = ACCOUNT_A, to: str = DEMO_NUMBER, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": account, "From": "+15005550006", "To": to, "Caller": "+15005550006",
            "Called": to, "Direction": "inbound", "CallStatus": "ringing", "ApiVersion": "2010-04-01",
            **extra}  # fmt: skip


def step_params(**extra: str) -> dict[str, str]:
    return params(EXISTING, CallStatus="in-progress", Digits="1", **extra)


@dataclass
class Forgery:
    """POST ``sent`` to ``target`` with ``headers`` (None: sign ``signed`` over ``signed_url``)."""

    target: str
    sent: dict[str, str]
    signed_url: str | None = None
    signed: dict[str, str] | None = None
    token: str = TOKEN_A
    headers: dict[str, str] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None

    def send(self, stack: Stack) -> object:
        if self.headers is not None:
            headers = self.headers
        else:
            url = self.signed_url or BASE + self.target
            headers = {"X-Twilio-Signature": sign(url, self.sent if self.signed is None else self.signed,
                                                  self.token)}  # fmt: skip
        headers = {**headers, **self.extra_headers}
        if self.raw_body is not None:
            from livestack import client

            return client(stack.app).post(self.target, data=self.raw_body, headers=headers, base_url=BASE,
                                          content_type="application/x-www-form-urlencoded")  # fmt: skip
        return stack.post(self.target, self.sent, headers)


def _sha256_signature(url: str, sent: dict[str, str]) -> str:
    text = url + "".join(k + sent[k] for k in sorted(sent))
    return base64.b64encode(hmac.new(TOKEN_A.encode(), text.encode(), hashlib.sha256).digest()).decode()


def _cases() -> dict[str, Callable[[], Forgery]]:
    step = "/webhook/voice/step?seq=2"
    p, s = params(), step_params()
    return {
        # the parameters
        "tampered value": lambda: Forgery(INCOMING, {**p, "From": "+15005550007"}, signed=p),
        "tampered digits on a step": lambda: Forgery(step, {**s, "Digits": "2"}, signed=s),
        "added parameter": lambda: Forgery(INCOMING, {**p, "ForwardedFrom": "+15005550009"}, signed=p),
        "removed parameter": lambda: Forgery(INCOMING, {k: v for k, v in p.items() if k != "From"}, signed=p),
        "repeated parameter with another value": lambda: Forgery(
            INCOMING, p, raw_body=(_form(p) + "&CallSid=CA" + "f" * 32).encode()
        ),
        "another call's signature": lambda: Forgery(INCOMING, p, signed=params("CA" + "0" * 32)),
        "signature of an empty body": lambda: Forgery(INCOMING, p, signed={}),
        "empty body signed over the bare URL": lambda: Forgery(INCOMING, {}, signed={}),
        # the path and query
        "wrong path": lambda: Forgery(INCOMING, p, signed_url=BASE + "/webhook/voice/status"),
        "wrong query (seq changed)": lambda: Forgery(step, s, signed_url=BASE + "/webhook/voice/step?seq=3"),
        "query added": lambda: Forgery(step, s, signed_url=BASE + "/webhook/voice/step?seq=2&x=1"),
        "query removed": lambda: Forgery(step, s, signed_url=BASE + "/webhook/voice/step"),
        "query re-ordered": lambda: Forgery(
            "/webhook/voice/step?seq=2&lang=en", s, signed_url=BASE + "/webhook/voice/step?lang=en&seq=2"
        ),
        "trailing slash signed, none sent": lambda: Forgery(INCOMING, p, signed_url=BASE + INCOMING + "/"),
        "trailing slash sent, none signed": lambda: Forgery(INCOMING + "/", p, signed_url=BASE + INCOMING),
        "%27 sent, ' signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&tag=%27x%27", s, signed_url=BASE + "/webhook/voice/step?seq=2&tag='x'"
        ),
        "' sent, %27 signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&tag='x'", s, signed_url=BASE + "/webhook/voice/step?seq=2&tag=%27x%27"
        ),
        "%7B%7D sent, {} signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&data=%7B%7D", s, signed_url=BASE + "/webhook/voice/step?seq=2&data={}"
        ),
        "+ sent, %20 signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&q=a+b", s, signed_url=BASE + "/webhook/voice/step?seq=2&q=a%20b"
        ),
        "+ sent, %2B signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&q=a+b", s, signed_url=BASE + "/webhook/voice/step?seq=2&q=a%2Bb"
        ),
        "percent-encoded non-ASCII sent, raw signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&name=Jos%C3%A9", s, signed_url=BASE + "/webhook/voice/step?seq=2&name=José"
        ),
        # the connection-override fragment: ours is accepted (tests below), no other
        "another fragment signed": lambda: Forgery(step, s, signed_url=BASE + step + "#ct=1000"),
        "empty fragment signed": lambda: Forgery(step, s, signed_url=BASE + step + "#"),
        "our fragment re-ordered": lambda: Forgery(
            step, s, signed_url=BASE + step + "#rt=5000&ct=2000&tt=12000&rc=2&rp=ct,rt,5xx"
        ),
        "our fragment with more after it": lambda: Forgery(step, s, signed_url=BASE + step + STEP_FRAGMENT + "&x=1"),
        "our fragment percent-encoded": lambda: Forgery(
            step, s, signed_url=BASE + step + STEP_FRAGMENT.replace(",", "%2C")
        ),
        "our fragment on another query": lambda: Forgery(
            step, s, signed_url=BASE + "/webhook/voice/step?seq=3" + STEP_FRAGMENT
        ),
        "lower-case percent-encoding signed": lambda: Forgery(
            "/webhook/voice/step?seq=2&name=Jos%C3%A9", s, signed_url=BASE + "/webhook/voice/step?seq=2&name=Jos%c3%a9"
        ),
        # scheme, host and port
        "http scheme": lambda: Forgery(INCOMING, p, signed_url="http://ivr.example.test" + INCOMING),
        "http scheme with :443": lambda: Forgery(INCOMING, p, signed_url="http://ivr.example.test:443" + INCOMING),
        "https with :80": lambda: Forgery(INCOMING, p, signed_url="https://ivr.example.test:80" + INCOMING),
        "https with :8443": lambda: Forgery(INCOMING, p, signed_url="https://ivr.example.test:8443" + INCOMING),
        "wrong host": lambda: Forgery(INCOMING, p, signed_url="https://evil.example" + INCOMING),
        "host with a suffix": lambda: Forgery(
            INCOMING, p, signed_url="https://ivr.example.test.evil.example" + INCOMING
        ),
        "spoofed X-Forwarded-* headers": lambda: Forgery(
            INCOMING,
            p,
            signed_url="http://evil.example" + INCOMING,
            extra_headers={"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example", "Host": "evil.example"},
        ),
        # the token and the account
        "wrong token": lambda: Forgery(INCOMING, p, token="not-the-auth-token-of-anyone-000"),
        "other tenant's token naming account A": lambda: Forgery(INCOMING, p, token=TOKEN_B),
        "unknown AccountSid": lambda: Forgery(INCOMING, {**p, "AccountSid": "AC" + "9" * 32}),
        "HMAC-SHA256 instead of SHA1": lambda: Forgery(
            INCOMING, p, headers={"X-Twilio-Signature": _sha256_signature(BASE + INCOMING, p)}
        ),
        "account B's valid signature for A's number": lambda: Forgery(
            INCOMING, params(account=ACCOUNT_B), token=TOKEN_B
        ),
        "account A's valid signature for B's number": lambda: Forgery(INCOMING, params(to=B_NUMBER)),
        "account B's valid signature for a step of A's call": lambda: Forgery(
            step, {**s, "AccountSid": ACCOUNT_B}, token=TOKEN_B
        ),
        "account B's valid signature for the status of A's call": lambda: Forgery(
            "/webhook/voice/status",
            params(EXISTING, account=ACCOUNT_B, CallStatus="completed", CallDuration="9"),
            token=TOKEN_B,
        ),
        # the header itself
        "missing header": lambda: Forgery(INCOMING, p, headers={}),
        "empty header": lambda: Forgery(INCOMING, p, headers={"X-Twilio-Signature": ""}),
        "garbage header": lambda: Forgery(INCOMING, p, headers={"X-Twilio-Signature": "AAAA"}),
        "signature in another header": lambda: Forgery(
            INCOMING, p, headers={"X-Twilio-Signature-Alt": sign(BASE + INCOMING, p)}
        ),
    }


def _form(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


CASES = _cases()


@pytest.fixture
def live(stack: Stack) -> Stack:
    """The stack with one live call of tenant A (EXISTING, waiting at the main menu)."""
    response = stack.signed_post(INCOMING, params(EXISTING))
    assert response.status_code == 200
    return stack


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_forged_request_is_403_and_changes_nothing(live: Stack, name: str) -> None:
    forgery = CASES[name]()
    before = live.stored(EXISTING)
    writes = live.store.writes
    response = forgery.send(live)
    assert response.status_code == 403, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert live.store.writes == writes
    assert live.store.read_call(NEW) is None
    assert live.stored(EXISTING) == before


# -- what must pass ---------------------------------------------------------------------------------

ODD_QUERIES = {
    "quotes": "?tag='x'&say=%22hi%22",
    "percent-encoded quotes": "?tag=%27x%27&say=%22hi%22",
    "braces": '?data={"a":[1,2]}',
    "percent-encoded braces": "?data=%7B%22a%22%3A%5B1%2C2%5D%7D",
    "plus signs": "?q=a+b&n=+15551234567",
    "percent-encoded non-ASCII": "?name=Jos%C3%A9&city=K%C3%B8benhavn",
    "raw non-ASCII": "?name=José&city=København",
    "everything": "?tag='x'&data={\"a\":1}&q=a+b&name=Jos%C3%A9&z=%7E~",
}


@pytest.mark.parametrize("query", list(ODD_QUERIES.values()), ids=list(ODD_QUERIES))
def test_incoming_with_an_odd_query_signed_over_the_raw_query_passes(stack: Stack, query: str) -> None:
    writes = stack.store.writes
    response = stack.signed_post(INCOMING + query, params())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert problems_in(response.get_data(as_text=True)) == []
    assert stack.store.writes == writes + 1
    assert stack.stored(NEW).status == "active"


@pytest.mark.parametrize("query", list(ODD_QUERIES.values()), ids=list(ODD_QUERIES))
def test_step_with_an_odd_query_signed_over_the_raw_query_advances_the_call(live: Stack, query: str) -> None:
    target = "/webhook/voice/step?seq=2&" + query.lstrip("?")
    response = live.signed_post(target, step_params())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Connecting you to sales." in response.get_data(as_text=True)
    assert live.stored(EXISTING).seq == 2


@pytest.mark.parametrize("fragment", ["", STEP_FRAGMENT], ids=["without the fragment", "with our fragment"])
def test_step_signed_over_the_url_with_or_without_our_connection_overrides_advances(live: Stack,
                                                                                    fragment: str) -> None:
    """Whether Twilio signs the action URL with the ``#ct=...`` fragment we emit is not documented:
    both forms are accepted (and only that exact fragment: see the forgeries above)."""
    target = "/webhook/voice/step?seq=2"
    writes = live.store.writes
    response = live.signed_post(target, step_params(), sign_url=BASE + target + fragment)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Connecting you to sales." in response.get_data(as_text=True)
    assert live.stored(EXISTING).seq == 2
    assert live.store.writes == writes + 1


def test_our_fragment_is_accepted_on_every_webhook_with_its_default_port_form(stack: Stack) -> None:
    response = stack.signed_post(INCOMING, params(), sign_url="https://ivr.example.test:443" + INCOMING + STEP_FRAGMENT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert stack.stored(NEW).status == "active"


def test_signature_over_the_url_with_the_default_port_passes(stack: Stack) -> None:
    # RequestValidator's documented tolerance: Twilio may sign https://host:443/... for https://host/...
    response = stack.signed_post(INCOMING, params(), sign_url="https://ivr.example.test:443" + INCOMING)
    assert response.status_code == 200
    assert stack.stored(NEW).status == "active"


def test_absolute_form_request_target_is_rebuilt_on_the_public_base(stack: Stack) -> None:
    # A proxy may forward "POST https://internal-host/webhook/... HTTP/1.1": only the path and query count.
    from livestack import client

    sent = params()
    response = client(stack.app).post("https://internal.run.app" + INCOMING, data=sent,
                                      headers={"X-Twilio-Signature": sign(BASE + INCOMING, sent)})  # fmt: skip
    assert response.status_code == 200
    assert stack.stored(NEW).status == "active"


def test_sub_account_signing_with_its_own_token_for_its_own_number_passes(stack: Stack) -> None:
    sent = params(account=ACCOUNT_B, to=B_NUMBER)
    response = stack.signed_post(INCOMING, sent, token=TOKEN_B)
    assert response.status_code == 200
    record = stack.stored(NEW)
    assert (record.tenant_id, record.account_sid) == ("tenant_b", ACCOUNT_B)
    step = stack.signed_post("/webhook/voice/step?seq=2", {**sent, "Digits": "1"}, token=TOKEN_B)
    assert step.status_code == 200 and "tenant_b.sales" in step.get_data(as_text=True)
    done = stack.signed_post("/webhook/voice/status", {**sent, "CallStatus": "completed"}, token=TOKEN_B)
    assert done.status_code == 200
    assert stack.stored(NEW).status == "ended"


def test_sub_account_token_cannot_sign_for_the_platform_account_number_even_with_its_sid(stack: Stack) -> None:
    writes = stack.store.writes
    response = stack.signed_post(INCOMING, params(account=ACCOUNT_A, to=B_NUMBER), token=TOKEN_B)
    assert response.status_code == 403
    assert stack.store.writes == writes


def test_without_raw_uri_the_url_is_rebuilt_from_path_and_raw_query(stack: Stack) -> None:
    """Servers that do not set RAW_URI/REQUEST_URI: PATH_INFO (re-quoted) + the raw QUERY_STRING."""
    from livestack import client

    inner = stack.app

    def plain_wsgi(environ: dict[str, object], start_response: object) -> object:
        environ.pop("RAW_URI", None)
        environ.pop("REQUEST_URI", None)
        return inner(environ, start_response)  # type: ignore[operator]

    target = INCOMING + "?tag=%27x%27&q=a+b&name=Jos%C3%A9"
    sent = params()
    response = client(plain_wsgi).post(target, data=sent, headers={"X-Twilio-Signature": sign(BASE + target, sent)},
                                       base_url=BASE)  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    decoded = sign(BASE + INCOMING + "?tag='x'&q=a b&name=José", sent)
    forged = client(plain_wsgi).post(target, data=sent, base_url=BASE, headers={"X-Twilio-Signature": decoded})
    assert forged.status_code == 403
