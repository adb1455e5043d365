"""Audit lookups on a large journal: order reconstruction and compliance queries.

Builds (or reuses, with ``--keep``) a SQLite journal of ``--events`` events (default 1,000,000)
with the same generator as ``replay.py``, then, in fresh processes:

- ``server``: what ``oms serve`` does: replay with the audit index fed (and, for the ratio,
  the same replay with the index left out), then ``GET /api/v1/audit/orders/{id}`` through the
  real FastAPI app (in process, no sockets) for ``--lookups`` random orders: p50/p99/max; the
  same reconstruction called directly; and the compliance queries (orders of an account in a
  one-minute window, a user's actions, the risk-control changes), each limited to 1,000 rows;
- ``offline``: what ``oms audit order`` does with no server: scan the journal into an index,
  then reconstruct orders.

Ends with one JSON line.

    python benchmarks/audit_lookup.py [--events 1000000] [--lookups 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay import generate  # the same journal as the replay benchmark

from openoms.audit.index import AuditIndex
from openoms.config import Config


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)

    def pick(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * 1000, 3)

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 3)}


def index_bytes(index: AuditIndex) -> int:
    """The index's own storage: 8 bytes per seq or time, a pointer per price (Decimals are shared)."""
    series = [index.accepted, *index.actions.values(), index.controls]
    total = sum(8 * (len(s.seqs) + len(s.times)) for s in series)
    total += sum(8 * len(positions) for table in (index.by_account, index.by_trader, index.by_symbol)
                 for positions in table.values())
    total += sum(8 * (len(p.seqs) + len(p.times)) + 16 * len(p.prices) for p in index.prices.values())
    return total


def measure_server(data_dir: Path, lookups: int, with_index: bool) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from openoms.api.rest import create_app
    from openoms.audit.queries import AuditQueries
    from openoms.bootstrap import build

    oms = build(Config(data_dir=data_dir, market_data=False))
    if not with_index:
        oms.runtime.replay_observers.clear()
    started = time.perf_counter()
    report = oms.recover()
    restart = time.perf_counter() - started
    result: dict[str, Any] = {"events": report.events, "replay_seconds": round(report.seconds, 3),
                              "restart_seconds": round(restart, 3), "events_per_s": round(report.events / report.seconds)}
    if not with_index:
        oms.journal.close()
        return result
    result["index_mb"] = round(index_bytes(oms.audit) / 1e6, 1)
    rng = random.Random(7)
    order_ids = list(oms.engine.orders)
    picks = [rng.choice(order_ids) for _ in range(lookups)]
    with TestClient(create_app(oms, manage_lifecycle=True, trusted_header=True)) as client:
        for order_id in picks[:50]:  # warm up
            client.get(f"/api/v1/audit/orders/{order_id}")
        http = []
        for order_id in picks:
            t0 = time.perf_counter()
            response = client.get(f"/api/v1/audit/orders/{order_id}")
            http.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        queries = AuditQueries(oms.journal, oms.audit)
        direct = []
        for order_id in picks:
            seqs = oms.engine.orders[order_id].seqs
            t0 = time.perf_counter()
            queries.order(order_id, seqs)
            direct.append(time.perf_counter() - t0)
        first = oms.engine.orders[order_ids[len(order_ids) // 2]].created_ts
        compliance = {}
        for name, path, params in (
            ("orders_of_account_1min", "/api/v1/audit/orders", {"account": "ACC-EQ-1", "since": _iso(first),
                                                                 "until": _iso(first + 60 * 10**9), "limit": 1000}),
            ("actions_of_user", "/api/v1/audit/actions", {"user": "demo", "limit": 1000}),
            ("controls", "/api/v1/audit/controls", {"limit": 1000}),
        ):
            samples = []
            for _ in range(20):
                t0 = time.perf_counter()
                response = client.get(path, params=params)
                samples.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            compliance[name] = {**percentiles(samples), "rows": response.json()["count"], "matched": response.json()["matched"]}
    result.update({"orders": len(order_ids), "lookups": lookups, "http_order_reconstruction": percentiles(http),
                   "direct_order_reconstruction": percentiles(direct), "compliance_http": compliance})
    return result


def measure_offline(data_dir: Path, lookups: int) -> dict[str, Any]:
    """What `oms audit order ID` does with no server: scan the journal into the index, then rebuild orders."""
    from openoms.audit.queries import AuditQueries, scan
    from openoms.journal.sqlite import SqliteJournal

    journal = SqliteJournal(Config(data_dir=data_dir).journal_path, readonly=True)
    started = time.perf_counter()
    cpu_started = time.process_time()
    index = scan(journal)
    scanned, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    queries = AuditQueries(journal, index)
    assert index.order_seqs is not None
    rng = random.Random(7)
    order_ids = list(index.order_seqs)
    samples = []
    for order_id in (rng.choice(order_ids) for _ in range(lookups)):
        t0 = time.perf_counter()
        queries.order(order_id)
        samples.append(time.perf_counter() - t0)
    journal.close()
    return {"scan_seconds": round(scanned, 3), "scan_cpu_seconds": round(cpu, 3), "events_per_s": round(index.last_seq / scanned),
            "order_reconstruction": percentiles(samples)}


def _iso(ns: int) -> str:
    from openoms.audit.timefmt import iso_us

    return iso_us(ns)


def run(data_dir: Path, what: str, lookups: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--keep", str(data_dir), "--lookups", str(lookups)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="build the journal in this directory and keep it")
    parser.add_argument("--measure", choices=["server", "server-no-index", "offline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        if args.measure == "offline":
            print(json.dumps(measure_offline(args.keep, args.lookups)))
        else:
            print(json.dumps(measure_server(args.keep, args.lookups, args.measure == "server")))
        return
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        data_dir = args.keep or Path(tmp) / "data"
        journal_path = Config(data_dir=data_dir).journal_path
        if not journal_path.exists():
            started = time.perf_counter()
            events = generate(journal_path, args.events)
            print(f"generated {events} events in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        # Without the index first: the server run starts the engine, which journals its start.
        bare = run(data_dir, "server-no-index", args.lookups)
        server = run(data_dir, "server", args.lookups)
        offline = run(data_dir, "offline", args.lookups)
    http = server["http_order_reconstruction"]
    print(f"{server['events']} events, {server['orders']} orders; audit index {server['index_mb']} MB", file=sys.stderr)
    print(f"GET /api/v1/audit/orders/{{id}}: p50 {http['p50_ms']} ms, p99 {http['p99_ms']} ms, max {http['max_ms']} ms; "
          f"direct p50 {server['direct_order_reconstruction']['p50_ms']} ms", file=sys.stderr)
    for name, figures in server["compliance_http"].items():
        print(f"{name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms ({figures['rows']} rows of {figures['matched']})",
              file=sys.stderr)
    print(f"replay with the index {server['events_per_s']} events/s, without {bare['events_per_s']} events/s", file=sys.stderr)
    print(f"offline scan {offline['scan_seconds']} s ({offline['scan_cpu_seconds']} s CPU, {offline['events_per_s']} events/s), "
          f"then lookup p50 {offline['order_reconstruction']['p50_ms']} ms", file=sys.stderr)
    print(json.dumps({
        "benchmark": "audit_lookup", "events": server["events"], "orders": server["orders"], "server": server,
        "server_without_index": bare, "offline": offline,
        "ratios": {"replay_with_index_vs_without": round(server["events_per_s"] / bare["events_per_s"], 3)},
    }))


if __name__ == "__main__":
    main()
