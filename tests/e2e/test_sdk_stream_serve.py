"""The SDK's stream iterator against `oms serve` itself, signed in with an API key made by the
CLI: the subscribe message, the snapshot, live updates of an order placed through the SDK (also
when several arrive in one frame), and a refusal for a bad key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from openoms.client import OmsClient, Unauthorized
from stores import Store


def oms_users(store: Store, *args: str, password: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "openoms", "users", *args, *store.cli_args()],
                            input=f"{password}\n" if password else "", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def signed_in(server_factory: Any, store: Store) -> Iterator[tuple[Any, str]]:
    """A user and API key made with the CLI in the test's store (users.sqlite, or PostgreSQL)."""
    oms_users(store, "add", "sdk", "--role", "trader", "--account", "ACC-EQ-1", "--no-password")
    key = oms_users(store, "api-key", "sdk", "--name", "sdk stream test")
    server = server_factory(trusted_header=False).start()
    yield server, key


def test_the_sdk_stream_follows_oms_serve_live(signed_in: tuple[Any, str]) -> None:
    server, key = signed_in
    with OmsClient(server.url, token=key) as client:
        stream = client.stream()
        snapshot = next(stream)
        assert snapshot.type == "snapshot" and snapshot.seq is not None and snapshot.data["orders"] == []
        ask = client.quote("AAPL").ask
        placed = [client.submit_order("ACC-EQ-1", "AAPL", "buy", 10, price=ask, cl_ord_id=f"SDK-{n}").order.order_id
                  for n in range(3)]
        filled: set[str] = set()
        seqs: list[int] = []
        for message in stream:
            if message.seq is not None:
                seqs.append(message.seq)
            if message.type == "order" and message.data["order"]["status"] == "filled":
                filled.add(message.data["order"]["order_id"])
            if filled == set(placed):
                break
        assert seqs == sorted(set(seqs))  # each update once, in order

    with OmsClient(server.url, token="oms_not_a_key") as client, pytest.raises(Unauthorized, match="UNAUTHENTICATED"):
        next(iter(client.stream()))
