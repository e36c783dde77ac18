"""Studio's voice widgets, each turned into the FlowDesigner nodes that behave as it does on a call.

Each converter reads one widget (its properties and transitions) and adds nodes and links to the
``Build``; it returns what the widget became, in words, for the import report. The mapping, widget by
widget, is the table in docs/studio-import.md; the rules that are not obvious from the code:

- gather-input-on-call listens for keys and speech (as Studio's Gather does) once, with no
  re-prompt (Studio has none); when keypress and speech lead to different widgets, a decision on
  ``widgets.<id>.Digits`` follows it. The answer is also stored in flow variable ``studio_<id>``.
- split-based-on keeps its transitions in order; a transition with several conditions (all must
  hold) becomes a chain of decisions whose failures fall through to the next transition, then to
  noMatch. A condition our operators cannot test (unknown operator, a regex that does not compile, a
  number or time that is none) is a finding and its transition is left out.
- connect-call-to, enqueue-call and send-to-flex end by the outcomes of a transfer; every outcome
  leads where Studio's one event does (see the docs' table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from common.core import conditions, studio_text
from common.core.studio_build import Build, Transitions, position, variable_for

Converter = Callable[[Build, dict[str, Any], Transitions], str]

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_URL = re.compile(r"^https?://\S+$")
_KEYS = set("0123456789#*")
SKIPPED_VARIABLE = "studio_skipped"


def _props(state: dict[str, Any]) -> dict[str, Any]:
    props = state.get("properties")
    return props if isinstance(props, dict) else {}


def _speech(b: Build, name: str, props: dict[str, Any], data: dict[str, Any], language_key: str = "language") -> None:
    voice = studio_text.as_text(studio_text.prop(props, "voice")).strip()
    if voice:
        if len(voice) <= 64:
            data["voice"] = voice
        else:
            b.warn(name, "invalid_value", f"voice {voice[:80]!r} is longer than 64 characters; the flow's is used",
                   "voice")  # fmt: skip
    language = _language(b, name, studio_text.prop(props, language_key), language_key)
    if language:
        data["language"] = language


def _language(b: Build, name: str, value: Any, key: str) -> str | None:
    text = studio_text.as_text(value).strip()
    if not text:
        return None
    primary, _, rest = text.partition("-")
    text = primary.lower() + (("-" + rest) if rest else "")
    if _LANGUAGE.fullmatch(text):
        return text
    b.warn(name, "invalid_value", f"{key} {text!r} is not a language tag such as en-US; the flow's is used", key)
    return None


def pass_through(b: Build, state: dict[str, Any], ts: Transitions, prefer: tuple[str, ...], why: str,
                 code: str = "unsupported", hangup: bool = False, severity: str = "warning") -> str:  # fmt: skip
    """A widget that cannot act on a call: a node that records it was skipped and goes on by the first
    of ``prefer`` (or ends the call, ``hangup``)."""
    name, node_id = str(state["name"]), b.ids[str(state["name"])]
    if hangup:
        b.node(name, node_id, "hangupNode", {"label": f"Studio {state['type']} (ends the call)"}, position(state))
        b.warn(name, code, f"{why}; the call ends here")
        return "hangupNode: the call ends here"
    event = next((e for e in prefer if e in ts.events), next(iter(ts.events), None))
    b.node(name, node_id, "setVariablesNode", {"label": f"Studio {state['type']} (skipped)",
           "variables": [{"name": SKIPPED_VARIABLE, "value": node_id}]}, position(state))  # fmt: skip
    b.link(node_id, "next", ts.events.get(event) if event else None, name)
    then = f"goes on as after '{event}'" if event else "ends here"
    b.finder(name, severity=severity)(code, f"{why}; the call {then}")
    return f"setVariablesNode (skipped, {then})"


# --- trigger, say-play, set-variables ----------------------------------------------------------------


def trigger(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id = str(state["name"]), b.ids[str(state["name"])]
    b.node(name, node_id, "startNode", {"label": "Studio trigger (incomingCall)"}, position(state))
    b.link(node_id, "next", ts.events.get("incomingCall"), name)
    for event, target in ts.events.items():
        if event != "incomingCall" and target:
            b.finder(name, severity="info")("not_voice", f"{event} leads to {target!r}: only incomingCall starts "
                                            "a call")  # fmt: skip
    return "startNode (incomingCall)"


def say_play(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    data: dict[str, Any] = {}
    say, play = studio_text.prop(props, "say"), studio_text.prop(props, "play")
    if say not in (None, ""):
        data["text"] = _spoken(b, name, say, "say")
        if play not in (None, ""):
            b.no_effect(name, "play", "the widget says its text; give play a widget of its own")
    elif play not in (None, ""):
        url = b.text(name, play, "play").strip()
        if not _URL.fullmatch(url) or len(url) > 2048:
            return pass_through(b, state, ts, ("audioComplete",), f"play {url[:100]!r} is not an http(s) URL",
                                "invalid_value")  # fmt: skip
        data["audioUrl"] = url
    else:
        digits = studio_text.prop(props, "digits")
        why = "it plays DTMF digits, which this flow format cannot send" if digits else "it has nothing to say or play"
        return pass_through(b, state, ts, ("audioComplete",), why)
    if studio_text.prop(props, "digits") not in (None, ""):
        b.no_effect(name, "digits", "DTMF digits are not sent")
    _speech(b, name, props, data)
    loop = studio_text.as_int(studio_text.prop(props, "loop"), "loop", 1, 1, 10, b.finder(name, "loop"))
    if loop and loop != 1:
        data["loop"] = loop
    b.node(name, node_id, "sayNode", data, position(state))
    b.link(node_id, "next", ts.events.get("audioComplete"), name)
    return "sayNode (" + ("plays audio" if "audioUrl" in data else "says text") + ")"


def _spoken(b: Build, name: str, value: Any, key: str) -> str:
    text = b.text(name, value, key)
    if len(text) > 4096:
        b.warn(name, "truncated", f"{key} is {len(text)} characters; Twilio says at most 4096, the rest is cut", key)
        text = text[:4096]
    return text or " "


def set_variables(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    raw = props.get("variables")
    assignments = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not studio_text.as_text(item.get("key")).strip():
            b.warn(name, "invalid_value", "a variable without a key is left out", "variables")
            continue
        key = studio_text.as_text(item.get("key")).strip()
        value = b.text(name, item.get("value"), f"variables.{key}")[:4096]
        assignments.append({"name": b.rewriter.variables.get(key, variable_for(key)), "value": value})
    if not assignments:
        return pass_through(b, state, ts, ("next",), "it sets no variable", "invalid_value")
    b.node(name, node_id, "setVariablesNode", {"variables": assignments[:100]}, position(state))
    b.link(node_id, "next", ts.events.get("next"), name)
    return f"setVariablesNode ({len(assignments)} variable(s))"


# --- gather-input-on-call ----------------------------------------------------------------------------


def gather(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    data: dict[str, Any] = {"variable": variable_for(f"studio_{node_id}"), "inputType": "dtmf speech",
                            "maxAttempts": 1}  # fmt: skip
    say, play = studio_text.prop(props, "say"), studio_text.prop(props, "play")
    if say not in (None, ""):
        data["prompt"] = _spoken(b, name, say, "say")
    if play not in (None, ""):
        url = b.text(name, play, "play").strip()
        if _URL.fullmatch(url) and len(url) <= 2048:
            data["promptAudioUrl"] = url
        else:
            b.warn(name, "invalid_value", f"play {url[:100]!r} is not an http(s) URL; it is left out", "play")
    find = b.finder
    digits = studio_text.as_int(studio_text.prop(props, "number_of_digits"), "number_of_digits", None, 1, 64,
                                find(name, "number_of_digits"))  # fmt: skip
    if digits:
        data["numDigits"] = digits
    key = studio_text.prop(props, "finish_on_key")
    if key is not None:
        text = studio_text.as_text(key).strip()
        if text == "" or text in _KEYS:
            data["finishOnKey"] = text
        else:
            data["finishOnKey"] = next((c for c in text if c in _KEYS), "#")
            b.warn(name, "invalid_value", f"finish_on_key {text!r} is not one key; {data['finishOnKey']!r} is used",
                   "finish_on_key")  # fmt: skip
    data["timeout"] = studio_text.as_int(studio_text.prop(props, "timeout"), "timeout", 5, 1, 60, find(name, "timeout"))
    speech_timeout = studio_text.prop(props, "speech_timeout")
    if speech_timeout not in (None, "") and studio_text.as_text(speech_timeout).strip().lower() != "auto":
        data["speechTimeout"] = studio_text.as_int(speech_timeout, "speech_timeout", None, 1, 60,
                                                   find(name, "speech_timeout")) or "auto"  # fmt: skip
    model = studio_text.as_text(studio_text.prop(props, "speech_model")).strip()
    if model:
        data["speechModel"] = model[:64]
    hints = studio_text.as_text(studio_text.prop(props, "hints"))
    if hints.strip():
        data["hints"] = [h.strip()[:100] for h in hints.split(",") if h.strip()][:500]
    _speech(b, name, props, data)
    recognition = _language(b, name, studio_text.prop(props, "gather_language"), "gather_language")
    if recognition and recognition != data.get("language"):
        said = data.get("language")
        if said and said.split("-")[0] != recognition.split("-")[0]:
            b.no_effect(name, "language", f"the prompt is spoken in the recognition language {recognition}, not {said}")
        data["language"] = recognition if not said or "-" in recognition or "-" not in said else said
    if not studio_text.as_bool(studio_text.prop(props, "profanity_filter"), "profanity_filter", True,
                               find(name, "profanity_filter")):  # fmt: skip
        b.no_effect(name, "profanity_filter", "Twilio's recogniser filters profanity")
    if not studio_text.as_bool(studio_text.prop(props, "stop_gather"), "stop_gather", True, find(name, "stop_gather")):
        b.no_effect(name, "stop_gather", "a key press always stops the prompt")
    loop = studio_text.as_int(studio_text.prop(props, "loop"), "loop", 1, 1, 10, find(name, "loop"))
    if loop and loop > 1:
        b.no_effect(name, "loop", "the prompt is said once before the caller's turn")
    if "prompt" not in data and "promptAudioUrl" not in data:
        data["silent"] = True  # Studio listens without a prompt too
    b.node(name, node_id, "collectNode", data, position(state))
    b.link(node_id, "noInput", ts.events.get("timeout"), name)
    keypress, speech = ts.events.get("keypress"), ts.events.get("speech")
    if keypress == speech:
        b.link(node_id, "success", keypress, name)
        return "collectNode (keys and speech, one attempt)"
    split = b.node(name, b.helper_id(f"{node_id}:input"), "decisionNode", {
        "label": "keypress or speech", "input": f"{{{{ widgets.{node_id}.Digits }}}}",
        "rules": [{"id": "keypress", "operator": "is_not_blank"}]}, position(state, 0, 90))  # fmt: skip
    b.edge(node_id, "success", split)
    b.link(split, "keypress", keypress, name)
    b.link(split, "default", speech, name)
    return "collectNode (keys and speech, one attempt) + decisionNode (keypress or speech)"


# --- split-based-on ----------------------------------------------------------------------------------


def _condition(b: Build, name: str, condition: Any, node_input: str, where: str) -> dict[str, Any] | None:
    if not isinstance(condition, dict):
        return None
    operator = studio_text.as_text(condition.get("type")).strip()
    if operator not in conditions.NEEDS_VALUE and operator not in ("is_blank", "is_not_blank"):
        b.warn(name, "unknown_operator", f"{where}: operator {operator!r} is not one of Studio's; the transition "
               "is left out", "conditions")  # fmt: skip
        return None
    rule: dict[str, Any] = {"operator": operator}
    arguments = condition.get("arguments")
    if isinstance(arguments, list) and arguments:
        own = b.text(name, arguments[0], f"{where}.arguments")[:1024]
        if own.strip() and own.strip() != node_input.strip():
            rule["input"] = own
    if operator in conditions.NEEDS_VALUE:
        value = b.text(name, condition.get("value"), f"{where}.value").strip()
        problem = _value_problem(operator, value)
        if problem:
            b.warn(name, "invalid_value", f"{where}: {problem}; the transition is left out", "conditions")
            return None
        rule["value"] = value
    friendly = studio_text.as_text(condition.get("friendly_name")).strip()
    if friendly:
        rule["label"] = friendly[:200]
    return rule


def _value_problem(operator: str, value: str) -> str | None:
    if not value:
        return f"'{operator}' needs a value"
    if "{{" in value or "{%" in value:
        return None
    if operator == "regex":
        try:
            conditions.compile_regex(value)
        except re.error as exc:
            return f"regular expression {value!r} does not compile ({exc})"
    if operator in ("less_than", "greater_than") and conditions._number(value) is None:
        return f"'{operator}' compares numbers and {value!r} is none"
    if operator in ("is_before_time", "is_after_time") and conditions.parse_time(value) is None:
        return f"{value!r} is not a time (HH:MM)"
    if operator in ("is_before_date", "is_after_date") and conditions.parse_date(value) is None:
        return f"{value!r} is not a date (YYYY-MM-DD)"
    return None


def split(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    node_input = b.text(name, studio_text.prop(props, "input"), "input")
    if len(node_input) > 1024:
        b.warn(name, "truncated", "input is longer than 1,024 characters; the rest is cut", "input")
        node_input = node_input[:1024]
    branches: list[tuple[list[dict[str, Any]], str | None]] = []
    for index, transition in enumerate(ts.matches, 1):
        raw = transition.get("conditions")
        rules = [_condition(b, name, c, node_input, f"match {index}") for c in (raw if isinstance(raw, list) else [])]
        if not rules or any(r is None for r in rules):
            if not rules:
                b.warn(name, "invalid_value", f"match {index} has no condition; the transition is left out",
                       "conditions")  # fmt: skip
            continue
        target = transition.get("next")
        branches.append(([r for r in rules if r is not None], target if isinstance(target, str) and target else None))
    no_match = ts.events.get("noMatch")
    if not branches:
        return pass_through(b, state, ts, ("noMatch",), "no condition can be tested, so every call takes noMatch",
                            "no_conditions", severity="warning" if ts.matches else "info")  # fmt: skip
    head_data: dict[str, Any] = {"input": node_input, "rules": []}
    head = b.node(name, node_id, "decisionNode", head_data, position(state))
    waiting: list[str] = []  # chain steps whose failure goes on with the next transition
    for index, (steps, target) in enumerate(branches, 1):
        rule_id = f"match{index}"
        head_data["rules"].append({"id": rule_id, **steps[0]})
        previous, handle = head, rule_id
        for step, rule in enumerate(steps[1:], 2):
            link = b.node(name, b.helper_id(f"{node_id}:{rule_id}.{step}"), "decisionNode",
                          {"label": f"match {index}, condition {step}", "input": node_input,
                           "rules": [{"id": "yes", **rule}]}, position(state, 40 * step, 90 * step))  # fmt: skip
            b.edge(previous, handle, link)
            waiting.append(link)
            previous, handle = link, "yes"
        b.link(previous, handle, target, name)
        if len(steps) > 1 and index < len(branches):
            head_data = {"label": f"after match {index}", "input": node_input, "rules": []}
            after = b.node(name, b.helper_id(f"{node_id}:after{index}"), "decisionNode", head_data,
                           position(state, 0, 120 * index))  # fmt: skip
            for failed in (head, *waiting):
                b.edge(failed, "default", after)
            head, waiting = after, []
    for failed in (head, *waiting):
        b.link(failed, "default", no_match, name)
    chained = sum(len(r) > 1 for r, _ in branches)
    return f"decisionNode ({len(branches)} rule(s){f', {chained} chained' if chained else ''})"


# --- HTTP: make-http-request, run-function -----------------------------------------------------------


def _parameters(b: Build, name: str, props: dict[str, Any]) -> list[dict[str, str]]:
    raw = props.get("parameters")
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and studio_text.as_text(item.get("key")).strip():
            key = studio_text.as_text(item.get("key")).strip()[:128]
            out.append({"name": key, "value": b.text(name, item.get("value"), f"parameters.{key}")[:4096]})
    return out[:100]


def http_request(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    method = studio_text.as_text(studio_text.prop(props, "method")).strip().upper() or "GET"
    if method not in ("GET", "POST"):
        b.warn(name, "invalid_value", f"method {method!r} is not GET or POST; POST is used", "method")
        method = "POST"
    data: dict[str, Any] = {"method": method, "url": _url(b, name, studio_text.prop(props, "url"))}
    kind = studio_text.as_text(studio_text.prop(props, "content_type")).split(";")[0].strip().lower()
    if kind and kind not in ("application/json", "application/x-www-form-urlencoded"):
        b.warn(name, "invalid_value", f"content_type {kind!r} is not JSON or a form; JSON is used", "content_type")
    data["contentType"] = "application/x-www-form-urlencoded" if kind == "application/x-www-form-urlencoded" \
        else "application/json"  # fmt: skip
    body = studio_text.prop(props, "body")
    if body not in (None, ""):
        data["body"] = b.text(name, body, "body")[:16384]
    parameters = _parameters(b, name, props)
    if parameters:
        data["parameters"] = parameters
    if studio_text.as_bool(studio_text.prop(props, "add_twilio_auth"), "add_twilio_auth", False,
                           b.finder(name, "add_twilio_auth")):  # fmt: skip
        b.no_effect(name, "add_twilio_auth", "the account's credentials are never sent to a flow's URL")
    b.node(name, node_id, "httpRequestNode", data, position(state))
    b.link(node_id, "success", ts.events.get("success"), name)
    b.link(node_id, "failed", ts.events.get("failed"), name)
    return f"httpRequestNode ({method})"


def _url(b: Build, name: str, value: Any) -> str:
    url = b.text(name, value, "url").strip()[:2048]
    if not url:
        b.warn(name, "no_url", "there is no url; every call takes the failure transition", "url")
        return "about:blank"
    return url


def run_function(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    data: dict[str, Any] = {"method": "POST", "url": _url(b, name, studio_text.prop(props, "url")),
                            "contentType": "application/x-www-form-urlencoded"}  # fmt: skip
    parameters = _parameters(b, name, props)
    if parameters:
        data["parameters"] = parameters
    b.node(name, node_id, "httpRequestNode", data, position(state))
    b.link(node_id, "success", ts.events.get("success"), name)
    b.link(node_id, "failed", ts.events.get("fail"), name)
    return "httpRequestNode (POST form to the Function's URL)"


def json_context(b: Build, name: str, value: Any, key: str) -> dict[str, str]:
    """Task attributes (a JSON template) as a transfer's context: one entry per top-level key."""
    text = studio_text.as_text(value).strip()
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return {"attributes": b.text(name, text, key)[:1024]}
    out: dict[str, str] = {}
    for field, item in list(parsed.items())[:50]:
        out[variable_for(str(field))] = b.text(name, item, f"{key}.{field}")[:1024]
    return out


def number(b: Build, name: str, value: str, key: str) -> str | None:
    text = re.sub(r"[\s().-]", "", value)
    if _E164.fullmatch(text):
        return text
    if re.fullmatch(r"[1-9][0-9]{7,14}", text):
        b.warn(name, "number_normalised", f"{key} {value!r} has no '+'; it is dialled as +{text}", key)
        return "+" + text
    if "{{" in value or "{%" in value:
        return value
    b.warn(name, "invalid_value", f"{key} {value!r} is not a phone number in E.164 form (+14155550123)", key)
    return None
