"""The SecretStore port: its contract on both implementations, and what SecretManagerStore sends.

Secret Manager has no emulator. The real ``SecretManagerServiceClient`` is pointed at an in-process
gRPC server that speaks SecretManagerService's wire protocol (the library's own message types on the
real method paths), keeps secrets in a dict and records every request with its deadline: what is
tested is the request building, timeouts, retries and error mapping of the adapter, through the
client library exactly as production runs it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import SecretManagerServiceGrpcTransport
from google.cloud.secretmanager_v1.types import resources, service
from google.protobuf import empty_pb2

from common.adapters import secrets
from common.adapters.ports import StoreUnavailable
from common.adapters.secrets import MemorySecretStore, SecretManagerStore

PROJECT = "ivr-test"
TOKEN = "tok_0123456789abcdef0123456789abcdef"


class FakeSecretManager:
    """SecretManagerService on a local port: CreateSecret, AddSecretVersion, AccessSecretVersion,
    DeleteSecret. ``fail`` holds status codes to answer with, one per coming request."""

    SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"

    def __init__(self) -> None:
        self.secrets: dict[str, list[bytes]] = {}
        self.requests: list[tuple[str, Any, float | None]] = []  # (method, request, seconds left)
        self.fail: list[grpc.StatusCode] = []
        self._lock = threading.Lock()
        handlers = {
            "CreateSecret": self._unary(self._create, service.CreateSecretRequest, resources.Secret.serialize),
            "AddSecretVersion": self._unary(self._add, service.AddSecretVersionRequest,
                                            resources.SecretVersion.serialize),
            "AccessSecretVersion": self._unary(self._access, service.AccessSecretVersionRequest,
                                               service.AccessSecretVersionResponse.serialize),
            "DeleteSecret": self._unary(self._delete, service.DeleteSecretRequest,
                                        empty_pb2.Empty.SerializeToString),
        }  # fmt: skip
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _unary(self, fn: Callable[[Any, Any], Any], request_type: Any, serialize: Callable[[Any], bytes]) -> Any:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests.append((fn.__name__.strip("_"), request, context.time_remaining()))
                failure = self.fail.pop(0) if self.fail else None
            if failure is not None:
                context.abort(failure, "injected")
            return fn(request, context)

        return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=request_type.deserialize,
                                                   response_serializer=serialize)  # fmt: skip

    def _create(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = f"{request.parent}/secrets/{request.secret_id}"
        with self._lock:
            if name in self.secrets:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "exists")
            self.secrets[name] = []
        return resources.Secret(name=name)

    def _add(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            if request.parent not in self.secrets:
                context.abort(grpc.StatusCode.NOT_FOUND, "no secret")
            self.secrets[request.parent].append(request.payload.data)
            number = len(self.secrets[request.parent])
        return resources.SecretVersion(name=f"{request.parent}/versions/{number}")

    def _access(self, request: Any, context: grpc.ServicerContext) -> Any:
        secret, _, version = request.name.rpartition("/versions/")
        with self._lock:
            values = self.secrets.get(secret)
            if not values:
                context.abort(grpc.StatusCode.NOT_FOUND, "no secret")
            data = values[-1] if version == "latest" else values[int(version) - 1]
        return service.AccessSecretVersionResponse(name=request.name, payload=resources.SecretPayload(data=data))

    def _delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            if self.secrets.pop(request.name, None) is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "no secret")
        return empty_pb2.Empty()

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.requests]


@pytest.fixture
def fake() -> Iterator[FakeSecretManager]:
    server = FakeSecretManager()
    server.server.start()
    yield server
    server.server.stop(grace=None)


@pytest.fixture
def manager(fake: FakeSecretManager) -> Iterator[SecretManagerStore]:
    channel = grpc.insecure_channel(f"127.0.0.1:{fake.port}")
    client = SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))
    yield SecretManagerStore(PROJECT, client=client)
    channel.close()


@pytest.fixture(params=["memory", "secret-manager"])
def store(request: pytest.FixtureRequest) -> Any:
    return MemorySecretStore() if request.param == "memory" else request.getfixturevalue("manager")


# -- the contract, on both ----------------------------------------------------------------------------


def test_put_get_replace_delete(store: Any) -> None:
    assert store.get("ivr-twilio-a") is None
    store.put("ivr-twilio-a", TOKEN)
    assert store.get("ivr-twilio-a") == TOKEN
    store.put("ivr-twilio-a", "second-token")
    assert store.get("ivr-twilio-a") == "second-token"
    store.put("ivr-twilio-b", "other")
    store.delete("ivr-twilio-a")
    assert store.get("ivr-twilio-a") is None
    assert store.get("ivr-twilio-b") == "other"
    store.delete("ivr-twilio-a")  # deleting what is not there is fine


@pytest.mark.parametrize("bad", ["", "a/b", "projects/x", "x" * 256, "a b", "../x"])
def test_names_that_are_not_secret_ids_are_refused(store: Any, bad: str) -> None:
    with pytest.raises(ValueError, match="secret id"):
        store.put(bad, TOKEN)
    with pytest.raises(ValueError, match="secret id"):
        store.get(bad)


# -- what Secret Manager receives ---------------------------------------------------------------------


def test_requests_on_the_wire(manager: SecretManagerStore, fake: FakeSecretManager) -> None:
    manager.put("ivr-twilio-a", TOKEN)
    manager.put("ivr-twilio-a", "second")
    assert manager.get("ivr-twilio-a") == "second"
    manager.delete("ivr-twilio-a")
    assert fake.methods() == ["create", "add", "create", "add", "access", "delete"]
    create = fake.requests[0][1]
    assert create.parent == f"projects/{PROJECT}" and create.secret_id == "ivr-twilio-a"
    assert create.secret.replication.automatic is not None and "automatic" in create.secret.replication
    assert dict(create.secret.labels) == {"managed-by": "ivr-flows"}
    add = fake.requests[1][1]
    assert add.parent == f"projects/{PROJECT}/secrets/ivr-twilio-a" and add.payload.data == TOKEN.encode()
    assert fake.requests[4][1].name == f"projects/{PROJECT}/secrets/ivr-twilio-a/versions/latest"
    assert fake.requests[5][1].name == f"projects/{PROJECT}/secrets/ivr-twilio-a"


def test_every_request_carries_an_explicit_deadline(manager: SecretManagerStore, fake: FakeSecretManager) -> None:
    manager.put("ivr-twilio-a", TOKEN)
    manager.get("ivr-twilio-a")
    manager.delete("ivr-twilio-a")
    for method, _, remaining in fake.requests:
        bound = secrets.READ_TIMEOUT if method == "access" else secrets.WRITE_TIMEOUT
        # the client default would be 60 s; a few ms of slack for the two clocks involved
        assert remaining is not None and 0 < remaining <= bound + 0.05, (method, remaining)


def test_a_transient_failure_is_retried(manager: SecretManagerStore, fake: FakeSecretManager) -> None:
    manager.put("ivr-twilio-a", TOKEN)
    fake.fail = [grpc.StatusCode.UNAVAILABLE]
    assert manager.get("ivr-twilio-a") == TOKEN
    assert fake.methods()[-2:] == ["access", "access"]


def test_an_outage_is_store_unavailable_and_never_shows_the_value(manager: SecretManagerStore,
                                                                  fake: FakeSecretManager) -> None:  # fmt: skip
    fake.fail = [grpc.StatusCode.UNAVAILABLE] * 50
    with pytest.raises(StoreUnavailable) as raised:
        manager.put("ivr-twilio-a", TOKEN)
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value.__cause__)
    assert fake.methods().count("create") > 1  # retried, within its bounded window
    with pytest.raises(StoreUnavailable):
        manager.get("ivr-twilio-a")


def test_a_disabled_or_missing_latest_version_reads_as_none(manager: SecretManagerStore,
                                                            fake: FakeSecretManager) -> None:  # fmt: skip
    manager.put("ivr-twilio-a", TOKEN)
    fake.fail = [grpc.StatusCode.FAILED_PRECONDITION]  # what Secret Manager says for a disabled version
    assert manager.get("ivr-twilio-a") is None


def test_importing_the_module_does_not_import_the_client_library() -> None:
    code = ("import sys; import common.adapters.secrets as s; s.SecretManagerStore('p'); s.MemorySecretStore(); "
            "print('google.cloud.secretmanager' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
