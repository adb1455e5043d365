"""Engine, in process, full lifecycle: submit -> accept -> route -> venue ack -> fill -> position.

Runs the real EngineRuntime, OrderEngine and SimulatedVenue (deep simulated liquidity, so every
order fills at once) with the journal off, with durable group commit (the default), and with
one fsync per event, side by side in one process. A closed loop keeps ``--window`` orders in
flight: a new order is submitted as soon as one completes.

Latency: ``ack`` = submit until the acknowledgement is released (events durable);
``lifecycle`` = submit until the fill is durable (the position has been updated).
Ends with one JSON line: orders_per_s per mode, percentiles in microseconds, and the ratios
of each mode to the journal-off baseline measured in the same run.

    python benchmarks/engine_lifecycle.py [--orders 50000] [--window 1000] [--modes off,group,event]

``+routing`` wires the router ``oms serve`` uses (default rules: every order to its
instrument's first venue), to measure what routing costs the hot path.
``+risk`` turns pre-trade risk on with the demo limits (one account); ``+risk20`` with every
rule switched on (22 of them) over ``--accounts`` accounts (default 10,000), orders cycling
through the accounts, buying then selling so positions go up and down; ``+wide`` is that
workload without risk (the baseline ``+risk20`` is compared with).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from openoms.bootstrap import attach_audit_index, tune_interpreter
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.accounts import Account, ReferenceData, Trader
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import AccountId, ClientOrderId, DeskId, Symbol, TraderId
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.journal.memory import NullJournal
from openoms.journal.sqlite import SqliteJournal
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.ops.metrics import OmsMetrics
from openoms.posttrade import setup_file as posttrade_file
from openoms.posttrade.book import PostTradeBook
from openoms.posttrade.fees import FeeSchedule
from openoms.risk.checks import Reference
from openoms.risk.gate import RiskGate
from openoms.risk.limits import LimitSet
from openoms.risk.limits_file import DEMO_LIMITS
from openoms.routing.router import Router
from openoms.routing.venues import DEFAULT_VENUES, VenueHealth
from openoms.service.ports import Journal, Quote
from openoms.service.runtime import EngineRuntime, Outcome
from openoms.venues.simulated.venue import SimulatedVenue

D = Decimal
SYMBOL = Symbol("AAPL")
DEEP = D(10) ** 9


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pick(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] / 1000, 1)

    return {"p50_us": pick(0.50), "p99_us": pick(0.99), "p999_us": pick(0.999), "max_us": round(ordered[-1] / 1000, 1)}


def deep_quote(now: int) -> Quote:
    bids = tuple((D("99.99") - D("0.01") * i, DEEP) for i in range(5))
    asks = tuple((D("100.00") + D("0.01") * i, DEEP) for i in range(5))
    return Quote(symbol=SYMBOL, ts=now, bid=bids[0][0], ask=asks[0][0], bid_size=DEEP, ask_size=DEEP,
                 last=D("100.00"), last_size=D(100), volume=D(0), bids=bids, asks=asks)


def many_accounts(count: int) -> ReferenceData:
    """The demo hierarchy with ``count`` accounts on the equities desk, 100 per trader."""
    base = demo_reference()
    accounts = {AccountId(f"BA{i}"): Account(AccountId(f"BA{i}"), DeskId("EQUITIES"), f"bench account {i}") for i in range(count)}
    ids = list(accounts)
    traders = {TraderId(f"bt{t}"): Trader(TraderId(f"bt{t}"), DeskId("EQUITIES"), f"bench trader {t}", tuple(ids[t * 100:(t + 1) * 100]))
               for t in range((count + 99) // 100)}
    return ReferenceData(base.firms, base.desks, traders, accounts, base.instruments, base.roles)


# Every rule on: at the firm, the desk and each account (what a real limits file sets).
RISK20_FIRM = {
    "max_order_quantity": "100000", "max_order_notional": "10000000", "price_collar_pct": "10", "min_price": "1",
    "max_price": "10000", "max_pct_adv": "1", "allowed_asset_classes": "equity,option,future,bond", "allowed_venues": "SIM",
    "trading_hours_utc": "00:00-23:59", "short_sale_rules": "true", "self_trade_prevention": "reject_incoming",
    "max_order_to_trade_ratio": "50", "order_to_trade_min_messages": "100", "duplicate_window_ms": "50",
}
RISK20_DESK = {"max_orders_per_second": "1000", "max_replaces_per_second": "100", "max_long_underlying": "1000000",
               "max_short_underlying": "1000000", "max_gross_exposure": "100000000", "max_net_exposure": "100000000"}
RISK20_ACCOUNT = {"max_long_position": "100000", "max_short_position": "100000", "credit_limit": "10000000",
                  "max_daily_loss": "1000000"}


async def run_mode(mode: str, orders: int, window: int, workdir: Path, accounts: int = 10_000,
                   journal: Journal | None = None) -> dict[str, Any]:
    """One mode; ``journal`` (empty, of the mode's durability) replaces the SQLite file (benchmarks/backends.py)."""
    durability, *extras = mode.split("+")
    with_risk = "risk20" if "risk20" in extras else "risk" if "risk" in extras else ""
    with_ops = "ops" in extras
    with_routing = "routing" in extras
    # +wide: the +risk20 workload (orders cycling over --accounts accounts) without risk: its baseline.
    wide = with_risk == "risk20" or "wide" in extras
    reference = many_accounts(accounts) if wide else demo_reference()
    if journal is None:
        journal = NullJournal() if durability == "off" else SqliteJournal(workdir / f"bench-{mode}-{time.time_ns()}.sqlite",
                                                                           durability=durability)
    gate = None
    if with_risk:  # pre-trade risk on, with the demo limits (quantity, notional, collar at three scopes)
        quote = deep_quote(time.time_ns())
        market = Reference(bid=quote.bid, ask=quote.ask, last=quote.last, ts=quote.ts)
        gate = RiskGate(reference, lambda symbol: market,
                        3600 * 10**9)
        if with_risk == "risk20":
            gate.limits["firm:DEMO"] = LimitSet.parse(dict(RISK20_FIRM), "firm")
            gate.limits["desk:EQUITIES"] = LimitSet.parse(dict(RISK20_DESK), "desk")
            gate.restricted["firm:DEMO"] = frozenset({Symbol("NVDA")})
            for account_id in reference.accounts:
                gate.limits[f"account:{account_id}"] = LimitSet.parse(dict(RISK20_ACCOUNT), "account")
        else:
            for scope, values in DEMO_LIMITS.limits.items():
                gate.limits[scope] = LimitSet.parse(dict(values), scope)
    engine = OrderEngine(reference, default_venue=SIM, gate=gate)
    if "posttrade" in extras:  # the post-trade book oms serve plugs in: every fill booked as a trade and a position
        setup = posttrade_file.demo()
        book = PostTradeBook(reference, engine.orders, setup.calendars)
        engine.extend(book)
        book.fee_schedule = FeeSchedule(setup.fees)
    if with_routing:  # the router oms serve wires (no rules file: every order takes the default route)
        engine.router = Router(reference.instruments, reference.accounts, DEFAULT_VENUES, [SIM], VenueHealth(),
                               ConsolidatedBook())
    runtime = EngineRuntime(engine, journal, {})
    if engine.router is not None:  # as bootstrap wires it: a venue whose gateway is not connected is down
        engine.router.connected = lambda v: (g := runtime.venues.get(v)) is not None and bool(getattr(g, "connected", True))  # type: ignore[attr-defined]
    venue = SimulatedVenue(SIM, reference.instruments, runtime.post, "bench")
    runtime.venues = {SIM: venue}
    venue.on_quote(deep_quote(time.time_ns()))
    if with_ops:  # what oms serve adds: the audit index, the order-event log and the metrics
        attach_audit_index(runtime, engine)
        OmsMetrics(runtime, engine, runtime.venues).attach()
    await runtime.start()

    actor = cmd.Actor("demo", "bench")
    account_ids = list(reference.accounts) if wide else [AccountId("ACC-EQ-1")]
    actors = {a: cmd.Actor(t.trader_id, "bench") for t in reference.traders.values() for a in t.accounts}
    if not wide:
        actors = {account_ids[0]: actor}
    sent_at: dict[str, int] = {}
    ack_lat: list[int] = []
    life_lat: list[int] = []
    done = asyncio.Event()
    state = {"submitted": 0, "completed": 0}
    perf = time.perf_counter_ns

    def on_ack(outcome: Outcome) -> None:
        first = outcome.events[0]
        assert isinstance(first, ev.OrderAccepted), outcome.events
        ack_lat.append(perf() - sent_at[first.cl_ord_id])  # refused orders stop the run here: the assert above

    def submit_one() -> None:
        i = state["submitted"]
        state["submitted"] = i + 1
        cl_ord_id = ClientOrderId(f"B{i}")
        sent_at[cl_ord_id] = perf()
        account = account_ids[i % len(account_ids)]
        # Each account buys, then sells what it bought (a sale marked long, covered), and so on.
        buy = len(account_ids) == 1 or (i // len(account_ids)) % 2 == 0
        runtime.post(
            cmd.SubmitOrder(actor=actors[account], account=account, cl_ord_id=cl_ord_id, symbol=SYMBOL,
                            side=Side.BUY if buy else Side.SELL, quantity=D(100), ord_type=OrdType.LIMIT,
                            price=D("100.05") if buy else D("99.95"), tif=TimeInForce.DAY),
            on_ack,
        )

    def on_commit(events: Any) -> None:
        now = perf()
        for event in events:
            if type(event) is ev.OrderFilled:
                order = engine.orders[event.order_id]
                if order.cum_qty >= order.quantity:
                    life_lat.append(now - sent_at.pop(order.cl_ord_id))
                    state["completed"] += 1
                    if state["submitted"] < orders:
                        submit_one()
                    elif state["completed"] >= orders:
                        done.set()

    runtime.subscribers.append(on_commit)
    started = time.perf_counter()
    cpu_started = time.process_time()  # all threads: on a shared, noisy machine steadier than wall time
    for _ in range(min(window, orders)):
        submit_one()
    await done.wait()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await runtime.stop()
    return {
        "mode": mode,
        "orders": orders,
        "orders_per_s": round(orders / elapsed),
        "events_per_s": round(runtime.stats["events"] / elapsed) if durability != "off" else None,
        "events_per_order": round(engine.seq / orders, 2),
        "commits": runtime.stats["batches"],
        "ack": percentiles(ack_lat),
        "lifecycle": percentiles(life_lat),
        "seconds": round(elapsed, 3),
        "cpu_us_per_order": round(cpu / orders * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--event-orders", type=int, default=5_000, help="orders for the slow fsync-per-event mode")
    parser.add_argument("--window", type=int, default=1000, help="orders in flight")
    parser.add_argument("--modes", default="off,group,group+risk,event",
                        help="journal off / group / event, each optionally +risk (pre-trade risk with the demo limits) "
                             "or +risk20 (every rule, --accounts accounts), +posttrade (the post-trade book) and +ops (the audit index, order-event log "
                             "and metrics that oms serve runs)")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts for the +risk20 modes")
    parser.add_argument("--untuned", action="store_true",
                        help="keep CPython's default GIL switch interval and GC thresholds (oms serve tunes them)")
    args = parser.parse_args()
    if not args.untuned:
        tune_interpreter(Config())
    results = []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for mode in args.modes.split(","):
            n = args.event_orders if mode.startswith("event") else args.orders
            gc.collect()  # each mode starts without the previous mode's garbage (a full collection mid-run stalls it)
            result = asyncio.run(run_mode(mode, n, args.window, Path(tmp), args.accounts))
            print(f"{mode:>6}: {result['orders_per_s']:>8} orders/s  cpu {result['cpu_us_per_order']} us/order  "
                  f"ack p50 {result['ack']['p50_us']} us "
                  f"p99 {result['ack']['p99_us']} us  lifecycle p99 {result['lifecycle']['p99_us']} us", file=sys.stderr)
            results.append(result)
    base = next((r for r in results if r["mode"] == "off"), None)
    ratios = {}
    if base:
        for r in results:
            ratios[r["mode"]] = {"throughput_vs_off": round(r["orders_per_s"] / base["orders_per_s"], 3),
                                 "ack_p99_vs_off": round(r["ack"]["p99_us"] / base["ack"]["p99_us"], 2)}
    by_mode = {r["mode"]: r for r in results}
    for durability in ("off", "group"):
        for risk, base_mode in (("risk", durability), ("risk20", f"{durability}+wide"), ("posttrade", durability)):
            if base_mode in by_mode and f"{durability}+{risk}" in by_mode:
                with_risk, without = by_mode[f"{durability}+{risk}"], by_mode[base_mode]
                ratios[f"{durability}+{risk}_vs_{durability}"] = {
                    "throughput": round(with_risk["orders_per_s"] / without["orders_per_s"], 3),
                    "ack_p99": round(with_risk["ack"]["p99_us"] / without["ack"]["p99_us"], 2),
                    "cpu_per_order": round(with_risk["cpu_us_per_order"] / without["cpu_us_per_order"], 3)}
    for mode in by_mode:
        if mode.endswith("+routing") and mode.replace("+routing", "") in by_mode:
            plain = by_mode[mode.replace("+routing", "")]
            ratios[f"{mode}_vs_{plain['mode']}"] = {"throughput": round(by_mode[mode]["orders_per_s"] / plain["orders_per_s"], 3),
                                                   "cpu_per_order": round(by_mode[mode]["cpu_us_per_order"] / plain["cpu_us_per_order"], 3)}
        base_mode = mode.replace("+ops", "")
        if mode.endswith("+ops") and base_mode in by_mode:
            ratios[f"{mode}_vs_{base_mode}"] = {"throughput": round(by_mode[mode]["orders_per_s"] / by_mode[base_mode]["orders_per_s"], 3)}
    print(json.dumps({"benchmark": "engine_lifecycle", "window": args.window, "interpreter_tuned": not args.untuned, "results": results, "ratios": ratios,
                      "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
