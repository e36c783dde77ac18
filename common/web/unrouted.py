"""What a function answers for a request its framework could not route to it.

functions-framework mounts each function at ``/`` and ``/<path:path>``. werkzeug's ``path`` converter
matches any character but a newline, so a request whose path holds an encoded line break (``%0A``)
matches no rule and Flask answers its HTML "404 Not Found" page before our code runs. Every answer of
ours is JSON (the admin API) or TwiML; ``install`` registers a handler that answers that 404 as JSON in
the admin API's error shape, naming the path."""

from __future__ import annotations

import json
from typing import Any

MAX_PATH_SHOWN = 200


def not_found(error: Any) -> tuple[str, int, dict[str, str]]:
    from flask import request

    path = request.path[:MAX_PATH_SHOWN]
    reason = "it holds a control character (a line break?)" if any(ord(c) < 32 for c in path) else "no such path"
    body = {"error": {"code": "not_found", "message": f"{path!r} is not served here: {reason}",
                      "details": [{"field": "path", "message": reason}]}}  # fmt: skip
    return json.dumps(body), 404, {"Content-Type": "application/json"}


def install(framework: Any) -> None:
    """Call from a function's main.py with the functions_framework module, at import time."""
    framework.errorhandler(404)(not_found)
