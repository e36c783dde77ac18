"""The HTTP side of a load run: callsim's ``post(url, params, headers)`` over keep-alive sessions,
timed, with every answer checked and some requests delivered twice.

Rules owned here:
- Each worker thread has its own ``requests.Session`` (a connection per thread, kept alive), so a
  run opens as many connections as it has busy threads, as Twilio's fleet would.
- Every request is one ``Sample``: its webhook kind (from the path), when it started, its latency,
  its status, and what was wrong with it. A connection failure or a timeout is a sample with
  status 0 and the error's name; the simulated call then ends (callsim sees a non-200).
- Every 200 answer is parsed and checked with ``common.core.twiml.check`` (the validator the
  engine's property tests use); a status callback must answer a (valid, usually empty) Response too.
  Any other status is an error: our webhooks never answer Twilio 4xx or 5xx.
- An answer carrying the service's apology (``calls.TROUBLE``: the webhook overran its budget or
  the service failed, and the caller is sent to the fallback destination) is valid TwiML but a
  degraded call: it is counted as ``degraded``, apart from errors.
- A duplicate delivery (probability ``duplicate_rate``) sends the same signed request again right
  after the first answered, as Twilio's retry would, and must get the same answer (in the hold loop
  a spoken announcement may differ: it is made once; and a hold iteration answers the queue as it is
  at that moment, so a duplicate may connect to an agent assigned in between: the one change of
  answer that is allowed); the duplicate's latency is its own kind.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.core import twiml
from common.service.calls import TROUBLE

KINDS = ("incoming", "step", "status", "department", "fallback", "other")
_SAY = re.compile(r"<Say[^>]*>.*?</Say>", re.S)


def kind_of(url: str) -> str:
    path = urlsplit(url).path
    if path.startswith("/webhook/departments/"):
        return "department"
    if path.startswith("/webhook/voice/"):
        name = path.rsplit("/", 1)[-1]
        return name if name in ("incoming", "step", "status", "fallback") else "other"
    return "other"


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # seconds since the run began
    seconds: float
    status: int
    error: str | None = None  # a transport failure, an HTTP error, or a duplicate that differed
    violations: tuple[str, ...] = ()
    duplicate: bool = False
    degraded: bool = False  # answered with the apology and the fallback destination
    call_sid: str = ""  # the request's CallSid: which call (and so which scenario) it belongs to


class Recorder:
    """Collects samples from every thread."""

    def __init__(self, began: float) -> None:
        self.began = began
        self.samples: list[Sample] = []
        self.mismatches: list[str] = []  # duplicates answered differently: url and both answers
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

    def mismatch(self, text: str) -> None:
        with self._lock:
            self.mismatches.append(text)

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)


def _alike(url: str, first: tuple[int, str], again: tuple[int, str]) -> bool:
    if first == again:
        return True
    if kind_of(url) != "department" or first[0] != again[0]:
        return False
    if _SAY.sub("", first[1]) == _SAY.sub("", again[1]):
        return True
    return urlsplit(url).path.endswith("/hold") and "<Dial" in again[1] and "<Dial" not in first[1]


class Transport:
    def __init__(self, recorder: Recorder, timeout: float = 15.0, duplicate_rate: float = 0.0,
                 seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.recorder, self.timeout, self.duplicate_rate, self.clock = recorder, timeout, duplicate_rate, clock
        self._local = threading.local()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.sessions: list[object] = []

    def _session(self) -> object:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            self._local.session = session
            self.sessions.append(session)
        return session

    def _once(self, url: str, params: dict[str, str], headers: dict[str, str], duplicate: bool) -> tuple[int, str]:
        import requests

        session = self._session()
        kind = kind_of(url)
        began = self.clock()
        status, body, error = 0, "", None
        try:
            response = session.post(url, data=params, headers=headers, timeout=self.timeout,  # type: ignore[attr-defined]
                                    allow_redirects=False)  # fmt: skip
            status, body = response.status_code, response.text
        except requests.Timeout:
            error = f"timeout after {self.timeout:g}s"
        except requests.ConnectionError as exc:
            error = _connection_error(exc)
        except requests.RequestException as exc:
            error = type(exc).__name__
        seconds = self.clock() - began
        violations: tuple[str, ...] = ()
        if error is None and status != 200:
            error = f"HTTP {status}"
        if status == 200:
            violations = tuple(twiml.check(body))
        degraded = status == 200 and TROUBLE in body
        self.recorder.add(Sample(kind, began - self.recorder.began, seconds, status, error, violations, duplicate,
                                 degraded, params.get("CallSid", "")))  # fmt: skip
        return status, body

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        first = self._once(url, params, headers, duplicate=False)
        with self._rng_lock:
            again = self.duplicate_rate > 0 and self._rng.random() < self.duplicate_rate
        if again and first[0] == 200:
            replay = self._once(url, params, headers, duplicate=True)
            if replay[0] == 200 and not _alike(url, first, replay):
                self.recorder.mismatch(f"{url}: first {first[1][:200]!r}, duplicate {replay[1][:200]!r}")
        return first

    def close(self) -> None:
        for session in self.sessions:
            session.close()  # type: ignore[attr-defined]


def _connection_error(exc: Exception) -> str:
    text = str(exc).lower()
    for needle, name in (("reset", "connection reset"), ("refused", "connection refused"),
                         ("aborted", "connection aborted"), ("remotedisconnected", "server closed the connection"),
                         ("timed out", "connect timeout")):  # fmt: skip
        if needle in text:
            return name
    return "connection error"
