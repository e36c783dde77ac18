"""The EventPublisher on Cloud Pub/Sub (or Google's emulator, when PUBSUB_EMULATOR_HOST is set).

    PubSubPublisher(topic, timeout=5.0).publish(rows) -> the event ids Pub/Sub acknowledged
    encode(row) -> (data, attributes)   decode(data) -> row

Rules owned here:
- One message per event. Its data is the row as JSON whose top-level keys are the call_events
  columns, so the BigQuery subscription (use_table_schema) writes it as is; ``data`` travels as JSON
  text, which is what a JSON column takes. Attributes: event_id, type, tenant_id, schema_version,
  for subscribers that filter or deduplicate without parsing.
- Publishing is bounded: every batch waits at most ``timeout`` seconds for Pub/Sub's answers (the
  client's own retry is limited to the same deadline). What is not acknowledged by then is reported
  unpublished and stays in the outbox; it may still arrive later, which is a duplicate the views
  drop, never a loss.
- google.cloud.pubsub is imported when the first batch is published, never at import (it costs about
  0.2 s), and the client is built once per process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("ivr.events")


def encode(row: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = dict(row)
    if body.get("data") is not None and not isinstance(body["data"], str):
        body["data"] = json.dumps(body["data"], separators=(",", ":"), sort_keys=True)
    attributes = {"event_id": str(row["event_id"]), "type": str(row["type"]), "tenant_id": str(row["tenant_id"]),
                  "schema_version": str(row.get("schema_version", 1))}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode("utf-8"), attributes


def decode(data: bytes) -> dict[str, Any]:
    """A message's row with ``data`` an object again (what a sink standing in for BigQuery stores)."""
    row: dict[str, Any] = json.loads(data)
    if isinstance(row.get("data"), str):
        row["data"] = json.loads(row["data"])
    return row


class PubSubPublisher:
    def __init__(self, topic: str, timeout: float = 5.0, client: Any | None = None) -> None:
        """``topic``: projects/PROJECT/topics/NAME."""
        self.topic = topic
        self.timeout = timeout
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

                    self._client = pubsub_v1.PublisherClient()
        return self._client

    def publish(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        if not rows:
            return set()
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry, if_exception_type

        stop = time.monotonic() + self.timeout
        retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Aborted,
                                                  gexc.InternalServerError, gexc.Unknown),
                      initial=0.1, maximum=1.0, multiplier=2.0, timeout=self.timeout)  # fmt: skip
        try:
            futures = []
            for row in rows:
                data, attributes = encode(row)
                futures.append((attributes["event_id"],
                                self.client.publish(self.topic, data, retry=retry, timeout=self.timeout,
                                                    **attributes)))  # fmt: skip
        except Exception as exc:  # the client refused the batch outright (closed, bad topic name)
            log.warning("events: publishing %d rows to %s failed: %s", len(rows), self.topic, exc)
            return set()
        done: set[str] = set()
        failures = 0
        for event_id, future in futures:
            try:
                future.result(timeout=max(0.0, stop - time.monotonic()))
            except Exception:  # a timeout, an outage, a refused message: left for the sweeper
                failures += 1
                continue
            done.add(event_id)
        if failures:
            log.warning("events: %d of %d rows not acknowledged by %s within %.1f s", failures, len(rows),
                        self.topic, self.timeout)  # fmt: skip
        return done
