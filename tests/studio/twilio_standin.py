"""A stand-in for Twilio's REST API on 127.0.0.1, for the tests of a flow's SMS: it checks what
api.twilio.com checks (the account's path, its Basic auth, the form) and keeps every request."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT = "AC" + "a" * 32
TOKEN = "auth-token-of-account-a-00000000"
MESSAGE_SID = "SM" + "1" * 32


class TwilioStandIn:
    """Answers as Twilio's REST API does: 401 without the account's Basic auth, 404 off the account's
    path, 400 (code 21602) without a Body, else 201 with the new message."""

    def __init__(self, account: str = ACCOUNT, token: str = TOKEN) -> None:
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                stand_in.requests.append({"path": self.path, "form": form, "headers": dict(self.headers)})
                expected = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._answer(401, {"code": 20003, "message": "Authenticate"})
                if self.path != f"/2010-04-01/Accounts/{account}/Messages.json":
                    return self._answer(404, {"code": 20404, "message": "The requested resource was not found"})
                if self.headers.get("Content-Type") != "application/x-www-form-urlencoded" or not form.get("Body"):
                    return self._answer(400, {"code": 21602, "message": "Message body is required."})
                return self._answer(201, {"sid": MESSAGE_SID, "status": "queued", "to": form["To"][0]})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
