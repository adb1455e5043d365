"""The SDK's stream iterators over real WebSocket connections, against a scripted server speaking
the stream protocol (README "Stream protocol"): a subscribe message, a snapshot, numbered
updates (batched as JSON arrays), a resume after a drop. The scripts make drops, repeats, gaps
and refusals happen on cue; tests/e2e/test_sdk_stream_serve.py runs the iterator against
`oms serve` itself."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from openoms.client import AsyncOmsClient, OmsClient, OmsConnectionError, PermissionDenied, StreamMessage, Unauthorized

Script = Callable[[ServerConnection, dict[str, object]], None]


class ContractServer:
    """Plays one script per connection and records what each connection asked for."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.requests: list[tuple[object, str | None]] = []  # (the subscribe's resume, the Authorization header)
        self.server: Server = serve(self.handle, "127.0.0.1", 0, process_request=self.check)
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, connection: ServerConnection, request: object) -> object:
        headers = getattr(request, "headers")  # noqa: B009
        if headers.get("authorization") == "Bearer revoked":
            return connection.respond(403, json.dumps({"error": {"code": "NOT_PERMITTED", "message": "revoked", "detail": {}}}))
        return None

    def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        subscribe = json.loads(connection.recv(timeout=10))
        assert subscribe["type"] == "subscribe", subscribe
        self.requests.append((subscribe["resume"], connection.request.headers.get("authorization")))
        self.scripts[min(len(self.requests), len(self.scripts)) - 1](connection, subscribe)

    def close(self) -> None:
        self.server.shutdown()


def send(connection: ServerConnection, *messages: dict[str, object]) -> None:
    for message in messages:
        connection.send(json.dumps(message))


@pytest.fixture
def contract() -> Iterator[Callable[[list[Script]], ContractServer]]:
    servers: list[ContractServer] = []

    def start(scripts: list[Script]) -> ContractServer:
        servers.append(ContractServer(scripts))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def first_connection(connection: ServerConnection, subscribe: dict[str, object]) -> None:
    send(connection, {"type": "snapshot", "seq": 3, "epoch": "run-1", "orders": []},
         {"type": "event", "seq": 4, "prev": 3, "order": {"order_id": "O1", "price": "230.01"}})
    connection.send(json.dumps([{"type": "event", "seq": 5, "prev": 4, "order": {"order_id": "O2"}},
                                {"type": "pong"}]))  # waiting messages come as one array
    connection.close(1011, "gone")  # the server drops the client mid-stream


def resumed_connection(connection: ServerConnection, subscribe: dict[str, object]) -> None:
    resume = subscribe["resume"]
    assert isinstance(resume, dict)
    after = int(resume["seq"])
    # Resent from the seq asked for, inclusive: the client must drop the one it holds.
    send(connection, {"type": "resumed", "seq": after, "epoch": "run-1"},
         {"type": "event", "seq": after, "prev": after - 1, "order": {"order_id": "O2"}},
         {"type": "quotes", "quotes": [{"symbol": "AAPL", "last": 230.1}]},
         {"type": "event", "seq": after + 1, "prev": after, "order": {"order_id": "O3"}})
    connection.recv()  # hold the connection until the client leaves


def test_the_stream_resumes_after_a_drop_from_the_last_seq_without_duplicates(contract: Callable[..., ContractServer]) -> None:
    server = contract([first_connection, resumed_connection])
    seen: list[StreamMessage] = []
    with OmsClient(server.url, token="tok", backoff=0) as client:
        for message in client.stream():
            seen.append(message)
            if message.seq == 6:
                break
    assert [(m.type, m.seq) for m in seen] == [("snapshot", 3), ("event", 4), ("event", 5), ("resumed", 5), ("quotes", None),
                                               ("event", 6)]
    assert str(seen[1].data["order"]["price"]) == "230.01"
    assert server.requests == [(None, "Bearer tok"), ({"epoch": "run-1", "seq": 5}, "Bearer tok")]


def test_a_refused_stream_raises_the_servers_error_and_a_dead_one_a_connection_error(
        contract: Callable[..., ContractServer]) -> None:
    server = contract([first_connection])
    with OmsClient(server.url, token="revoked") as client, pytest.raises(PermissionDenied, match="NOT_PERMITTED"):
        next(iter(client.stream()))
    with OmsClient(server.url, retries=0) as client:
        messages = client.stream()
        assert [next(messages).seq for _ in range(3)] == [3, 4, 5]
        with pytest.raises(OmsConnectionError, match="stream at"):
            next(messages)


def test_the_async_stream_resumes_the_same_way(contract: Callable[..., ContractServer]) -> None:
    server = contract([first_connection, resumed_connection])

    async def follow() -> list[tuple[str, int | None]]:
        seen = []
        async with AsyncOmsClient(server.url, user="alice", backoff=0) as client:
            async for message in client.stream(from_seq=None):
                seen.append((message.type, message.seq))
                if message.seq == 6:
                    break
        return seen

    assert asyncio.run(follow()) == [("snapshot", 3), ("event", 4), ("event", 5), ("resumed", 5), ("quotes", None), ("event", 6)]
    assert [resume for resume, _ in server.requests] == [None, {"epoch": "run-1", "seq": 5}]


def gap_then_ended(connection: ServerConnection, subscribe: dict[str, object]) -> None:
    if subscribe["resume"] is None:
        send(connection, {"type": "snapshot", "seq": 10, "epoch": "run-2"},
             {"type": "order", "seq": 14, "prev": 12, "order": {"order_id": "O9"}})  # 11..12 never came
    else:
        send(connection, {"type": "error", "code": "SESSION_ENDED", "message": "sign in again"})
    connection.recv()


def test_a_gap_resumes_from_the_last_seq_held_and_an_ended_session_raises(contract: Callable[..., ContractServer]) -> None:
    server = contract([gap_then_ended])
    with OmsClient(server.url, token="tok", backoff=0) as client:
        messages = client.stream()
        assert next(messages).type == "snapshot"
        with pytest.raises(Unauthorized, match="SESSION_ENDED"):
            next(messages)
    assert [resume for resume, _ in server.requests] == [None, {"epoch": "run-2", "seq": 10}]
