"""Explicit wiring: ``build(config)`` gives an ``OMS`` with every part chosen by the config.

Nothing here runs at import time; ``OMS.start()`` opens the journal, replays it, restores the
venues and starts the engine loop and market data; ``OMS.stop()`` drains and flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from . import __version__
from .api.fix_acceptor import FixGateway
from .audit.index import AuditIndex
from .config import Config, ConfigError, parse_hhmm
from .demo import DEMO_START_PRICES, SIM, demo_reference
from .domain import commands as cmd
from .domain import events as ev
from .domain.accounts import ReferenceData
from .domain.engine import NS_PER_DAY, OrderEngine
from .domain.ids import RouteId, Symbol, VenueId
from .fix.store import SessionStore
from .journal.sqlite import SqliteJournal
from .marketdata.consolidated import ConsolidatedBook
from .marketdata.fix_feed import FixMarketDataFeed
from .marketdata.replay import ReplayError, read_quotes, schedule
from .marketdata.simulator import MarketDataSimulator
from .marketdata.store import MarketDataStore
from .marketdata.venue_feed import VenueQuoteFan
from .ops.logs import OrderEventLog
from .ops.metrics import OmsMetrics
from .posttrade import commands as posttrade_commands
from .posttrade import setup_file as posttrade_file
from .posttrade.book import PostTradeBook
from .risk import limits_file
from .risk.checks import PriceSource, Reference
from .risk.fx import FxRates
from .risk.gate import RiskGate
from .risk.limits import LimitError
from .routing.router import Router
from .routing.rules import RoutingError, RuleSet
from .routing.rules import parse as parse_routing
from .routing.venues import DEFAULT_VENUES, VenueHealth, VenueSpec
from .service.ports import Journal, Quote, VenueGateway
from .service.runtime import EngineRuntime, ReplayReport
from .staging.desk import StagingDesk
from .venues.fix_venue import FixVenue
from .venues.simulated.venue import SimulatedVenue

log = logging.getLogger("openoms")

SYSTEM = cmd.Actor("system", "engine")
TIMER = cmd.Actor("scheduler", "engine")
LIMITS_FILE = cmd.Actor("system", "limits-file")


def reference_prices(quotes: MarketDataStore) -> PriceSource:
    """Pre-trade risk's view of the market: the latest simulated quote of each instrument."""

    # One Reference per quote, not per order: risk asks for the same quote many times between ticks.
    made: dict[Symbol, tuple[object, Reference]] = {}

    def reference(symbol: Symbol) -> Reference | None:
        quote = quotes.get(symbol)
        if quote is None:
            return None
        cached = made.get(symbol)
        if cached is not None and cached[0] is quote:
            return cached[1]
        found = Reference(bid=quote.bid, ask=quote.ask, last=quote.last, ts=quote.ts, halted=quote.halted)
        made[symbol] = (quote, found)
        return found

    return reference


@dataclass
class OMS:
    config: Config
    reference: ReferenceData
    engine: OrderEngine
    journal: Journal
    runtime: EngineRuntime
    venues: dict[str, SimulatedVenue]
    market: MarketDataSimulator
    quotes: MarketDataStore
    limits: limits_file.LimitsDocument
    gate: RiskGate
    audit: AuditIndex
    metrics: OmsMetrics
    replay_report: ReplayReport | None = None
    started_at: float = 0.0
    # The FIX acceptor runs when the process serves clients (`oms serve` sets this); in-process
    # users of the OMS (tests, benchmarks) leave it off unless they want it.
    serve_fix: bool = False
    fix: FixGateway | None = None
    fix_venues: list[FixVenue] = field(default_factory=list)  # [[fix.venues]], connected from start()
    fix_store: SessionStore | None = None
    md_feeds: list[FixMarketDataFeed] = field(default_factory=list)  # [[fix.market_data]], connected from start()
    fed_symbols: frozenset[str] = frozenset()  # instruments a reference feed carries: the simulator leaves them alone
    posttrade: PostTradeBook | None = None  # trades, positions, allocations, settlement (engine extension)
    posttrade_setup: posttrade_file.PostTradeSetup | None = None
    staging: StagingDesk | None = None  # orders staged by portfolio managers for traders (engine extension)

    # Routing (issue 5): the router the engine asks, the per-venue market, venue health.
    router: Router | None = None
    market_book: ConsolidatedBook = field(default_factory=ConsolidatedBook)
    health: VenueHealth = field(default_factory=VenueHealth)
    quote_fan: VenueQuoteFan | None = None
    routing_file_text: str = ""  # the routing file as read at build (journaled at start if it changed the rules)

    def session_store(self) -> SessionStore:
        """FIX sequence numbers and sent messages (one file for every FIX session of this OMS)."""
        if self.fix_store is None:
            self.fix_store = SessionStore(self.config.data_dir / "fix-sessions.sqlite")
        return self.fix_store
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def journal_location(self) -> str:
        """Where the journal is: its file, or its database URL without the password."""
        return str(getattr(self.journal, "location", self.config.journal_path))

    def recover(self) -> ReplayReport:
        """Replay the journal into the engine (raises JournalCorrupt on a broken chain)."""
        try:
            self.replay_report = self.runtime.replay(verify=self.config.verify_on_start)
        except BaseException:
            # Nothing will run on a journal that does not replay: let go of it (a PostgreSQL
            # journal holds its single-writer lock until closed).
            self.journal.close()
            raise
        return self.replay_report

    async def start(self) -> None:
        if self.replay_report is None:
            self.recover()
        assert self.replay_report is not None
        tune_interpreter(self.config)
        log.info(
            "replayed %d events in %.3fs (last seq %d)",
            self.replay_report.events, self.replay_report.seconds, self.replay_report.last_seq,
        )
        # Prime the venues with a first quote so marketable orders have liquidity from the start.
        if self.config.market_data:
            self._publish_quotes()
        if self.serve_fix and self.config.fix_enabled:
            # Before the engine runs: the FIX sessions must see every event from here on.
            self.fix = FixGateway(self.config, self.runtime, self.engine, self.session_store())
            self.fix.attach()
        restored = self.runtime.restore_venues()
        if restored:
            log.info("restored %d open routes at the simulated venues", restored)
        await self.runtime.start()
        # Venues that kept state while we were down have been asked for their orders' status;
        # their answers (fills made meanwhile, cancels) are journaled before anything new is taken.
        await self.runtime.wait_reconciled(self.config.venue_status_timeout_ms / 1000)
        await self._load_limits()
        await self._load_posttrade()
        await self._load_routing()
        await self.runtime.execute(
            cmd.RecordStart(actor=SYSTEM, version=__version__, clock="system clock, UTC (time.time_ns)",
                            replayed_events=self.replay_report.events)
        )
        if self.fix is not None:
            await self.fix.start()
        for venue in self.fix_venues:
            await venue.start()
        for feed in self.md_feeds:
            await feed.start()
        self.metrics.fix_sessions = self._fix_sessions
        if self.config.market_data:
            self._tasks.append(asyncio.create_task(self._market_data_loop(), name="market-data"))
        if self.config.replay_file is not None:
            self._tasks.append(asyncio.create_task(self._replay_loop(self.config.replay_file), name="market-data-replay"))
        self._tasks.append(asyncio.create_task(self._timer_loop(), name="timers"))
        self.started_at = time.time()

    def _fix_sessions(self) -> list[tuple[str, Any]]:
        """Every FIX session of this OMS with its role, for the metrics."""
        sessions: list[tuple[str, Any]] = []
        if self.fix is not None:
            sessions += [("drop_copy" if client.settings.drop_copy else "client", client.session)
                         for client in self.fix.clients.values()]
        sessions += [("venue", venue.session) for venue in self.fix_venues]
        sessions += [("market_data", feed.session) for feed in self.md_feeds]
        return sessions

    async def _load_limits(self) -> None:
        """The limits file is authoritative for the scopes it names; what it changes is journaled."""
        source = str(self.config.limits_file or "built-in demo limits")
        for scope, values in self.limits.limits.items():
            outcome = await self.runtime.execute(cmd.SetLimits(actor=LIMITS_FILE, scope=scope, limits=values, reason=f"loaded from {source}"))
            if outcome.rejected is not None:
                raise LimitError(outcome.rejected.message)
        for kind, lists in (("restricted", self.limits.restricted), ("watch", self.limits.watch)):
            for scope, symbols in lists.items():
                outcome = await self.runtime.execute(cmd.SetRestricted(actor=LIMITS_FILE, scope=scope, symbols=symbols,
                                                                       reason=f"loaded from {source}", kind=kind))
                if outcome.rejected is not None:
                    raise LimitError(outcome.rejected.message)

    async def _load_posttrade(self) -> None:
        """The post-trade file's fee schedule and settlement setup, journaled when they change."""
        setup = self.posttrade_setup
        if setup is None:
            return
        actor = cmd.Actor("system", "posttrade-file")
        for command in (posttrade_commands.SetFeeSchedule(actor=actor, schedule=setup.fees, source=setup.source),
                        posttrade_commands.SetSettlementSetup(actor=actor, ssis=setup.ssis, netting_accounts=setup.netting_accounts,
                                                              source=setup.source)):
            outcome = await self.runtime.execute(command)
            if outcome.rejected is not None:
                raise ConfigError(f"{setup.source}: {outcome.rejected.message}")

    async def _replay_loop(self, path: Path) -> None:
        """Recorded venue quotes into the per-venue book and the simulated venues, at the configured speed."""
        count = 0
        try:
            for wait, venue_id, quote in schedule(read_quotes(path), self.config.replay_speed):
                if wait > 0:
                    await asyncio.sleep(wait)
                elif count % 1000 == 0:
                    await asyncio.sleep(0)  # as fast as possible, but the server keeps answering
                self.market_book.update(venue_id, quote)
                self.quotes.update(quote)
                venue = self.venues.get(venue_id)
                if venue is not None:
                    venue.on_quote(quote)
                count += 1
        except (ReplayError, OSError) as exc:
            log.error("market data replay stopped after %d quotes: %s", count, exc)
            return
        log.info("market data replay of %s done: %d quotes", path, count)

    def day_volumes(self) -> dict[str, Decimal]:
        """Each instrument's day volume as the market data shows it (what POV participates in)."""
        return {quote.symbol: quote.volume for quote in self.quotes.all()}

    async def _load_routing(self) -> None:
        """The routing file is authoritative at start; what it changes is journaled."""
        if self.router is None or not self.config.routing_file:
            return
        outcome = await self.runtime.execute(cmd.SetRoutingRules(
            actor=LIMITS_FILE, rules=self.routing_file_text, reason=f"loaded from {self.config.routing_file}"))
        if outcome.rejected is not None:
            raise RoutingError(outcome.rejected.message)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.fix is not None:
            await self.fix.stop()
        for venue in self.fix_venues:
            await venue.stop()
        for feed in self.md_feeds:
            await feed.stop()
        await self.runtime.stop()
        if self.fix is not None:
            self.fix.close()
        elif self.fix_store is not None:
            self.fix_store.close()

    def _publish_quotes(self) -> None:
        fan = self.quote_fan
        fed = self.fed_symbols
        for quote in self.market.tick(time.time_ns()):
            if fed and quote.symbol in fed:
                continue  # a live feed is this instrument's market
            self.quotes.update(quote)
            self.market_book.update(SIM, quote)
            primary = self.venues.get(SIM)
            if primary is not None:
                primary.on_quote(quote)
            if fan is not None:  # each simulated exchange shows its own market (wider, other sizes)
                for spec, venue_quote in fan.fan(quote):
                    self.market_book.update(spec.venue_id, venue_quote)
                    venue = self.venues.get(spec.venue_id)
                    if venue is not None:
                        venue.on_quote(venue_quote)

    async def _timer_loop(self) -> None:
        """Once a second: expire due GTD orders, and close/open the day on the configured schedule."""
        previous = time.time_ns()
        while True:
            await asyncio.sleep(1.0)
            self.runtime.probe()  # a PostgreSQL journal whose server went away while idle is noticed now
            if self.runtime.unavailable is not None:
                continue
            now = time.time_ns()
            if self.engine.good_till_date:
                self.runtime.post(cmd.ExpireDue(actor=TIMER))
            if self.engine.active_algos:  # execution algorithms slice on this beat, with the day volume seen
                self.runtime.post(cmd.AlgoTick(actor=TIMER, volumes=self.day_volumes()))
            if crossed(self.config.end_of_day_utc, previous, now):
                self.runtime.post(cmd.EndOfDay(actor=TIMER))
            if crossed(self.config.start_of_day_utc, previous, now):
                self.runtime.post(cmd.StartOfDay(actor=TIMER))
            previous = now

    async def _market_data_loop(self) -> None:
        interval = self.config.market_data_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if self.runtime.failure is None:
                self._publish_quotes()


def crossed(hhmm: str, previous_ns: int, now_ns: int) -> bool:
    """Whether the UTC wall-clock time ``hhmm`` fell in (previous_ns, now_ns]."""
    parsed = parse_hhmm(hhmm) if hhmm else None
    if parsed is None or now_ns <= previous_ns:
        return False
    day = now_ns - now_ns % NS_PER_DAY
    at = day + (parsed[0] * 3600 + parsed[1] * 60) * 1_000_000_000
    return previous_ns < at <= now_ns or previous_ns < at - NS_PER_DAY <= now_ns


def tune_interpreter(config: Config) -> None:
    """Process-wide CPython settings for a latency-sensitive server (see Config for the why).
    Call after replay: what was rebuilt is frozen out of garbage collection."""
    if config.gil_switch_interval_us:
        sys.setswitchinterval(config.gil_switch_interval_us / 1_000_000)
    if config.gc_threshold:
        gc.collect()
        gc.freeze()
        _, second, third = gc.get_threshold()
        gc.set_threshold(config.gc_threshold, second, third)


def open_journal(config: Config) -> Journal:
    """The journal the config names: PostgreSQL when ``database_url`` is set, else SQLite in data_dir."""
    if config.database_url:
        from .journal.postgres import PostgresJournal  # psycopg is imported only when it is used

        return PostgresJournal(config.database_url, durability=config.durability)
    return SqliteJournal(config.journal_path, durability=config.durability)


def attach_audit_index(runtime: EngineRuntime, engine: OrderEngine) -> AuditIndex:
    """The audit index, fed by the replay and then by every durable batch (see audit/index.py)."""
    index = AuditIndex(engine.orders)
    runtime.replay_observers.append(index.observe_all)
    runtime.subscribers.append(index.observe_all)
    runtime.subscribers.append(OrderEventLog())
    return index


def build(config: Config, journal: Journal | None = None, reference: ReferenceData | None = None) -> OMS:
    reference = route_to_fix_venues(reference or demo_reference(), config)
    for feed_settings in config.fix_market_data:  # before anything is opened
        unknown = [symbol for symbol in feed_settings.symbols if Symbol(symbol) not in reference.instruments]
        if unknown:
            raise ConfigError(f"fix market data {feed_settings.source}: unknown instrument(s) {', '.join(unknown)}")
    journal = journal or open_journal(config)
    quotes = MarketDataStore()
    limits = limits_file.load(config.limits_file) if config.limits_file else limits_file.DEMO_LIMITS
    gate = RiskGate(reference, reference_prices(quotes), config.reference_max_age_ms * 1_000_000, FxRates(limits.fx_rates))
    engine = OrderEngine(reference, default_venue=SIM, gate=gate)
    try:
        posttrade_setup = posttrade_file.load(config.posttrade_file) if config.posttrade_file else posttrade_file.demo()
    except posttrade_file.PostTradeFileError as exc:
        raise ConfigError(str(exc)) from None
    posttrade = PostTradeBook(reference, engine.orders, posttrade_setup.calendars)
    engine.extend(posttrade)
    staging = StagingDesk(reference)
    engine.extend(staging)
    venues: dict[str, SimulatedVenue] = {}
    runtime = EngineRuntime(engine, journal, venues, max_batch=config.max_batch,  # type: ignore[arg-type]
                            reconnect_timeout=config.database_reconnect_s)
    # Unique per start so execution ids never repeat across restarts (the engine books an exec id once).
    session_id = format(time.time_ns() // 1_000_000, "x") + secrets.token_hex(2)  # clock steps back: still unique
    venues[SIM] = SimulatedVenue(SIM, reference.instruments, runtime.post, session_id)
    rules = load_routing_rules(config, reference, known=[SIM, *(v.venue_id for v in config.fix_venues)])
    specs = rules.venues if rules.venues is not None else (DEFAULT_VENUES if config.sim_venues else ())
    for spec in specs:
        venues[spec.venue_id] = SimulatedVenue(spec.venue_id, reference.instruments, runtime.post, session_id,
                                               latency_s=spec.sim_latency_us / 1_000_000)
    market = MarketDataSimulator(reference.instruments, DEMO_START_PRICES, seed=config.seed)
    gateways: dict[str, VenueGateway] = dict(venues)
    runtime.venues = gateways  # type: ignore[assignment]
    audit = attach_audit_index(runtime, engine)
    metrics = OmsMetrics(runtime, engine, gateways)
    metrics.attach()  # before replay: its counts cover the whole journal
    oms = OMS(config, reference, engine, journal, runtime, venues, market, quotes, limits, gate, audit, metrics)
    oms.posttrade, oms.posttrade_setup = posttrade, posttrade_setup
    oms.staging = staging
    for settings in config.fix_venues:
        venue = FixVenue(settings, runtime.post, oms.session_store())
        oms.fix_venues.append(venue)
        gateways[venue.venue_id] = venue
    attach_router(oms, rules, specs)
    oms.fed_symbols = frozenset(symbol for feed in config.fix_market_data if feed.reference for symbol in feed.symbols)
    for feed_settings in config.fix_market_data:
        on_quote, on_alive = reference_feed(oms) if feed_settings.reference else (None, None)
        oms.md_feeds.append(FixMarketDataFeed(feed_settings, oms.market_book, oms.session_store(), on_quote=on_quote,
                                              on_alive=on_alive))
    return oms


def reference_feed(oms: OMS) -> tuple[Callable[[str, Quote], None], Callable[[int, list[Quote]], None]]:
    """A live feed's quotes as the reference market (risk's prices, the simulated venue of its
    name): each new quote as it comes, and while the feed is alive its unchanged quotes re-stamped
    with the time it vouched for them, so risk does not find a quiet instrument's price stale."""

    def on_quote(source: str, quote: Quote) -> None:
        oms.quotes.update(quote)
        venue = oms.venues.get(source)
        if venue is not None:
            venue.on_quote(quote)

    def on_alive(now: int, quotes: list[Quote]) -> None:
        for quote in quotes:
            held = oms.quotes.get(quote.symbol)
            if held is None or held.ts < now:
                oms.quotes.update(msgspec.structs.replace(quote, ts=now))

    return on_quote, on_alive


def load_routing_rules(config: Config, reference: ReferenceData, known: list[str]) -> RuleSet:
    """The routing file, checked against the reference data (unknown venue or instrument: file:line)."""
    if not config.routing_file:
        return RuleSet()
    path = config.routing_file
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"routing file {path}: {exc.strerror or exc}") from None
    sim = [spec.venue_id for spec in DEFAULT_VENUES] if config.sim_venues else []
    try:
        return parse_routing(text, str(path), reference.instruments, reference.accounts, known, sim)
    except RoutingError as exc:
        raise ConfigError(str(exc)) from None


def attach_router(oms: OMS, rules: RuleSet, specs: tuple[VenueSpec, ...] | list[VenueSpec]) -> Router:
    """The router the engine asks for every order, over the venues the runtime can reach."""
    runtime = oms.runtime

    def connected(venue: VenueId) -> bool:
        gateway = runtime.venues.get(venue)
        return gateway is not None and bool(getattr(gateway, "connected", True))

    router = Router(oms.reference.instruments, oms.reference.accounts, specs, list(runtime.venues), oms.health,
                    oms.market_book, oms.config.sor_max_age_ms * 1_000_000, rules, connected)
    oms.router = router
    oms.routing_file_text = rules.text
    oms.engine.router = router
    if specs:
        oms.quote_fan = VenueQuoteFan(specs, {s: i.tick_size for s, i in oms.reference.instruments.items()},
                                      {s: i.lot_size for s, i in oms.reference.instruments.items()}, seed=oms.config.seed + 1)
    engine = oms.engine

    def route_venue(event: ev.Event) -> VenueId | None:
        order = engine.routes.get(getattr(event, "route_id", RouteId("")))
        route = order.routes.get(event.route_id) if order is not None else None  # type: ignore[attr-defined]
        return route.venue if route is not None else None

    def observe(events: Sequence[ev.Event]) -> None:
        router.observe(events, route_venue)
        for event in events:
            if type(event) is ev.RoutingRulesChanged:  # new venue terms: the simulated delays follow at once
                for spec in router.specs.values():
                    venue = oms.venues.get(spec.venue_id)
                    if venue is not None and venue.latency_s != spec.sim_latency_us / 1_000_000:
                        venue.set_latency(spec.sim_latency_us / 1_000_000)

    runtime.replay_observers.append(observe)
    runtime.subscribers.append(observe)
    return router


def route_to_fix_venues(reference: ReferenceData, config: Config) -> ReferenceData:
    """Instruments a [[fix.venues]] entry lists are routed to that venue instead of the simulated one."""
    if not config.fix_venues:
        return reference
    instruments = dict(reference.instruments)
    for settings in config.fix_venues:
        for symbol in settings.symbols:
            instrument = instruments.get(Symbol(symbol))
            if instrument is None:
                raise ConfigError(f"fix venue {settings.venue_id}: unknown instrument {symbol!r}")
            instruments[instrument.symbol] = dataclasses.replace(instrument, venues=(VenueId(settings.venue_id),))
    return dataclasses.replace(reference, instruments=instruments)
