"""What exporting call events costs: the webhooks with and without events, and the publish behind them.

    python benchmarks/events_publish.py [--calls 300] [--pubsub] [--firestore]

Prints, per mode, each webhook kind's p50/p99, ``derive`` (what events add on the answer path: the
rows derived and put in the document's outbox), ``publish`` and ``ack`` (the dispatcher, after the
answer), events per call and bytes per event.

The calls of benchmarks/webhook_step.py (incoming, a silent step, the transfer, the status callback,
signed, through the function apps in process) are timed with IVR_EVENTS off, then with each
publisher: memory, the local DuckDB file, and (``--pubsub``) Google's Pub/Sub emulator, started here.
For each it prints the webhooks' p50/p99 (the caller-facing time: the outbox rows are derived and
written with the call, the publish happens on the dispatcher thread after the answer), and the
dispatcher's publish and acknowledgement times per batch, the events per call and the bytes per
event as published (the Pub/Sub message data). ``--firestore`` runs on the Firestore emulator
instead of the memory store (the acknowledgement is then a real conditional write).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from webhook_step import ACCOUNT, BASE, KINDS, NUMBER, TOKEN, build_minimal, measure, percentile  # noqa: E402


class Timed:
    """Wraps a callable and keeps how long each call took, in seconds."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner, self.samples = inner, []  # type: ignore[var-annotated]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.samples.append(time.perf_counter() - began)


def store_factory(kind: str, cleanups: list[Callable[[], None]]) -> Callable[[], Any]:
    """A fresh, empty store per mode (the demo tenant and number are seeded into each)."""
    if kind == "memory":
        from common.adapters.memory import MemoryStore

        return MemoryStore
    from google.cloud import firestore

    from common.adapters.emulator import FirestoreEmulator
    from common.adapters.firestore import FirestoreStore

    emulator = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    client = firestore.Client(project="ivr-bench")
    cleanups += [emulator.stop, client.close]

    def fresh() -> Any:
        emulator.reset("ivr-bench")
        return FirestoreStore(client)

    return fresh


def build(mode: str, store: Any, topic: str, duckdb_path: str) -> tuple[Any, Any]:
    from werkzeug.test import Client

    from common import bootstrap, config, devserver

    env = {"PUBLIC_BASE_URL": BASE, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
           "IVR_NUMBER_CACHE_SECONDS": "5", "IVR_EVENTS": mode, "IVR_EVENTS_DUCKDB": duckdb_path}  # fmt: skip
    if mode == "pubsub":
        env["IVR_EVENTS_TOPIC"] = topic
    frozen = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    svc = bootstrap.build(config.from_env(env), store=store, now=lambda: frozen, routing=None)
    if mode == "off":
        assert svc.events is None
    bootstrap.seed_demo(svc, number=NUMBER)
    bootstrap.install(svc)
    return Client(devserver.make_app(), use_cookies=False), svc


def pubsub_topic(cleanups: list[Callable[[], None]]) -> tuple[str, Callable[[], list[bytes]]]:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from common.adapters.pubsub_emulator import PubSubEmulator

    emulator = PubSubEmulator().start()
    cleanups.append(emulator.stop)
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    topic, subscription = "projects/ivr-bench/topics/call-events", "projects/ivr-bench/subscriptions/sink"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.create_subscription(name=subscription, topic=topic)

    def pull() -> list[bytes]:
        out: list[bytes] = []
        while True:
            got = subscriber.pull(subscription=subscription, max_messages=1000, timeout=5)
            if not got.received_messages:
                return out
            out += [m.message.data for m in got.received_messages]
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in got.received_messages])

    return topic, pull


def line(name: str, samples: list[float]) -> str:
    if not samples:
        return f"  {name:<10} n=   0"
    return (f"  {name:<10} n={len(samples):5d}  p50 {percentile(samples, 0.5) * 1000:7.2f} ms  "
            f"p99 {percentile(samples, 0.99) * 1000:7.2f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the cost of exporting call events")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--pubsub", action="store_true", help="also publish to the Pub/Sub emulator")
    parser.add_argument("--firestore", action="store_true", help="the Firestore emulator instead of memory")
    args = parser.parse_args(argv)
    from common.adapters.pubsub import encode

    cleanups: list[Callable[[], None]] = []
    modes = ["off", "memory", "duckdb"] + (["pubsub"] if args.pubsub else [])
    try:
        fresh_store = store_factory("firestore" if args.firestore else "memory", cleanups)
        topic, pull = pubsub_topic(cleanups) if args.pubsub else ("", lambda: [])
        folder = tempfile.mkdtemp(prefix="ivr-events-bench-")
        minimal, _ = build_minimal()
        print(f"store: {'firestore emulator' if args.firestore else 'memory'}, {args.calls} calls per mode "
              "(incoming + silent step + transfer + status)")  # fmt: skip
        for run, mode in enumerate(modes * 2):  # twice, interleaved: the second round is the one reported
            store = fresh_store()
            client, svc = build(mode, store, topic, os.path.join(folder, f"events-{run}.duckdb"))
            publish = ack = attach = None
            if svc.events is not None:
                publish = svc.events.publisher.publish = Timed(svc.events.publisher.publish)
                ack = svc.events.acknowledge = Timed(svc.events.acknowledge)
                attach = svc.events.attach = Timed(svc.events.attach)
            result = measure(client, store, minimal, args.calls, run=run + 1)
            if svc.events is not None:
                svc.events.drain(timeout=60)
            if run < len(modes):
                pull()  # the warm-up round's messages: not counted
                continue
            steps = [s for kind in KINDS for s in result["timings"][kind]]
            writes = [w for kind in KINDS for _, w in result["costs"][kind]]
            print(f"IVR_EVENTS={mode}")
            for kind in KINDS:
                print(line(kind, result["timings"][kind]))
            print(line("all", steps) + f"  mean {statistics.fmean(steps) * 1000:6.2f} ms  "
                  f"store writes/webhook (acks included) {statistics.fmean(writes):.2f}")  # fmt: skip
            if publish is not None and ack is not None and attach is not None:
                print(line("derive", attach.samples) + "  (on the answer path: the rows derived into the outbox)")
                print(line("publish", publish.samples) + "  (one dispatcher batch)")
                print(line("ack", ack.samples) + "  (update_outbox per call in a batch)")
                rows = getattr(svc.events.publisher, "rows", None)
                if mode == "pubsub":
                    data = pull()
                    print(f"  published messages {len(data)}  events/call {len(data) / args.calls:.1f}  "
                          f"bytes/event (message data) {statistics.fmean(len(d) for d in data):.0f}")  # fmt: skip
                elif rows is not None:
                    sizes = [len(encode(r)[0]) for r in rows]
                    print(f"  published rows {len(rows)}  events/call {len(rows) / args.calls:.1f}  "
                          f"bytes/event (message data) {statistics.fmean(sizes):.0f}")  # fmt: skip
                print(f"  dispatcher hand-offs dropped (queue full): {svc.events.dropped}; turns written again "
                      f"after an acknowledgement landed first: {svc.calls.rewrites}")  # fmt: skip
    finally:
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
