"""Replay speed and restart time on a large journal.

Builds a SQLite journal of ``--events`` events (default 1,000,000) by running the real engine:
orders that are accepted, routed, acknowledged and filled in one or two fills, with some
replaced and canceled. Then measures, on that file:

- replay with the full hash-chain check (what ``oms serve`` does by default; above 200,000
  events a second process checks the chain while this one replays) and without it, in
  events/s; the no-check replay is the baseline the ratio is taken against;
- restart: ``build(config)`` + ``recover()``, the time from opening the data directory to an
  engine ready to accept orders. Each measurement runs in a fresh process.

Ends with one JSON line.

    python benchmarks/replay.py [--events 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from openoms.bootstrap import build
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain import commands as cmd
from openoms.domain.engine import OrderEngine
from openoms.domain.events import Event
from openoms.domain.ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, VenueOrderId
from openoms.domain.values import Side
from openoms.journal.sqlite import SqliteJournal

D = Decimal


def generate(path: Path, target_events: int) -> int:
    journal = SqliteJournal(path, durability="relaxed")  # building the fixture, not measuring it
    engine = OrderEngine(demo_reference(), default_venue=SIM)
    trader = cmd.Actor("demo", "bench")
    venue = cmd.Actor("SIM", "venue")
    now = 1_780_000_000_000_000_000
    pending: list[Event] = []
    i = 0
    symbols = [Symbol("AAPL"), Symbol("MSFT"), Symbol("NVDA")]
    while engine.seq < target_events:
        i += 1
        now += 1000
        symbol = symbols[i % 3]
        order_id = OrderId(f"O{engine.order_count + 1}")
        route = RouteId(f"{order_id}-1")
        side = Side.BUY if i % 2 else Side.SELL
        steps: list[cmd.Command] = [
            cmd.SubmitOrder(actor=trader, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"C{i}"), symbol=symbol,
                            side=side, quantity=D(100), price=D("100.00")),
            cmd.VenueAccepted(actor=venue, route_id=route, venue_order_id=VenueOrderId(f"V{i}")),
        ]
        if i % 10 == 0:
            steps += [cmd.ReplaceOrder(actor=trader, order_id=order_id, cl_ord_id=ClientOrderId(f"C{i}-R"), quantity=D(200)),
                      cmd.VenueReplaced(actor=venue, route_id=route, quantity=D(200), price=D("100.00")),
                      cmd.CancelOrder(actor=trader, order_id=order_id),
                      cmd.VenueCanceled(actor=venue, route_id=route, reason="requested")]
        else:
            steps += [cmd.VenueFilled(actor=venue, route_id=route, exec_id=ExecId(f"E{i}a"), last_qty=D(40), last_px=D("99.99")),
                      cmd.VenueFilled(actor=venue, route_id=route, exec_id=ExecId(f"E{i}b"), last_qty=D(60), last_px=D("100.00"))]
        for step in steps:
            pending += engine.handle(step, now)
        if len(pending) >= 10_000:
            journal.append(pending)
            pending = []
    journal.append(pending)
    journal.close()
    return engine.seq


def measure(data_dir: Path, what: str) -> dict[str, float]:
    """One fresh start, as a restart would be (run in its own process, so no earlier engine's
    million objects sit in memory while this one replays)."""
    started = time.perf_counter()
    oms = build(Config(data_dir=data_dir, market_data=False, verify_on_start=what != "unverified"))
    report = oms.recover()
    total = time.perf_counter() - started
    result = {"events": report.events, "seconds": round(report.seconds, 3),
              "events_per_s": round(report.events / report.seconds), "restart_seconds": round(total, 3),
              "orders": len(oms.engine.orders)}
    oms.journal.close()
    return result


def run_measure(data_dir: Path, what: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--keep", str(data_dir)],
                         capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build the journal in this directory and keep it")
    parser.add_argument("--measure", choices=["verified", "unverified"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.keep, args.measure)))
        return
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        data_dir = args.keep or Path(tmp) / "data"
        config = Config(data_dir=data_dir, market_data=False)
        if not config.journal_path.exists():
            started = time.perf_counter()
            events = generate(config.journal_path, args.events)
            print(f"generated {events} events in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        size_mb = config.journal_path.stat().st_size / 1e6
        results = {what: run_measure(data_dir, what) for what in ("unverified", "verified")}
    for name, r in results.items():
        print(f"replay {name:>10}: {r['events_per_s']:>8} events/s ({r['events']} events in {r['seconds']} s); "
              f"restart {r['restart_seconds']} s", file=sys.stderr)
    verified = results["verified"]
    print(json.dumps({
        "benchmark": "replay", "events_per_s": verified["events_per_s"], "journal_mb": round(size_mb, 1),
        "orders": verified["orders"], "restart_seconds": verified["restart_seconds"], "replay": results,
        "ratios": {"verified_vs_unverified": round(verified["events_per_s"] / results["unverified"]["events_per_s"], 3)},
    }))


if __name__ == "__main__":
    main()
