"""The stack served on a real socket by werkzeug's server, as `ivr run` serves it, with request targets
sent as raw bytes: the signature is checked over the URL Twilio signed, whatever the bytes.

A request target may carry raw UTF-8 (``?d=José`` as the bytes ``d=Jos\\xc3\\xa9``, not percent-encoded).
Twilio signs the URL as text, so the webhook must rebuild exactly ``...?d=José``. werkzeug's server
reads the request line as latin-1 (http.server) and then encodes that text as UTF-8 once more for
the WSGI environ, so without a correction the URL checked was ``...?d=JosÃ©`` and the request got 403.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from livestack import ACCOUNT_A, BASE, DEMO_NUMBER, Stack, sign

NEW = "CA" + "7" * 32
INCOMING = "/webhook/voice/incoming"


@pytest.fixture
def port(stack: Stack) -> Iterator[int]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, stack.app, threaded=True)  # what `ivr run` serves
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_port)
    server.shutdown()
    server.server_close()


def params(sid: str = NEW) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER,
            "Caller": "+15005550006", "Called": DEMO_NUMBER, "Direction": "inbound", "CallStatus": "ringing",
            "ApiVersion": "2010-04-01"}  # fmt: skip


def raw_post(port: int, target: bytes, sent: dict[str, str], signature: str) -> tuple[int, str]:
    """POST over a plain socket, the request line carrying ``target`` byte for byte."""
    body = urlencode(sent).encode()
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/x-www-form-urlencoded",
               "Content-Length": str(len(body)), "X-Twilio-Signature": signature, "Connection": "close"}  # fmt: skip
    head = b"POST " + target + b" HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    head += b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")


GENUINE = {
    "raw UTF-8": "?d=José",
    "raw UTF-8, several values": "?name=José&city=København&emoji=☎",
    "percent-encoded UTF-8": "?d=Jos%C3%A9",
    "raw and percent-encoded together": "?a=José&b=Jos%C3%A9&q=a+b&tag='x'",
}


@pytest.mark.parametrize("query", list(GENUINE.values()), ids=list(GENUINE))
def test_a_query_sent_as_raw_bytes_is_checked_over_the_url_twilio_signed(stack: Stack, port: int,
                                                                        query: str) -> None:  # fmt: skip
    sent = params()
    target = INCOMING + query
    status, body = raw_post(port, target.encode("utf-8"), sent, sign(BASE + target, sent))
    assert status == 200, body
    assert "<Gather" in body
    assert stack.stored(NEW).status == "active"


FORGED = {
    # what the double encoding made the webhook check: a signature over it must not pass
    "signed over the double-encoded text": "?d=José".encode().decode("latin-1"),
    "raw sent, percent-encoded signed": "?d=Jos%C3%A9",
    "raw sent, the letter without its accent signed": "?d=Jose",
}


@pytest.mark.parametrize("signed_query", list(FORGED.values()), ids=list(FORGED))
def test_raw_bytes_signed_over_any_other_text_are_refused(stack: Stack, port: int, signed_query: str) -> None:
    sent = params()
    writes = stack.store.writes
    signature = sign(BASE + INCOMING + signed_query, sent)
    status, body = raw_post(port, (INCOMING + "?d=José").encode("utf-8"), sent, signature)
    assert status == 403, body
    assert stack.store.writes == writes
    assert stack.store.read_call(NEW) is None


def test_a_step_with_raw_utf8_in_its_query_advances_the_call(stack: Stack, port: int) -> None:
    sent = params()
    assert raw_post(port, INCOMING.encode(), sent, sign(BASE + INCOMING, sent))[0] == 200
    step = {**sent, "CallStatus": "in-progress", "Digits": "1"}
    target = "/webhook/voice/step?seq=2&caller=Zoë"
    status, body = raw_post(port, target.encode("utf-8"), step, sign(BASE + target, step))
    assert status == 200, body
    assert "Connecting you to sales." in body
    assert stack.stored(NEW).seq == 2
