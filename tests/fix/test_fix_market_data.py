"""The live FIX 4.4 market-data feed (OpenOMS as initiator) against QuickFIX playing the
provider, over 127.0.0.1: subscription per instrument, snapshots and incrementals into the
consolidated book, the NBBO moving with them, a rejected instrument, and a provider that goes
away (stale at once, the SOR leaves it out and says why) and comes back (re-subscribed, fresh).

The feed's source is SIM-B, one of the default venues, so the smart router reads its quotes
beside SIM-A's (fed directly, as the simulator would)."""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fixharness import free_port, need_quickfix

from openoms.config import FixMarketDataConfig, load
from openoms.demo import demo_reference
from openoms.domain.ids import AccountId, Symbol, VenueId
from openoms.domain.routing import RoutingQuery
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.fix.store import SessionStore
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.marketdata.fix_feed import FixMarketDataFeed
from openoms.routing.router import Router
from openoms.routing.venues import DEFAULT_VENUES, VenueHealth
from openoms.service.ports import Quote

D = Decimal
MAX_AGE = 2_000_000_000


async def until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    """QuickFIX calls that wait for its own threads, off the event loop the feed runs on."""
    return await asyncio.get_running_loop().run_in_executor(None, call, *args)


PROVIDER = Path(__file__).parent / "mdprovider.py"
Books = dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]


class Provider:
    """mdprovider.py (QuickFIX) as a subprocess; its JSON events on a queue, the requests it saw in a list."""

    def __init__(self, port: int, books: Books) -> None:
        need_quickfix()
        self.port, self.books = port, books
        self.requests: list[tuple[str, list[str]]] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Provider:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        proc = self.proc = subprocess.Popen([sys.executable, str(PROVIDER), str(self.port), json.dumps(self.books)],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                event = json.loads(line)
                if event["event"] == "request":
                    self.requests.append((event["md_req_id"], event["symbols"]))
                self.events.put(event)

        threading.Thread(target=read, daemon=True).start()
        self.wait_for("listening")
        return self

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["event"] == name:
                return event

    def increment(self, symbol: str, *entries: tuple[str, str, str, str]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"increment": symbol, "entries": entries}) + "\n")
        self.proc.stdin.flush()
        self.wait_for("sent")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: QuickFIX logs out and exits 0
            assert self.proc.wait(timeout=20) == 0


def sim_a_quote(now: int) -> Quote:
    return Quote(symbol=Symbol("AAPL"), ts=now, bid=D("189.95"), ask=D("190.10"), bid_size=D(500), ask_size=D(500),
                 last=D("190"), last_size=D(0), volume=D(0), bids=((D("189.95"), D(500)),), asks=((D("190.10"), D(500)),))


def sor_buy(router: Router, quantity: str = "200") -> tuple[dict[str, Decimal], tuple[str, ...]]:
    reference = demo_reference()
    query = RoutingQuery(AccountId("ACC-EQ-1"), reference.instruments[Symbol("AAPL")], Side.BUY, D(quantity), OrdType.LIMIT,
                         D("191"), TimeInForce.DAY, strategy="sor")
    decision = router.route(query, time.time_ns())
    return {venue: qty for venue, qty in decision.allocations}, decision.notes


def test_snapshot_increments_reject_disconnect_and_reconnect(tmp_path: Path) -> None:
    port = free_port()
    provider = Provider(port, {"AAPL": ([("190.00", "300"), ("189.99", "500")], [("190.05", "200"), ("190.06", "400")]),
                               "MSFT": ([("420.00", "100")], [("420.10", "100")])}).start()
    settings = FixMarketDataConfig(source="SIM-B", port=port, symbols=("AAPL", "MSFT", "NVDA"), heartbeat_s=1,
                                   reconnect_s=0.2)
    book = ConsolidatedBook()
    store = SessionStore(tmp_path / "fix.sqlite")
    reference = demo_reference()
    router = Router(reference.instruments, reference.accounts, DEFAULT_VENUES, [spec.venue_id for spec in DEFAULT_VENUES],
                    VenueHealth(), book, MAX_AGE)

    async def scenario() -> None:
        feed = FixMarketDataFeed(settings, book, store)
        book.update("SIM-A", sim_a_quote(time.time_ns()))
        assert book.stale_reason("AAPL", "SIM-B") == "no snapshot yet"
        await feed.start()
        try:
            # Subscribed: one request per instrument; the snapshots make the NBBO.
            await until(lambda: feed.symbols["AAPL"].state == "live" and feed.symbols["MSFT"].state == "live", "snapshots")
            nbbo = book.nbbo("AAPL", time.time_ns(), MAX_AGE)
            assert nbbo is not None
            assert (nbbo.bid, nbbo.bid_size, nbbo.bid_venues, nbbo.ask, nbbo.ask_venues) == (
                D("190.00"), D(300), ("SIM-B",), D("190.05"), ("SIM-B",))
            quote = book.venue_quote("AAPL", "SIM-B")
            assert quote is not None and quote.asks == ((D("190.05"), D(200)), (D("190.06"), D(400)))

            # The provider does not know NVDA: that one instrument is rejected, with its reason.
            await until(lambda: feed.symbols["NVDA"].state == "rejected", "the reject of NVDA")
            assert sorted(symbols[0] for _, symbols in provider.requests) == ["AAPL", "MSFT", "NVDA"]
            assert book.stale_reason("NVDA", "SIM-B") == "request rejected by the provider: unknown symbol NVDA"

            # Incrementals move the book: a better offer arrives, then the best bid goes.
            await in_thread(provider.increment, "AAPL", ("0", "1", "190.03", "100"))
            await until(lambda: book.nbbo("AAPL", time.time_ns(), MAX_AGE).ask == D("190.03"), "the new offer")  # type: ignore[union-attr]
            await in_thread(provider.increment, "AAPL", ("2", "0", "190.00", "0"), ("1", "1", "190.05", "250"))
            await until(lambda: book.nbbo("AAPL", time.time_ns(), MAX_AGE).bid == D("189.99"), "the deleted bid")  # type: ignore[union-attr]
            quote = book.venue_quote("AAPL", "SIM-B")
            assert quote is not None
            assert quote.asks[:2] == ((D("190.03"), D(100)), (D("190.05"), D(250)))
            assert feed.symbols["AAPL"].increments == 2

            # A quiet but live feed is not stale: its heartbeats vouch for the unchanged quotes.
            allocations, _ = sor_buy(router)
            assert allocations["SIM-B"] > 0

            # The provider goes away: stale at once, left out of the NBBO and of smart routing, with the reason.
            await in_thread(provider.stop)
            await until(lambda: book.stale_reason("AAPL", "SIM-B") is not None, "the stale mark")
            assert book.stale_reason("AAPL", "SIM-B") == "feed disconnected"
            book.update("SIM-A", sim_a_quote(time.time_ns()))  # SIM-A's own feed goes on
            nbbo = book.nbbo("AAPL", time.time_ns(), MAX_AGE)
            assert nbbo is not None and nbbo.stale == ("SIM-B",) and nbbo.ask_venues == ("SIM-A",)
            allocations, notes = sor_buy(router)
            assert "SIM-B" not in allocations and allocations["SIM-A"] == D(200)
            assert "SIM-B left out: market data stale (feed disconnected)" in notes

            # It comes back with a different market: re-subscribed after the new logon, fresh from the new snapshot.
            provider.books["AAPL"] = ([("190.01", "700")], [("190.04", "900")])
            await in_thread(provider.start)
            await until(lambda: feed.symbols["AAPL"].state == "live", "the re-subscription", timeout=20)
            await until(lambda: len(provider.requests) == 6, "the three new requests")
            assert feed.connects == 2
            book.update("SIM-A", sim_a_quote(time.time_ns()))
            nbbo = book.nbbo("AAPL", time.time_ns(), MAX_AGE)
            assert nbbo is not None and nbbo.stale == ()
            assert (nbbo.bid, nbbo.ask, nbbo.ask_size) == (D("190.01"), D("190.04"), D(900))
            allocations, _ = sor_buy(router)
            assert allocations == {VenueId("SIM-B"): D(200)}
        finally:
            await feed.stop()
            await in_thread(provider.stop)

    asyncio.run(scenario())
    store.close()


class SilentProvider(asyncio.Protocol):
    """A provider that answers the Logon and the snapshot request, then says nothing at all, not
    even heartbeats (a hung process): the feed must notice the silence on its own."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.seq = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        from openoms.fix import codec
        from openoms.fix.codec import Framer

        framer = Framer()
        framer.feed(self.buffer + data)
        self.buffer = b""
        for frame in framer.frames():
            message = codec.parse(frame)  # type: ignore[arg-type]
            if message.msg_type == "A":
                self.send("A", [(98, "0"), (108, "1"), (141, "Y")])
            elif message.msg_type == "V":
                self.send("W", [(262, message.get(262)), (55, "AAPL"), (268, "2"), (269, "0"), (270, "100.00"), (271, "10"),
                                (269, "1"), (270, "100.10"), (271, "10")])

    def send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        from openoms.fix import codec

        self.seq += 1
        assert self.transport is not None
        self.transport.write(codec.encode(msg_type, "MDP", "OPENOMS-MD", self.seq, codec.utc_timestamp(time.time_ns()), body))


def test_a_silent_provider_makes_its_quotes_stale(tmp_path: Path) -> None:
    book = ConsolidatedBook()
    store = SessionStore(tmp_path / "fix.sqlite")

    async def scenario() -> None:
        server = await asyncio.get_running_loop().create_server(SilentProvider, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        feed = FixMarketDataFeed(FixMarketDataConfig(source="FEED", port=port, symbols=("AAPL",), heartbeat_s=5,
                                                     stale_after_ms=400), book, store)
        await feed.start()
        try:
            await until(lambda: feed.symbols["AAPL"].state == "live", "the snapshot")
            assert book.stale_reason("AAPL", "FEED") is None
            await until(lambda: book.stale_reason("AAPL", "FEED") is not None, "the silence to be noticed", timeout=5)
            assert (book.stale_reason("AAPL", "FEED") or "").startswith("silent: nothing received for ")
            nbbo = book.nbbo("AAPL", time.time_ns(), 60_000_000_000)
            assert nbbo is not None and nbbo.stale == ("FEED",) and nbbo.bid is None
        finally:
            await feed.stop()
            server.close()

    asyncio.run(scenario())
    store.close()


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[fix.market_data]]\nsource = "X"\nport = 9000\n', "needs symbols"),
    ('[[fix.market_data]]\nsource = "X"\nport = 9000\nsymbols = []\n', "non-empty list"),
    ('[[fix.market_data]]\nsource = "X"\nport = 9000\nsymbols = ["AAPL"]\ndepth = 0\n', "depth >= 1"),
    ('[[fix.market_data]]\nsource = "X"\nport = 9000\nsymbols = ["AAPL"]\nspeed = 2\n', "unknown fix market data setting"),
])
def test_market_data_config_is_checked(tmp_path: Path, toml: str, problem: str) -> None:
    path = tmp_path / "oms.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=problem):
        load(path, environ={})


def test_market_data_config_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "oms.toml"
    path.write_text('[[fix.market_data]]\nsource = "FEED"\nport = 9100\nsymbols = ["AAPL", "MSFT"]\nheartbeat_s = 2\n')
    [feed] = load(path, environ={}).fix_market_data
    assert (feed.source, feed.port, feed.symbols, feed.stale_after_ns) == ("FEED", 9100, ("AAPL", "MSFT"), 4_000_000_000)
    [env_feed] = load(path, environ={"OMS_FIX_MARKET_DATA": '[{"source": "ENV", "port": 9200, "symbols": ["SAP"]}]'}).fix_market_data
    assert (env_feed.source, env_feed.target_comp_id, env_feed.symbols) == ("ENV", "MDP", ("SAP",))
    with pytest.raises(ValueError, match="OMS_FIX_MARKET_DATA: not JSON"):
        load(None, environ={"OMS_FIX_MARKET_DATA": "[{"})


def test_oms_serve_wiring_opens_the_feed_and_shows_its_market(tmp_path: Path) -> None:
    """What `oms serve` builds from [[fix.market_data]]: the feed starts with the OMS, its quotes are
    the source's in GET /marketdata/{symbol}/venues, and a provider that goes away shows stale there."""
    from fastapi.testclient import TestClient

    from openoms.api.rest import create_app
    from openoms.bootstrap import build
    from openoms.config import Config

    port = free_port()
    provider = Provider(port, {"AAPL": ([("190.00", "300")], [("190.05", "200")])}).start()
    feed = FixMarketDataConfig(source="FEED", port=port, symbols=("AAPL",), heartbeat_s=1, reconnect_s=0.2)
    oms = build(Config(data_dir=tmp_path, market_data=False, fix_market_data=(feed,)))
    try:
        with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as client:
            def feed_view() -> dict[str, Any]:
                response = client.get("/api/v1/marketdata/AAPL/venues")
                venues: dict[str, Any] = response.json().get("venues", {}) if response.status_code == 200 else {}
                return venues.get("FEED", {})

            deadline = time.monotonic() + 15
            while feed_view().get("stale") is not False and time.monotonic() < deadline:
                time.sleep(0.05)
            view = feed_view()
            assert (view["bid"], view["ask"], view["stale"], view["stale_reason"]) == ("190.00", "190.05", False, None)
            [status] = client.get("/api/v1/feeds").json()["feeds"]
            assert (status["source"], status["logged_on"], status["symbols"]["AAPL"]["state"]) == ("FEED", True, "live")
            provider.stop()
            deadline = time.monotonic() + 15
            while not feed_view().get("stale") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feed_view()["stale_reason"] == "feed disconnected"
            [status] = client.get("/api/v1/feeds").json()["feeds"]
            assert status["logged_on"] is False
            assert status["symbols"]["AAPL"] == {"state": "stale", "reason": "feed disconnected", "snapshots": 1, "increments": 0}
            assert client.get("/api/v1/marketdata/AAPL/venues").json()["nbbo"]["stale_venues"] == ["FEED"]
    finally:
        provider.stop()


def test_a_feed_naming_an_unknown_instrument_is_refused_at_build(tmp_path: Path) -> None:
    from openoms.bootstrap import build
    from openoms.config import Config, ConfigError

    feed = FixMarketDataConfig(source="FEED", port=9999, symbols=("AAPL", "NOPE"))
    with pytest.raises(ConfigError, match="fix market data FEED: unknown instrument"):
        build(Config(data_dir=tmp_path, fix_market_data=(feed,)))


def test_a_reference_feed_prices_risk_and_the_simulated_venue_trades_on_it(tmp_path: Path) -> None:
    """`reference = true`: the feed is AAPL's market (the simulator goes on quoting the others).
    An order accepted after the instrument has been quiet longer than risk's maximum price age
    (the feed's heartbeats keep the reference fresh) goes to SIM and fills against the
    provider's offer."""
    from fastapi.testclient import TestClient

    from openoms.api.rest import create_app
    from openoms.bootstrap import build
    from openoms.config import Config, ConfigError

    port = free_port()
    provider = Provider(port, {"AAPL": ([("190.00", "300")], [("190.05", "200")])}).start()
    feed = FixMarketDataConfig(source="SIM", port=port, symbols=("AAPL",), heartbeat_s=1, reconnect_s=0.2, reference=True)
    with pytest.raises(ConfigError, match="AAPL is already the reference market of SIM"):
        Config(data_dir=tmp_path, fix_market_data=(feed, FixMarketDataConfig(source="B", port=port, symbols=("AAPL",),
                                                                             reference=True))).validate()
    oms = build(Config(data_dir=tmp_path, market_data_interval_ms=50, reference_max_age_ms=800, fix_market_data=(feed,)))
    try:
        with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True), raise_server_exceptions=False) as client:
            deadline = time.monotonic() + 15
            while client.get("/api/v1/marketdata/AAPL").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            market = client.get("/api/v1/marketdata/AAPL").json()
            assert (market["bid"], market["ask"]) == ("190.00", "190.05"), market
            time.sleep(1.2)  # quiet for longer than risk's 800 ms: only the feed's liveness keeps the price usable
            market = client.get("/api/v1/marketdata/AAPL").json()
            assert (market["bid"], market["ask"]) == ("190.00", "190.05"), market  # the simulator left it alone
            assert client.get("/api/v1/marketdata/MSFT").json()["bid"] != "190.00"  # and quotes the rest
            created = client.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy",
                                                         "quantity": "100", "ord_type": "market"})
            assert created.status_code == 201, created.text
            order_id = created.json()["order"]["order_id"]
            deadline = time.monotonic() + 10
            while (order := client.get(f"/api/v1/orders/{order_id}").json()["order"])["status"] != "filled" \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (order["status"], order["avg_px"], order["routes"][0]["venue"]) == ("filled", "190.05", "SIM")
            provider.stop()  # gone: after the maximum age, risk refuses to price new orders on the old quote
            time.sleep(1.2)
            refused = client.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy",
                                                         "quantity": "100", "ord_type": "market"})
            assert refused.status_code == 422 and "ms old" in refused.text, refused.text
    finally:
        provider.stop()
