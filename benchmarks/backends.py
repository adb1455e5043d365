"""SQLite against PostgreSQL: the same in-process lifecycle workload as engine_lifecycle.py
(submit -> accept -> route -> venue ack -> fill, closed loop, ``--window`` orders in flight)
with the journal on each backend, side by side in one run: durable orders/s and ack latency.

PostgreSQL runs on a throwaway database (created on ``--admin-url``'s server and dropped at the
end), a fresh schema per mode. Modes: ``sqlite/group``, ``postgresql/group``,
``postgresql/relaxed`` (synchronous_commit=off), ``sqlite/event`` and ``postgresql/event``
(one commit per event: the slow baselines, with fewer orders). Then each ``group`` journal just
written is replayed into a fresh engine with the hash chain checked (events/s).

    python benchmarks/backends.py [--orders 20000] [--event-orders 1000] [--window 1000]
        [--modes sqlite/group,postgresql/group,...] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from engine_lifecycle import run_mode

from openoms.bootstrap import tune_interpreter
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain.engine import OrderEngine
from openoms.journal.postgres import PostgresJournal
from openoms.journal.sqlite import SqliteJournal
from openoms.service.ports import Journal
from openoms.service.runtime import EngineRuntime

DEFAULT_MODES = "sqlite/group,postgresql/group,postgresql/relaxed,sqlite/event,postgresql/event"


def open_journal(mode: str, base_url: str, workdir: Path) -> Journal:
    backend, _, durability = mode.partition("/")
    if backend == "postgresql":
        return PostgresJournal(f"{base_url}?options=-csearch_path%3D{mode.replace('/', '_')}", durability=durability)
    return SqliteJournal(workdir / f"{durability}.sqlite", durability=durability)


def replay(journal: Journal) -> dict[str, Any]:
    """Rebuild an engine from the journal with every hash link checked, as a restart does."""
    gc.collect()
    runtime = EngineRuntime(OrderEngine(demo_reference(), default_venue=SIM), journal, {})
    report = runtime.replay(verify=True)
    journal.close()
    return {"events": report.events, "seconds": round(report.seconds, 3), "events_per_s": round(report.events / report.seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--event-orders", type=int, default=1_000, help="orders for the commit-per-event modes")
    parser.add_argument("--window", type=int, default=1000, help="orders in flight")
    parser.add_argument("--modes", default=DEFAULT_MODES)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server where a throwaway database may be created")
    args = parser.parse_args()
    tune_interpreter(Config())
    database = f"openoms_bench_{secrets.token_hex(4)}"
    base_url = args.admin_url.rsplit("/", 1)[0] + "/" + database
    results: list[dict[str, Any]] = []
    with psycopg.connect(args.admin_url, autocommit=True) as admin, tempfile.TemporaryDirectory(dir=".") as tmp:
        admin.execute(f"CREATE DATABASE {database}")
        try:
            for mode in args.modes.split(","):
                backend, _, durability = mode.partition("/")
                if backend == "postgresql":
                    with psycopg.connect(base_url, autocommit=True) as conn:
                        conn.execute(f"CREATE SCHEMA {mode.replace('/', '_')}")
                journal = open_journal(mode, base_url, Path(tmp))
                orders = args.event_orders if durability == "event" else args.orders
                gc.collect()
                result = asyncio.run(run_mode(durability, orders, args.window, Path(tmp), journal=journal))
                result["mode"] = mode
                print(f"{mode:>20}: {result['orders_per_s']:>7} orders/s  ack p50 {result['ack']['p50_us']} us "
                      f"p99 {result['ack']['p99_us']} us  ({result['commits']} commits)", file=sys.stderr)
                results.append(result)
            for mode in ("sqlite/group", "postgresql/group"):
                if mode in args.modes.split(","):
                    replayed = replay(open_journal(mode, base_url, Path(tmp)))
                    print(f"{mode:>20}: replay {replayed['events_per_s']:>7} events/s ({replayed['events']} events)", file=sys.stderr)
                    results.append({"mode": f"replay {mode}", **replayed})
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    by_mode = {r["mode"]: r for r in results}
    ratios = {}
    for durability in ("group", "event"):
        sqlite, postgres = by_mode.get(f"sqlite/{durability}"), by_mode.get(f"postgresql/{durability}")
        if sqlite and postgres:
            ratios[f"postgresql_vs_sqlite_{durability}"] = {
                "throughput": round(postgres["orders_per_s"] / sqlite["orders_per_s"], 3),
                "ack_p99": round(postgres["ack"]["p99_us"] / sqlite["ack"]["p99_us"], 2)}
    print(json.dumps({"benchmark": "backends", "window": args.window, "results": results, "ratios": ratios,
                      "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
