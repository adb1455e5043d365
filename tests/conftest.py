"""Root test configuration. Its presence (no __init__.py) puts tests/ on sys.path, so test
modules can ``import builders`` (tests/builders.py) and ``import stores`` (tests/stores.py).

PostgreSQL: one throwaway database per test session (``openoms_test_<random>``, dropped at the
end) on the local server, and a fresh schema in it for every test that asks for ``pg_url``.
``journal_backend`` / ``store`` run a test once on SQLite and once on PostgreSQL. Without a
reachable server the PostgreSQL cases skip on a developer machine and FAIL under CI=true.

``store`` (per test) and ``module_store`` (one per module, for module-scoped servers) are THE
switch between the backends: every test that builds an OMS, starts ``oms serve`` or opens a
journal or user store takes its configuration from one of them (``store.config()``,
``store.cli_args()``, ``store.users()``), so it runs on both. Tests of pure domain logic, the
codec, risk/routing/post-trade pieces and the client SDK touch no store and run once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pgproxy import Proxy
from stores import PG_ADMIN_URL, Store, with_search_path


def _require_postgres(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable: {reason}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test session, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _require_postgres(f"{PG_ADMIN_URL}: {exc}")
    name = f"openoms_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema of the session's database, as the URL's search_path.

    After every fifth such test the garbage is collected: an OMS a test did not close holds its
    PostgreSQL connections until then, and `oms.start()` in process freezes what is alive and
    raises the collection threshold (as a server wants), so without this they pile up over the
    suite towards the server's max_connections (100 by default)."""
    import gc

    yield new_schema(pg_database)
    _pg_tests[0] += 1
    if _pg_tests[0] % 5 == 0:  # a full collection costs ~0.1 s here: every fifth test keeps the count low
        gc.unfreeze()
        gc.collect()


_pg_tests = [0]  # PostgreSQL tests finished (see pg_url)


def new_schema(database_url: str) -> str:
    """A fresh, empty schema of the session's database, as the URL's search_path."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return with_search_path(database_url, schema)


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def journal_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(journal_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """Where a test's journal and users live: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    url = str(request.getfixturevalue("pg_url")) if journal_backend == "postgresql" else ""
    return Store(journal_backend, tmp_path / "data", url)


@pytest.fixture(scope="module", params=BACKENDS)
def module_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """``store`` for a module-scoped server: one per module and backend."""
    backend = str(request.param)
    url = new_schema(str(request.getfixturevalue("pg_database"))) if backend == "postgresql" else ""
    return Store(backend, tmp_path_factory.mktemp(f"store-{backend}") / "data", url)


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[Proxy]:
    """A TCP proxy to the test's PostgreSQL server that the test can cut and restore (tests/pgproxy.py)."""
    parts = urlsplit(pg_url)
    running = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield running
    running.close()


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The local NATS server with JetStream (tests isolate themselves by a random subject prefix)."""
    import socket

    url = os.environ.get("OMS_TEST_NATS_URL", "nats://127.0.0.1:4222")
    host, _, port = url.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), timeout=3).close()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is required under CI: {url}: {exc}")
        pytest.skip(f"NATS not reachable: {url}: {exc}")
    return url
