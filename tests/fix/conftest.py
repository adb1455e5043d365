"""Fixtures for the FIX tests: one `oms serve` per module and journal backend (SQLite, PostgreSQL),
a QuickFIX peer per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fixharness import SESSIONS_TOML, FixServer, Peer

from stores import Store


@pytest.fixture(scope="module")
def fix_server(module_store: Store) -> Iterator[FixServer]:
    config = module_store.data_dir.parent / "oms.toml"
    config.write_text(SESSIONS_TOML)
    server = FixServer(module_store.data_dir, config, module_store.url).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def peer(fix_server: FixServer) -> Iterator[Peer]:
    client = Peer(fix_server.fix_port)
    try:
        yield client
    finally:
        assert client.close() == 0


@pytest.fixture(scope="module")
def rest(fix_server: FixServer) -> Iterator[httpx.Client]:
    with fix_server.client() as client:
        yield client
