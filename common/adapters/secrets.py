"""Secrets (tenants' Twilio auth tokens): the ``SecretStore`` port and its two implementations.

    SecretStore          put(name, value) / get(name) -> value | None / delete(name)
    SecretManagerStore   Google Secret Manager: one secret per name, the value its newest version
    MemorySecretStore    process memory: the embedded default of a laptop stack

Rules owned here:
- A value is written and read only through this port: never stored in Firestore, never logged, never
  part of an exception message (names are not secret; values are).
- Every Secret Manager RPC carries an explicit timeout and a bounded retry: reads 1.5 s per attempt
  retried on UNAVAILABLE / DEADLINE_EXCEEDED within 2.5 s; writes 3 s per attempt, retried only on
  UNAVAILABLE (a timed-out write may have been applied). The client's defaults allow a minute.
- An outage is ``StoreUnavailable`` (the same typed error as the document store), so callers answer
  503 or use what they last read; a missing secret is ``None``, not an error.
- ``google.cloud.secretmanager`` is imported when the first RPC needs a client (it costs about
  0.1 s): importing this module, or building the store, does no I/O.

Secret ids allow letters, digits, ``_`` and ``-``, at most 255 characters; ``put`` creates the
secret (automatic replication, label ``managed-by=ivr-flows``) the first time and adds a version each
time. Older versions are left for Secret Manager's own lifecycle (a version costs $0.06 a month).
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any, Protocol

from common.adapters.ports import StoreUnavailable

READ_TIMEOUT = 1.5
WRITE_TIMEOUT = 3.0
READ_DEADLINE = 2.5
WRITE_DEADLINE = 4.0
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


class SecretStore(Protocol):
    def put(self, name: str, value: str) -> None:
        """Make ``value`` the current value of secret ``name`` (created when missing)."""

    def get(self, name: str) -> str | None:
        """The current value of ``name``; None when there is no such secret."""

    def delete(self, name: str) -> None:
        """Remove ``name`` and all its versions (nothing happens when it does not exist)."""


def check_secret_name(name: str) -> str:
    if not _SECRET_ID.fullmatch(name):
        raise ValueError(f"{name[:80]!r} is not a secret id: use 1-255 letters, digits, '_' or '-'")
    return name


class MemorySecretStore:
    """Secrets in process memory: a laptop stack's stand-in (lost when the process ends)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, name: str, value: str) -> None:
        with self._lock:
            self._values[check_secret_name(name)] = value

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(check_secret_name(name))

    def delete(self, name: str) -> None:
        with self._lock:
            self._values.pop(check_secret_name(name), None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._values)


class SecretManagerStore:
    """Google Secret Manager in ``project``. ``client``: a ``SecretManagerServiceClient`` (tests give
    one on a local channel); built lazily otherwise, with the runtime's default credentials."""

    def __init__(self, project: str, client: Any = None) -> None:
        if not project:
            raise ValueError("SecretManagerStore needs a project id (GOOGLE_CLOUD_PROJECT)")
        self.project = project
        self._client = client
        self._lock = threading.Lock()
        self._kw: dict[str, dict[str, Any]] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import secretmanager

                    self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def _options(self, kind: str) -> dict[str, Any]:
        """Explicit timeout and bounded retry per RPC kind (built once; google.api_core is imported here)."""
        if not self._kw:
            from google.api_core import exceptions as gexc
            from google.api_core.retry import Retry, if_exception_type

            read = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded),
                         initial=0.1, maximum=0.5, multiplier=2.0, timeout=READ_DEADLINE)  # fmt: skip
            write = Retry(predicate=if_exception_type(gexc.ServiceUnavailable),
                          initial=0.2, maximum=1.0, multiplier=2.0, timeout=WRITE_DEADLINE)  # fmt: skip
            self._kw = {"read": {"retry": read, "timeout": READ_TIMEOUT},
                        "write": {"retry": write, "timeout": WRITE_TIMEOUT}}  # fmt: skip
        return self._kw[kind]

    def _path(self, name: str) -> str:
        return f"projects/{self.project}/secrets/{check_secret_name(name)}"

    def _call(self, method: str, kind: str, request: dict[str, Any]) -> Any:
        from google.api_core import exceptions as gexc

        try:
            return getattr(self.client, method)(request=request, **self._options(kind))
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError) as exc:
            # The message of these errors never carries the payload; the request is not included.
            raise StoreUnavailable(f"Secret Manager did not answer {method}: {type(exc).__name__}") from exc

    def put(self, name: str, value: str) -> None:
        from google.api_core import exceptions as gexc

        path = self._path(name)
        with contextlib.suppress(gexc.AlreadyExists):  # the usual case after the first put: add a version
            self._call("create_secret", "write", {
                "parent": f"projects/{self.project}", "secret_id": name,
                "secret": {"replication": {"automatic": {}}, "labels": {"managed-by": "ivr-flows"}}})  # fmt: skip
        self._call("add_secret_version", "write", {"parent": path, "payload": {"data": value.encode("utf-8")}})

    def get(self, name: str) -> str | None:
        from google.api_core import exceptions as gexc

        try:
            answer = self._call("access_secret_version", "read", {"name": self._path(name) + "/versions/latest"})
        except (gexc.NotFound, gexc.FailedPrecondition):  # no such secret, or its latest version disabled
            return None
        data: bytes = answer.payload.data
        return data.decode("utf-8")

    def delete(self, name: str) -> None:
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.NotFound):
            self._call("delete_secret", "write", {"name": self._path(name)})
