"""What every ``ivr`` command shares: its errors, where the stack is, the HTTP call to it, help and tables.

    UsageError     bad arguments or an unreadable local file: exit 2
    ApiFailure     the API answered 4xx/5xx: its message and each detail, exit 1
    Unreachable    nothing answered at the URL: what to start, exit 1

Where the stack is: ``--url``, else $IVR_API_URL, else http://127.0.0.1:$PORT when PORT is set (what
``ivr run`` listens on), else http://127.0.0.1:8080. The API key: ``--api-key``, else $IVR_API_KEY,
else the local stack's dev key. Keys are never shown in help texts, only where they come from.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8080
URL_HELP = "base URL of the stack (default: $IVR_API_URL, else http://127.0.0.1:$PORT, else :8080; here %(default)s)"
START_HINT = "start one with `ivr run` (or `make run`), or point --url or $IVR_API_URL at a running stack"


class UsageError(Exception):
    """Bad arguments or a local file that cannot be read."""


class Unreachable(Exception):
    """No stack answered at the URL."""


class ApiFailure(Exception):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.code = error.get("code") if isinstance(error, dict) else None
        self.message = (error.get("message") if isinstance(error, dict) else None) or str(body)[:500]
        self.details = error.get("details") if isinstance(error, dict) else None
        super().__init__(f"HTTP {status}{f' {self.code}' if self.code else ''}: {self.message}")

    def detail_lines(self) -> list[str]:
        return describe_details(self.details)


def default_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("IVR_API_URL"):
        return env["IVR_API_URL"]
    return f"http://127.0.0.1:{env.get('PORT') or DEFAULT_PORT}"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps epilog examples as written and shows an option's default when it has a real one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], "", argparse.SUPPRESS) or \
                not action.option_strings:  # fmt: skip
            return text
        return f"{text} (default: %(default)s)"


def load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc


def describe_details(details: Any) -> list[str]:
    """An API error's details as lines: a validation report's issues, field errors, conflicts."""
    if details is None:
        return []
    if isinstance(details, dict) and ("errors" in details or "warnings" in details):
        items = [*(details.get("errors") or []), *(details.get("warnings") or [])]
    else:
        items = details if isinstance(details, list) else [details]
    return [_detail(item) for item in items]


def _detail(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    if "message" in item and ("severity" in item or "node_id" in item or "edge_id" in item):
        where = [f"node '{item['node_id']}'" if item.get("node_id") else "",
                 f"edge '{item['edge_id']}'" if item.get("edge_id") else "",
                 f"field '{item['field']}'" if item.get("field") else ""]  # fmt: skip
        prefix = ", ".join(w for w in where if w)
        return f"{item.get('severity', 'error')}: {prefix + ': ' if prefix else ''}{item['message']}"
    if "message" in item:
        return f"{item['field']}: {item['message']}" if item.get("field") else str(item["message"])
    return ", ".join(f"{key} {value}" for key, value in item.items())


def request(url: str, method: str, path: str, body: Any = None, key: str | None = None,
            timeout: float = 15.0, headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    """(status, JSON body) of one API call, with ``headers`` added (If-Match); raises Unreachable, or
    ApiFailure for 4xx/5xx."""
    import requests

    if not url.startswith(("http://", "https://")):
        raise UsageError(f"the stack URL {url!r} has no scheme; write it like http://127.0.0.1:8080 "
                         "(--url or $IVR_API_URL)")  # fmt: skip
    target = url.rstrip("/") + path
    sent = {"X-Ivr-Author": os.environ.get("USER", "cli"), **(headers or {})}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    try:
        reply = requests.request(method, target, json=body, headers=sent, timeout=timeout)
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise Unreachable(f"the stack is not reachable at {url} ({reason}); {START_HINT}") from exc
    except requests.Timeout as exc:
        raise Unreachable(f"the stack at {url} did not answer within {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise UsageError(f"cannot call {target}: {exc}") from exc
    try:
        data = reply.json()
    except ValueError:
        data = {"error": {"message": reply.text[:500] or reply.reason}}
    if reply.status_code >= 400:
        raise ApiFailure(reply.status_code, data)
    return reply.status_code, data


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], empty: str = "(none)") -> str:
    """Aligned columns for people; ``empty`` when there are no rows."""
    if not rows:
        return empty
    cells = [[("-" if value in (None, "") else str(value)) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
