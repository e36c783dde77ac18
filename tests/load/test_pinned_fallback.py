"""The region-pinned fallback webhook, /webhook/voice/fallback/<region> (docs/multi-region.md): the
load balancer sends it to one region only; the function serves it exactly like the fallback, with
its signature checked over the URL as requested and no store involved."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

FUNCTIONS_TESTS = str(Path(__file__).resolve().parents[1] / "functions")
if FUNCTIONS_TESTS not in sys.path:
    sys.path.insert(0, FUNCTIONS_TESTS)

from livestack import (  # noqa: E402
    ACCOUNT_A,
    BASE,
    DEMO_NUMBER,
    ExplodingStore,
    FakeFetcher,
    FrozenClock,
    Stack,
    env,
    sign,
    wsgi_app,
)  # fmt: skip

from common import bootstrap, config  # noqa: E402

PARAMS = {"CallSid": "CA" + "5" * 32, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER,
          "ErrorCode": "11200", "ErrorUrl": BASE + "/webhook/voice/incoming"}  # fmt: skip


@pytest.fixture
def storeless() -> Iterator[Stack]:
    settings = config.from_env(env())
    svc = bootstrap.build(settings, store=ExplodingStore(), now=FrozenClock(), fetcher=FakeFetcher())
    bootstrap.install(svc)
    yield Stack(svc, FakeFetcher(), wsgi_app(), FrozenClock())
    bootstrap.install(None)


def test_a_region_pinned_fallback_dials_like_the_fallback_without_the_store(storeless: Stack) -> None:
    target = "/webhook/voice/fallback/europe-west1?dial=+15551234567"
    response = storeless.signed_post(target, PARAMS)
    assert response.status_code == 200, response.get_data(as_text=True)
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.findtext("Dial", "").strip() == "+15551234567"
    plain = storeless.signed_post("/webhook/voice/fallback?dial=+15551234567", PARAMS)
    assert plain.get_data() == response.get_data()  # the same document as the unpinned fallback


def test_a_region_pinned_fallback_is_signature_checked_over_its_own_path(storeless: Stack) -> None:
    signed_elsewhere = sign(BASE + "/webhook/voice/fallback", PARAMS)  # not the URL Twilio requested
    response = storeless.post("/webhook/voice/fallback/us-central1", PARAMS, {"X-Twilio-Signature": signed_elsewhere})
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/webhook/voice/fallback/US-central1", "/webhook/voice/fallback/europe-west1/x",
                                  "/webhook/voice/fallback/x"])  # fmt: skip
def test_anything_else_under_the_fallback_is_not_found(storeless: Stack, path: str) -> None:
    assert storeless.signed_post(path, PARAMS).status_code == 404
