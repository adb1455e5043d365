"""Routing over REST with `oms serve`'s wiring: venues and their state, the smart order router
on the simulated exchanges, routing decisions per order, rules edited and journaled, restart."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config, ConfigError
from openoms.config import load as load_config
from stores import Store

RULES = '''\
[[rules]]
name = "msft-to-b"
symbols = ["MSFT"]
venues = ["SIM-B", "SIM-C"]
'''


def serve(store: Store, **settings: Any) -> TestClient:
    oms = build(store.config(market_data_interval_ms=20, **settings))
    return TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with serve(store) as test_client:
        yield test_client


def wait_for(check: Any, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def submit(client: TestClient, **fields: Any) -> Any:
    body = {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "300", "ord_type": "market", **fields}
    return client.post("/api/v1/orders", json=body)


def test_venues_when_listed_then_three_simulated_exchanges_beside_sim_with_their_terms(client: TestClient) -> None:
    venues = {v["venue_id"]: v for v in client.get("/api/v1/venues").json()["venues"]}
    assert set(venues) == {"SIM", "SIM-A", "SIM-B", "SIM-C"}
    assert all(v["state"] == "up" and v["connected"] for v in venues.values())
    assert venues["SIM-C"]["round_lot"] == "100" and venues["SIM-A"]["taker_fee_bps"] == "0.30"
    assert client.get("/health").json()["venues"] == {"SIM": "up", "SIM-A": "up", "SIM-B": "up", "SIM-C": "up"}


def test_sor_order_when_filled_then_routing_decisions_explain_the_split(client: TestClient) -> None:
    market = wait_for(lambda: client.get("/api/v1/marketdata/AAPL/venues").json().get("venues", {}).get("SIM-C"))
    assert market["bids"] and market["asks"]
    nbbo = client.get("/api/v1/marketdata/AAPL/venues").json()["nbbo"]
    assert Decimal(nbbo["bid"]) < Decimal(nbbo["ask"]) and not nbbo["crossed"]
    created = submit(client, quantity="3000", route="sor")
    assert created.status_code == 201, created.text
    order_id = created.json()["order"]["order_id"]
    order = wait_for(lambda: (o := client.get(f"/api/v1/orders/{order_id}").json()["order"])["status"] == "filled" and o)
    assert order, client.get(f"/api/v1/orders/{order_id}").json()
    routing = client.get(f"/api/v1/orders/{order_id}/routing").json()
    first = routing["decisions"][0]
    assert first["rule"] == "client:sor" and first["strategy"] == "sor"
    assert sum(Decimal(a["quantity"]) for a in first["allocations"]) == Decimal(3000)
    assert sum(Decimal(r["cum_qty"]) for r in routing["routes"]) == Decimal(3000)
    assert client.get("/api/v1/orders/NOPE/routing").status_code == 404


def test_venue_when_marked_down_then_orders_naming_it_refused_and_sor_avoids_it(client: TestClient) -> None:
    refused = client.put("/api/v1/venues/SIM-A/state", json={"state": "down"}, headers={"X-OMS-User": "alice"})
    assert refused.status_code == 403
    degraded = client.put("/api/v1/venues/SIM-B/state", json={"state": "degraded"})
    assert degraded.status_code == 200 and degraded.json()["state"] == "degraded"
    down = client.put("/api/v1/venues/SIM-A/state", json={"state": "down", "reason": "exchange outage"})
    assert down.status_code == 200 and down.json()["state"] == "down"
    assert client.get("/health").json()["venues"] == {"SIM": "up", "SIM-A": "down", "SIM-B": "degraded", "SIM-C": "up"}
    assert client.put("/api/v1/venues/SIM-Z/state", json={"state": "down"}).status_code == 404
    assert client.put("/api/v1/venues/SIM-A/state", json={"state": "sideways"}).status_code == 422
    named = submit(client, route="SIM-A", ord_type="limit", price="100.00", quantity="100")
    assert named.status_code == 422 and named.json()["error"]["code"] == "NO_ROUTE"
    assert "exchange outage" in named.json()["error"]["message"]
    wait_for(lambda: client.get("/api/v1/marketdata/AAPL/venues").json().get("venues", {}).get("SIM-C"))
    sor = submit(client, route="sor", quantity="1000")
    assert sor.status_code == 201
    routing = client.get(f"/api/v1/orders/{sor.json()['order']['order_id']}/routing").json()
    assert "SIM-A" not in {r["venue"] for r in routing["routes"]}
    assert any("SIM-A left out: down: exchange outage" in note for note in routing["decisions"][0]["notes"])


def test_rules_when_replaced_over_api_then_journaled_used_and_kept_across_restart(store: Store) -> None:
    with serve(store) as client:
        bad = client.put("/api/v1/routing/rules", json={"rules": '[[rules]]\nname = "x"\nvenues = ["SIM-Q"]\n'})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_ROUTING"
        assert "routing rules:3" in bad.json()["error"]["message"]
        assert client.put("/api/v1/routing/rules", json={"rules": RULES}, headers={"X-OMS-User": "alice"}).status_code == 403
        put = client.put("/api/v1/routing/rules", json={"rules": RULES, "reason": "MSFT to B"})
        assert put.status_code == 200 and put.json()["rules"][0]["name"] == "msft-to-b"
        order = submit(client, symbol="MSFT", ord_type="limit", price="1.00", quantity="100").json()["order"]
        routing = client.get(f"/api/v1/orders/{order['order_id']}/routing").json()
        assert routing["decisions"][0]["rule"] == "msft-to-b" and routing["routes"][0]["venue"] == "SIM-B"
    with serve(store) as client:
        assert client.get("/api/v1/routing/rules").json()["rules_text"] == RULES


def test_routing_file_when_it_names_an_unknown_venue_then_build_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text('\n[[rules]]\nname = "x"\nvenues = ["SIM-A", "NOPE"]\n')
    with pytest.raises(ConfigError, match=rf"^{path}:4: rule 'x': unknown venue 'NOPE'"):
        build(Config(data_dir=tmp_path, routing_file=path))


def test_algo_over_rest_when_started_paused_resumed_and_canceled_then_children_follow(client: TestClient) -> None:
    wait_for(lambda: client.get("/api/v1/marketdata/AAPL").status_code == 200)
    bad = client.post("/api/v1/algos", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "500",
                                             "kind": "iceberg", "display_qty": "600", "limit_price": "1.00"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_ALGO"
    assert "display_qty 600 is above the order quantity 500" in bad.json()["error"]["message"]
    early = client.post("/api/v1/algos", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "500",
                                               "kind": "twap", "start_at": "2026-11-26T10:00:00Z",
                                               "end_at": "2026-11-26T09:00:00Z"})
    assert early.status_code == 422 and "end time must be after the start time" in early.json()["error"]["message"]
    started = client.post("/api/v1/algos", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "1000",
                                                 "kind": "iceberg", "display_qty": "100", "limit_price": "1.00"})
    assert started.status_code == 201, started.text
    algo = started.json()["algo"]
    assert algo["status"] == "working" and [c["quantity"] for c in algo["children"]] == ["100"]  # rests: far below the market
    algo_id = algo["algo_id"]
    paused = client.post(f"/api/v1/algos/{algo_id}/pause", json={"reason": "news"}).json()["algo"]
    assert paused["status"] == "paused"
    # The child is canceled at its venue (after the pause is journaled): nothing is left working.
    assert wait_for(lambda: client.get(f"/api/v1/algos/{algo_id}").json()["algo"]["working"] == "0")
    resumed = client.post(f"/api/v1/algos/{algo_id}/resume").json()["algo"]
    assert resumed["status"] == "working" and resumed["working"] == "100"
    assert client.post(f"/api/v1/algos/{algo_id}/cancel").json()["algo"]["status"] == "done"
    assert wait_for(lambda: client.get(f"/api/v1/algos/{algo_id}").json()["algo"]["working"] == "0")
    canceled = client.get(f"/api/v1/algos/{algo_id}").json()["algo"]
    assert [c["status"] for c in canceled["children"]] == ["canceled", "canceled"]
    assert client.post(f"/api/v1/algos/{algo_id}/resume").status_code == 409
    assert client.get("/api/v1/algos/NOPE").status_code == 404
    assert client.post("/api/v1/algos/NOPE/cancel").status_code == 404


def test_readme_routing_file_when_loaded_then_its_venues_and_rules_are_in_force(store: Store, tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = next(block for block in re.findall(r"```toml\n(.*?)```", readme, flags=re.S) if "[[rules]]" in block)
    path = tmp_path / "routing.toml"
    path.write_text(sample)
    with serve(store, routing_file=path) as client:
        venues = {v["venue_id"]: v for v in client.get("/api/v1/venues").json()["venues"]}
        assert set(venues) == {"SIM", "SIM-A", "SIM-D"} and venues["SIM-D"]["round_lot"] == "100"
        rules = client.get("/api/v1/routing/rules").json()
        assert [r["name"] for r in rules["rules"]] == ["bonds-to-sim", "large-equity-orders", "eq2-afternoon"]
        assert rules["default_venues"] == ["SIM-A", "SIM"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[venues]]\nvenue_id = "SIM-D"\n\n[[rules]]\nname = "b"\nvenues = ["SIM-B"]\n')
    with pytest.raises(ConfigError, match=re.escape("bad.toml:6: rule 'b': unknown venue 'SIM-B'")):  # [[venues]] replaced SIM-B
        build(Config(data_dir=tmp_path, routing_file=bad))


def test_replay_file_when_configured_then_recorded_venue_quotes_drive_nbbo_and_venues(store: Store, tmp_path: Path) -> None:
    now = time.time_ns()
    path = tmp_path / "quotes.csv"
    path.write_text("ts,symbol,venue,bid,bid_size,ask,ask_size,last,last_size,volume\n"
                    f"{now},AAPL,SIM-A,100.00,100,100.04,200,100.02,10,1000\n"
                    f"{now + 1000},AAPL,SIM-B,100.01,300,100.03,100,100.02,10,500\n")
    with serve(store, market_data=False, replay_file=path, replay_speed=0) as client:
        data = wait_for(lambda: (r := client.get("/api/v1/marketdata/AAPL/venues")).status_code == 200
                        and len(r.json()["venues"]) == 2 and r.json())
        assert data, client.get("/api/v1/marketdata/AAPL/venues").text
        nbbo = data["nbbo"]
        assert (nbbo["bid"], nbbo["bid_venues"], nbbo["ask"], nbbo["ask_venues"]) == ("100.01", ["SIM-B"], "100.03", ["SIM-B"])
        assert nbbo["volume"] == "1500"
        assert client.get("/api/v1/venues").json()  # the venues took the quotes (they match against them)
    with pytest.raises(ConfigError, match=r"replay_file .* not found"):
        load_config(environ={}, overrides={"replay_file": str(tmp_path / "missing.csv")})


def test_replay_file_when_parquet_then_its_quotes_drive_the_nbbo(store: Store, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    now = time.time_ns()
    price = pa.decimal128(12, 2)
    path = tmp_path / "quotes.parquet"
    pq.write_table(pa.table({
        "ts": pa.array([now, now + 1000], pa.int64()), "symbol": ["AAPL", "AAPL"], "venue": ["SIM-A", "SIM-B"],
        "bid": pa.array([Decimal("100.00"), Decimal("100.01")], price), "bid_size": pa.array([100, 300], pa.int64()),
        "ask": pa.array([Decimal("100.04"), Decimal("100.03")], price), "ask_size": pa.array([200, 100], pa.int64()),
    }), path)
    with serve(store, market_data=False, replay_file=path, replay_speed=0) as client:
        data = wait_for(lambda: (r := client.get("/api/v1/marketdata/AAPL/venues")).status_code == 200
                        and len(r.json()["venues"]) == 2 and r.json())
        assert data, client.get("/api/v1/marketdata/AAPL/venues").text
        assert (data["nbbo"]["bid"], data["nbbo"]["ask"], data["nbbo"]["ask_venues"]) == ("100.01", "100.03", ["SIM-B"])
