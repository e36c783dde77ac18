"""IVR_EVENTS and friends: defaults, what production's environment gives, and clear errors."""

from __future__ import annotations

import pytest

from common.adapters.events_sinks import DuckDBSink, MemoryPublisher
from common.adapters.pubsub import PubSubPublisher
from common.bootstrap import event_publisher
from common.config import ConfigError, from_env


def test_defaults_off_without_a_topic_and_pubsub_with_terraforms() -> None:
    assert from_env({}).events == "off" and event_publisher(from_env({})) is None
    production = from_env({"IVR_EVENTS_TOPIC": "projects/p1/topics/call-events", "IVR_ENV": "prod"})
    assert (production.events, production.events_topic) == ("pubsub", "projects/p1/topics/call-events")
    publisher = event_publisher(production)
    assert isinstance(publisher, PubSubPublisher) and publisher.topic == "projects/p1/topics/call-events"


def test_each_publisher_by_name() -> None:
    local = from_env({"IVR_EVENTS": "duckdb"})
    sink = event_publisher(local)
    assert isinstance(sink, DuckDBSink) and str(sink.path) == ".ivr/events.duckdb"
    elsewhere = event_publisher(from_env({"IVR_EVENTS": "duckdb", "IVR_EVENTS_DUCKDB": "/tmp/e.duckdb"}))
    assert isinstance(elsewhere, DuckDBSink) and str(elsewhere.path) == "/tmp/e.duckdb"
    assert isinstance(event_publisher(from_env({"IVR_EVENTS": "memory"})), MemoryPublisher)
    short = from_env({"IVR_EVENTS_TOPIC": "call-events", "GOOGLE_CLOUD_PROJECT": "p2"})
    assert short.events_topic == "projects/p2/topics/call-events"
    assert from_env({"IVR_EVENTS": "off", "IVR_EVENTS_TOPIC": "projects/p/topics/t"}).events == "off"


@pytest.mark.parametrize(("env", "says"), [
    ({"IVR_EVENTS": "kafka"}, "IVR_EVENTS='kafka'"),
    ({"IVR_EVENTS": "pubsub"}, "needs IVR_EVENTS_TOPIC"),
    ({"IVR_EVENTS_TOPIC": "call-events"}, "GOOGLE_CLOUD_PROJECT"),
    ({"IVR_EVENTS_SWEEP_SECONDS": "soon"}, "IVR_EVENTS_SWEEP_SECONDS"),
    ({"IVR_EVENTS_SWEEP_SECONDS": "-5"}, "0 to 86400"),
])  # fmt: skip
def test_bad_settings_say_what_is_wrong(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        from_env(env)
