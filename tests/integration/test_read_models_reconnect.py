"""The gateway's PostgreSQL read models outlive their connection: a session the server ended
(restart, failover, pg_terminate_backend) is replaced on the next read, and while the server
cannot be reached the gateway answers 503 READ_MODELS_UNAVAILABLE with the reason, not 500.

The shared server is never stopped: the read models' session is terminated on the server, or
the server is reached through a TCP proxy that the test cuts (tests/pgproxy.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest

from openoms.bootstrap import build
from openoms.cluster.gateway import ClusterGateway
from openoms.cluster.gateway_api import create_gateway_app
from openoms.cluster.read_models import ReadModels, ReadModelsUnavailable
from openoms.config import Config
from pgproxy import Proxy, through

ORDER = {"order_id": "S0-O1", "account": "ACC-EQ-1", "symbol": "AAPL", "status": "new"}


def project_one_order(models: ReadModels) -> None:
    models.write(1, 0, 1, [(1, b"event")], [{"view": ORDER, "local_id": "O1", "open": True, "created_ts": 1, "seqs": [1]}],
                 [], [])


def terminate(pg_url: str, application_name: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = %s AND datname = current_database() AND pid <> pg_backend_pid()", (application_name,)).fetchall()
    assert ended and all(ok for (ok,) in ended)


def test_a_read_models_session_ended_by_the_server_is_replaced_on_the_next_read(pg_url: str) -> None:
    models = ReadModels(pg_url, readonly=True)
    try:
        project_one_order(models)
        assert [o["order_id"] for o in models.orders()] == ["S0-O1"]
        terminate(pg_url, "openoms-read-models")
        assert [o["order_id"] for o in models.orders()] == ["S0-O1"]  # reconnected and read again
        assert models.progress() == {0: 1}
    finally:
        models.close()


def test_a_gateway_whose_database_is_away_answers_503_with_the_reason_then_recovers(
        pg_url: str, pg_proxy: Proxy, tmp_path: Path) -> None:
    models = ReadModels(through(pg_url, pg_proxy.port), readonly=True)
    project_one_order(models)
    oms = build(Config(data_dir=tmp_path / "data", market_data=False, fix_enabled=False))
    # Never connected: the routes below read only the read models, not the shards.
    app = create_gateway_app(oms, ClusterGateway("nats://127.0.0.1:1", 1), models, trusted_header=True)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                     headers={"X-OMS-User": "alice"}) as http:
            assert [o["order_id"] for o in (await http.get("/api/v1/orders")).json()["orders"]] == ["S0-O1"]
            pg_proxy.cut()
            away = await http.get("/api/v1/orders")
            assert away.status_code == 503, away.text
            assert away.json()["error"]["code"] == "READ_MODELS_UNAVAILABLE"
            assert "unavailable" in away.json()["error"]["message"]
            pg_proxy.restore()
            back = await http.get("/api/v1/orders")
            assert back.status_code == 200 and [o["order_id"] for o in back.json()["orders"]] == ["S0-O1"]

    try:
        asyncio.run(scenario())
    finally:
        pg_proxy.restore()
        models.close()
        oms.journal.close()


def test_a_database_that_cannot_be_reached_is_read_models_unavailable(pg_url: str, pg_proxy: Proxy) -> None:
    models = ReadModels(through(pg_url, pg_proxy.port), readonly=True)
    try:
        pg_proxy.cut()
        with pytest.raises(ReadModelsUnavailable, match=r"read models at .* unavailable"):
            models.orders()
    finally:
        pg_proxy.restore()
        models.close()
