"""JSON over HTTP for the admin API: reading bodies safely, writing answers, entity tags.

Rules owned here:
- A body is at most ``MAX_BODY_BYTES``, read from the stream here and never further than one byte past
  the limit, with or without Content-Length (a chunked body cannot buffer 20 MB: 413).
- A non-empty body must be declared JSON (``application/json`` or ``application/*+json``, charset
  UTF-8 if any; otherwise 415), be UTF-8 JSON (400 with line and column), nest at most
  ``MAX_JSON_DEPTH`` arrays and objects (400 ``too_deep``), and hold no NaN or Infinity, which are
  not JSON (400). Answers never contain NaN or Infinity either (a stored one is sent as null).
- ETags are quoted (RFC 9110). ``If-Match`` takes quoted or bare etags, a list of them, or ``*``; it
  compares strongly, so a weak ``W/"..."`` tag never matches.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from common.service.admin import ApiError

log = logging.getLogger("ivr.api")

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
_READ_CHUNK = 64 * 1024


# -- answers ------------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(body: Any) -> str:
    """JSON text, never NaN or Infinity: a non-finite number stored before they were refused is null."""
    try:
        return json.dumps(body, indent=2, allow_nan=False)
    except ValueError:
        log.warning("an answer held NaN or Infinity; sent as null")
        return json.dumps(_finite(body), indent=2, allow_nan=False)


# -- bodies -------------------------------------------------------------------------------------------


class _NotJson(ValueError):
    pass


def _refuse_constant(token: str) -> Any:
    raise _NotJson(f"{token} is not JSON (RFC 8259 has no NaN or Infinity); send a number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"the number {text[:40]} is too large to be a finite number")
    return value


def is_json_type(content_type: str) -> bool:
    mime, _, parameters = content_type.partition(";")
    mime = mime.strip().lower()
    if mime != "application/json" and not (mime.startswith("application/") and mime.endswith("+json")):
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _read_bounded(request: Any) -> bytes:
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks, total = [], 0
    while total <= MAX_BODY_BYTES:
        chunk = request.stream.read(min(_READ_CHUNK, MAX_BODY_BYTES + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    raw = b"".join(chunks)
    # functions-framework reads the whole body again after every response (request.get_data()), which
    # would pull the rest of an oversized chunked body into memory: hand it what was read instead.
    request._cached_data = raw
    if total > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    return raw


def _depth(value: Any) -> int:
    """How many arrays and objects nest in ``value`` (iteratively: no recursion limit to hit)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def read_json(request: Any) -> Any:
    """The request's JSON body, or None when it has none (see the module docstring for the rules)."""
    has_body = (request.content_length or 0) > 0 or (
        request.content_length is None and "Transfer-Encoding" in request.headers)  # fmt: skip
    if not has_body:
        return None
    content_type = request.headers.get("Content-Type", "")
    if not is_json_type(content_type):
        raise ApiError(415, "unsupported_media_type", f"the body is declared {content_type or 'as nothing'!r}; "
                       "send JSON as application/json (or application/*+json), UTF-8")  # fmt: skip
    raw = _read_bounded(request)
    if not raw.strip():
        return None
    too_deep = ApiError(400, "too_deep", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text") from exc
    except RecursionError as exc:
        raise too_deep from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: line {exc.lineno} column {exc.colno}: "
                       f"{exc.msg}") from exc  # fmt: skip
    except ValueError as exc:  # NaN, Infinity, 1e999, an integer of more than 4300 digits
        raise ApiError(400, "invalid_json", f"the body is not JSON the API accepts: {exc}") from exc
    if _depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


# -- ETags --------------------------------------------------------------------------------------------

_ENTITY_TAG = re.compile(r'\s*(W/)?("[^"]*"|[^",\s]+)\s*(?:,|$)')


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def parse_if_match(header: str | None) -> list[str] | None:
    """The strong etags an If-Match header accepts (``["*"]`` for any), or None without the header.
    Weak tags are dropped: If-Match compares strongly, so they can never match."""
    if header is None:
        return None
    tags: list[str] = []
    for match in _ENTITY_TAG.finditer(header):
        if match.group(2) and not match.group(1):
            tags.append(match.group(2).strip('"'))
    return tags
