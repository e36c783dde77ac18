"""Pydantic's validation errors, said in the project's words: what is wrong and how to fix it.

``explain(model, exc)`` turns one ``ValidationError`` raised by ``model`` into ``(path, message)``
pairs, one per wrong field.

Rules owned here:
- A path is the field as the flow document spells it (``data.target.numbers.0``): pydantic's
  bookkeeping segments (a discriminated union's tag such as ``number``, a plain union's member such
  as ``constrained-int`` or ``literal['auto']``, a dict key's ``[key]``) are dropped, because no
  designer can find them in the document.
- The errors pydantic reports once per member of a plain union (``speechTimeout`` is ``"auto"`` or a
  number) become one message that names every accepted form.
- A message says the value found and the values allowed, with the unit the docs use
  (``timeout is 90; use 1 to 60 seconds``). Both bounds come from the model's own constraints, so a
  changed limit changes the message too.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from common.core.flow import E164_PATTERN, IDENTIFIER_PATTERN, NODE_ID_PATTERN

#: the unit a number is counted in, by field name (docs/flow-format.md uses the same words)
UNITS = {"timeout": "seconds", "speechTimeout": "seconds", "maxLength": "seconds", "timeoutSeconds": "seconds",
         "loop": "times", "maxAttempts": "attempts", "numDigits": "digits", "minDigits": "digits",
         "maxDigits": "digits"}  # fmt: skip

#: what each pattern of the models means, in words a designer can act on (a test checks every
#: pattern of the models is here)
PATTERN_HELP = {
    E164_PATTERN: "is not an E.164 number: write + then country code and number, digits only "
    "(for example +14155550123)",
    IDENTIFIER_PATTERN: "is not a valid variable name: use letters, digits and _, starting with a "
    "letter or _ (at most 64 characters)",
    NODE_ID_PATTERN: "is not a valid id: use 1-64 letters, digits, '_', '-', '.' or ':'",
    r"^[A-Za-z0-9_-]{1,64}$": "is not a valid flow id: use 1-64 letters, digits, '_' or '-'",
    r"^https?://\S+$": "is not a URL: write http:// or https:// and the address, without spaces",
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": "is not a language tag: write it like en-US, fr-FR or es",
    r"^[A-Za-z0-9_.-]{1,48}$": "is not a valid department name: use 1-48 letters, digits, '_', '.' or '-'",
    r"^sips?:\S+@\S+$": "is not a SIP URI: write sip:user@host (or sips:), without spaces",
    r"^[A-Za-z0-9_.@-]{1,121}$": "is not a valid client identity: use 1-121 letters, digits, '_', '.', '@' "
    "or '-'",
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$": "is not a valid schedule name: use 1-64 letters, digits, '_', "
    "'.' or '-', starting with a letter, digit or '_'",
    r"^[A-Za-z0-9-]{1,64}$": "is not a valid header name: use 1-64 letters, digits or '-'",
}
_SAY_LIMIT = " (Twilio speaks at most 4096 characters in one Say; split the text)"
_NONE = type(None)


def explain(model: type[BaseModel], exc: ValidationError) -> list[tuple[str, str]]:
    """``(dotted path, message)`` for every wrong field, in pydantic's order, one per field."""
    grouped: dict[tuple[str, bool], list[tuple[dict[str, Any], Any]]] = {}
    for details in exc.errors(include_url=False):
        err: dict[str, Any] = dict(details)
        path, target, is_key = _resolve(model, err["loc"])
        grouped.setdefault((".".join(map(str, path)), is_key), []).append((err, target))
    whole = _SUBJECTS.get(model.__name__, "a node")  # what an error about the whole document is about
    return [(path, _message(path or whole, is_key, errors)) for (path, is_key), errors in grouped.items()]


_SUBJECTS = {"Edge": "an edge", "FlowSettings": "settings", "Flow": "a flow"}


# -- where an error is: the document's path and the type found there ---------------------------------


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated (keeping its constraints) and Optional."""
    metadata: list[Any] = []
    while True:
        if get_origin(tp) is Annotated:
            tp, *extra = get_args(tp)
            for item in extra:  # Field(ge=1) inside Annotated arrives as a FieldInfo holding the bounds
                metadata += item.metadata if isinstance(item, FieldInfo) else [item]
        elif _is_union(tp) and _NONE in get_args(tp):
            rest = [a for a in get_args(tp) if a is not _NONE]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 - built at run time
        else:
            return tp, metadata


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (info.alias, field_name):
            return info
    return None


def _member(tp: Any, segment: Any) -> Any:
    """The union member a pydantic loc segment names (a tag value or a type's name), or None."""
    for member in get_args(tp):
        inner, _ = _unwrap(member)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            tag = _field(inner, "type")
            if tag is not None and get_origin(tag.annotation) is Literal and segment in get_args(tag.annotation):
                return member
            continue
        name = str(segment).removeprefix("constrained-")
        if name == getattr(inner, "__name__", None) or (name.startswith("literal[") and get_origin(inner) is Literal) \
                or (name.startswith("list[") and get_origin(inner) is list):  # fmt: skip
            return member
    return None


def _resolve(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[Any], Any, bool]:
    """(document path, annotated type at the error, whether the error is about a dict key)."""
    path: list[Any] = []
    tp: Any = model
    for index, segment in enumerate(loc):
        inner, _ = _unwrap(tp)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            info = _field(inner, str(segment))
            tp = None if info is None else Annotated[(info.annotation, *info.metadata)] if info.metadata \
                else info.annotation  # fmt: skip
            path.append(segment)
        elif get_origin(inner) is list:
            tp = get_args(inner)[0]
            path.append(segment)
        elif get_origin(inner) is dict:
            path.append(segment)
            if loc[index + 1:index + 2] == ("[key]",):  # the key itself is wrong, not its value
                return path, get_args(inner)[0], True
            tp = get_args(inner)[1]
        elif _is_union(inner) and _member(inner, segment) is not None:
            tp = _member(inner, segment)  # bookkeeping: not part of the document's path
        else:
            tp = None
            path.append(segment)
    return path, tp, False


# -- what to say --------------------------------------------------------------------------------------


def _bounds(metadata: list[Any]) -> tuple[Any, Any]:
    low = high = None
    for item in metadata:
        if isinstance(item, Ge | Gt):
            low = item.ge if isinstance(item, Ge) else item.gt
        elif isinstance(item, Le | Lt):
            high = item.le if isinstance(item, Le) else item.lt
        elif isinstance(item, MinLen):
            low = item.min_length
        elif isinstance(item, MaxLen):
            high = item.max_length
        else:  # StringConstraints
            low = getattr(item, "min_length", None) if getattr(item, "min_length", None) is not None else low
            high = getattr(item, "max_length", None) if getattr(item, "max_length", None) is not None else high
    return low, high


def _pattern(metadata: list[Any]) -> str | None:
    return next((item.pattern for item in metadata if getattr(item, "pattern", None)), None)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(low: Any, high: Any, unit: str = "") -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{_num(low)} to {_num(high)}{unit}"
    if low is not None:
        return f"at least {_num(low)}{unit}"
    return f"at most {_num(high)}{unit}" if high is not None else f"a number{unit}"


def show(value: Any) -> str:
    """A value as the message quotes it: short, and in JSON's words for JSON's types."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return _num(value)
    return "a list" if isinstance(value, list) else "an object"


def _describe(tp: Any, name: str) -> str:
    """The values a type accepts, for 'use ...'."""
    inner, metadata = _unwrap(tp)
    if _is_union(inner):
        members = [m for m in get_args(inner) if not (m is int and float in get_args(inner))]  # a number is enough
        forms = list(dict.fromkeys(_describe(member, name) for member in members))
        return forms[0] if len(forms) == 1 else ", ".join(forms[:-1]) + " or " + forms[-1]
    if get_origin(inner) is Literal:
        values = [show(v) for v in get_args(inner)]
        return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
    if inner is bool:
        return "true or false"
    if inner in (int, float):
        low, high = _bounds(metadata)
        if low is None and high is None:
            return "a whole number" if inner is int else "a number"
        return _range(low, high, UNITS.get(name, ""))
    if inner is str:
        return "text"
    if get_origin(inner) is list:
        return "a list"
    if get_origin(inner) is dict or (isinstance(inner, type) and issubclass(inner, BaseModel)):
        return "an object"
    return "a valid value"


def _name(path: str) -> str:
    """The field as a message names it: from its last named segment on (``hints.0``, ``timeout``)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if not parts[i].isdigit():
            return ".".join(parts[i:])
    return path


def _message(path: str, is_key: bool, errors: list[tuple[dict[str, Any], Any]]) -> str:
    if len(errors) == 1:
        return _single(path, is_key, *errors[0])
    # One error per member of a plain union: name every accepted form at once.
    name = _name(path)
    members = tuple(target for _, target in errors if target is not None)
    accepted = Union[members] if len(members) > 1 else members[0] if members else None  # noqa: UP007
    return f"{name} is {show(errors[0][0].get('input'))}; use {_describe(accepted, name.split('.')[-1])}"


_RANGE_TYPES = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_TYPE_WORDS = {"string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
               "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
               "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list"}  # fmt: skip


def _single(path: str, is_key: bool, err: dict[str, Any], target: Any) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    name = _name(path)
    leaf = name.split(".")[-1]
    _, metadata = _unwrap(target)
    if is_key:
        help_text = PATTERN_HELP.get(ctx.get("pattern", ""), "is not an allowed name")
        return f"{show(value)} {help_text}"
    if kind == "missing":
        return f"missing required field '{err['loc'][-1]}'; add it"
    if kind == "extra_forbidden":
        return f"unknown field '{err['loc'][-1]}'; remove it or check its spelling"
    if kind in _RANGE_TYPES:
        return f"{name} is {show(value)}; use {_range(*_bounds(metadata), UNITS.get(leaf, ''))}"
    if kind == "string_pattern_mismatch":
        help_text = PATTERN_HELP.get(ctx.get("pattern", ""), f"does not have the expected form ({ctx.get('pattern')})")
        return f"{show(value)} {help_text}"
    if kind in ("string_too_short", "string_too_long"):
        low, high = _bounds(metadata)
        found = "empty" if not value else f"{len(str(value))} characters long"
        advice = f"{name} is {found}; use {_range(low, high)} characters"
        return advice + (_SAY_LIMIT if high == 4096 else "")
    if kind in ("too_short", "too_long"):
        low, high = _bounds(metadata)
        count = ctx.get("actual_length")
        found = "empty" if count == 0 else f"{count} item(s) long" if count is not None else "too long"
        return f"{name} is {found}; give {_range(low, high)} item(s)"
    if kind == "literal_error":
        return f"{name} is {show(value)}; use {ctx.get('expected', 'one of the documented values')}"
    if kind == "union_tag_invalid":
        return f"{name} type {show(ctx.get('tag'))} is not known; use one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"{name} needs a 'type' field naming its kind; see the docs for the accepted types"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{name} must be a JSON object, not {show(value)}"
    if kind in _TYPE_WORDS:
        wanted = _describe(target, leaf)
        if kind == "int_from_float" and "whole" not in wanted:
            wanted += " (a whole number)"
        return f"{name} is {show(value)}; use {wanted}"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{name}: {err['msg']}"


def model_patterns(model: type[BaseModel]) -> Iterator[str]:
    """Every pattern constraint reachable from ``model`` (for the test that PATTERN_HELP is complete)."""
    seen: set[Any] = set()

    def walk(tp: Any) -> Iterator[str]:
        inner, metadata = _unwrap(tp)
        found = _pattern(metadata)
        if found:
            yield found
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if inner in seen:
                return
            seen.add(inner)
            for info in inner.model_fields.values():
                yield from walk(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)
        else:
            for arg in get_args(inner):
                if not isinstance(arg, str | int | float | bool):
                    yield from walk(arg)

    yield from walk(model)
