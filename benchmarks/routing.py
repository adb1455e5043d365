"""Routing and market data, in process: quote ingest into the per-venue book (updates/s, and
with the NBBO read after each update), CSV and Parquet quote parsing, FIX 4.4 incremental
refreshes (35=X) parsed and folded into the book, rule-routing decisions/s, and the smart order
router's decision latency over five venues with five levels each (p50/p99/p99.9).

    python benchmarks/routing.py [--quotes 500000] [--decisions 20000]

Baseline for the SOR: a rule decision (first matching of ten rules, one venue) in the same run.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from openoms.bootstrap import tune_interpreter
from openoms.config import Config
from openoms.demo import SIM, demo_reference
from openoms.domain.ids import AccountId, Symbol, VenueId
from openoms.domain.routing import RoutingQuery
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.fix import codec
from openoms.fix.marketdata import FixMarketDataBook
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.marketdata.replay import parse_rows, read_quotes
from openoms.routing.router import Router
from openoms.routing.rules import parse
from openoms.routing.venues import VenueHealth, VenueSpec
from openoms.service.ports import Quote

D = Decimal
VENUES = [VenueSpec(VenueId(f"SIM-{c}"), taker_fee_bps=D(f"0.{i + 1}"), latency_us=50 * i, round_lot=D(1))
          for i, c in enumerate("ABCDE")]
SYMBOLS = ["AAPL", "MSFT", "NVDA", "SAP", "ESZ6"]


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {f"{name}_us": round(ordered[min(n - 1, int(q * n))] / 1000, 1)
            for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999))} | {"max_us": round(ordered[-1] / 1000, 1)}


def make_quotes(count: int, rng: random.Random, start_ts: int) -> list[tuple[str, Quote]]:
    out = []
    for i in range(count):
        symbol = Symbol(SYMBOLS[i % len(SYMBOLS)])
        venue = VENUES[(i // len(SYMBOLS)) % len(VENUES)].venue_id
        # Venues quote around a common mid (the market is not crossed), each a little wider or not.
        mid = 10_000 + (i // (len(SYMBOLS) * len(VENUES))) % 7
        bid_ticks = mid - rng.randint(0, 2)
        ask_ticks = mid + 1 + rng.randint(0, 2)
        bids = tuple((D(bid_ticks - k) / 100, D(100 * rng.randint(1, 20))) for k in range(5))
        asks = tuple((D(ask_ticks + k) / 100, D(100 * rng.randint(1, 20))) for k in range(5))
        out.append((venue, Quote(symbol=symbol, ts=start_ts + i, bid=bids[0][0], ask=asks[0][0], bid_size=bids[0][1],
                                 ask_size=asks[0][1], last=bids[0][0], last_size=D(100), volume=D(100 * i),
                                 bids=bids, asks=asks)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=int, default=500_000)
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    tune_interpreter(Config())  # as oms serve runs: what was built before is frozen out of GC passes
    rng = random.Random(1)
    now = time.time_ns()
    quotes = make_quotes(args.quotes, rng, now)
    gc.collect()
    gc.freeze()

    book = ConsolidatedBook()
    update = book.update
    started = time.perf_counter()
    for venue, quote in quotes:
        update(venue, quote)
    ingest = args.quotes / (time.perf_counter() - started)

    book2 = ConsolidatedBook()
    sample = quotes[: args.quotes // 10]
    started = time.perf_counter()
    for venue, quote in sample:
        book2.update(venue, quote)
        book2.nbbo(quote.symbol, quote.ts, 2_000_000_000)
    with_nbbo = len(sample) / (time.perf_counter() - started)

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["ts", "symbol", "venue", "bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume"])
    for venue, quote in sample:
        writer.writerow([quote.ts, quote.symbol, venue, quote.bid, quote.bid_size, quote.ask, quote.ask_size, quote.last,
                         quote.last_size, quote.volume])
    started = time.perf_counter()
    parsed = sum(1 for _ in parse_rows(csv.DictReader(io.StringIO(text.getvalue())), "bench"))
    csv_rate = parsed / (time.perf_counter() - started)

    import pyarrow as pa
    import pyarrow.parquet as pq

    price = pa.decimal128(18, 2)
    table = pa.table({
        "ts": pa.array([q.ts for _, q in sample], pa.int64()), "symbol": [q.symbol for _, q in sample],
        "venue": [v for v, _ in sample], "bid": pa.array([q.bid for _, q in sample], price),
        "bid_size": pa.array([int(q.bid_size) for _, q in sample], pa.int64()), "ask": pa.array([q.ask for _, q in sample], price),
        "ask_size": pa.array([int(q.ask_size) for _, q in sample], pa.int64())})
    with tempfile.TemporaryDirectory() as scratch:  # never in the cwd
        parquet_path = Path(scratch) / "quotes.parquet"
        pq.write_table(table, parquet_path)
        started = time.perf_counter()
        parquet_rows = sum(1 for _ in read_quotes(parquet_path))
        parquet_rate = parquet_rows / (time.perf_counter() - started)

    # FIX 35=X: two entries each (a changed offer, a changed bid), as a provider's feed sends them.
    frames = []
    for i, (_, quote) in enumerate(sample):
        body = [(262, "R1"), (268, "2"), (279, "1"), (269, "1"), (55, quote.symbol), (270, str(quote.ask)), (271, str(quote.ask_size)),
                (279, "1"), (269, "0"), (55, quote.symbol), (270, str(quote.bid)), (271, str(quote.bid_size))]
        frames.append(codec.encode("X", "MDP", "OPENOMS-MD", i + 1, "20261126-10:00:00.000", body))
    md_book, fix_book = FixMarketDataBook("FEED"), ConsolidatedBook()
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        changed, _ = md_book.apply(codec.parse(frame), now + i)
        for quote in changed:
            fix_book.update("FEED", quote)
    fix_rate = len(frames) / (time.perf_counter() - started)

    reference = demo_reference()
    rules_text = "\n".join(f'[[rules]]\nname = "r{i}"\naccounts = ["ACC-EQ-2"]\nmin_quantity = "{i + 1}"\nvenues = ["SIM-A"]\n'
                           for i in range(9)) + '[[rules]]\nname = "equities"\nasset_class = "equity"\nvenues = ["SIM-B", "SIM-A"]\n'
    known = [SIM, *(v.venue_id for v in VENUES)]
    rules = parse(rules_text, "bench", reference.instruments, reference.accounts, known)
    router = Router(reference.instruments, reference.accounts, VENUES, known, VenueHealth(), book, 3600 * 10**9, rules)
    instrument = reference.instruments[Symbol("AAPL")]
    account = AccountId("ACC-EQ-1")
    queries = [RoutingQuery(account, instrument, Side.BUY if i % 2 else Side.SELL, D(100 * rng.randint(1, 60)),
                            OrdType.LIMIT if i % 3 else OrdType.MARKET, None if i % 3 == 0 else D("100.50") if i % 2 else D("99.50"),
                            TimeInForce.DAY) for i in range(args.decisions)]
    perf = time.perf_counter_ns
    clock = now + args.quotes

    def timed(strategy: str) -> tuple[list[int], float, int]:
        samples = []
        split = 0
        begun = time.perf_counter()
        for query in queries:
            q = RoutingQuery(query.account, query.instrument, query.side, query.quantity, query.ord_type, query.price,
                             query.tif, strategy)
            t0 = perf()
            decision = router.route(q, clock)
            samples.append(perf() - t0)
            assert decision.reject is None and decision.strategy == (strategy or "rule"), decision
            split += len(decision.allocations) > 1
        return samples, len(queries) / (time.perf_counter() - begun), split

    rule_samples, rule_rate, _ = timed("")
    sor_samples, sor_rate, split = timed("sor")
    result = {
        "benchmark": "routing",
        "quote_ingest_per_s": round(ingest),
        "quote_ingest_with_nbbo_per_s": round(with_nbbo),
        "csv_quotes_parsed_per_s": round(csv_rate),
        "parquet_quotes_parsed_per_s": round(parquet_rate),
        "fix_incrementals_folded_per_s": round(fix_rate),
        "rule_decisions_per_s": round(rule_rate),
        "rule_decision": percentiles(rule_samples),
        "sor_decisions_per_s": round(sor_rate),
        "sor_decision": percentiles(sor_samples),
        "sor_split_share": round(split / len(queries), 3),
        "sor_vs_rule_p99": round(percentiles(sor_samples)["p99_us"] / percentiles(rule_samples)["p99_us"], 1),
        "venues": len(VENUES), "levels": 5, "quotes": args.quotes, "decisions": args.decisions,
        "python": sys.version.split()[0],
    }
    print(f"ingest {result['quote_ingest_per_s']:,}/s (with NBBO {result['quote_ingest_with_nbbo_per_s']:,}/s), "
          f"CSV {result['csv_quotes_parsed_per_s']:,}/s, Parquet {result['parquet_quotes_parsed_per_s']:,}/s, "
          f"FIX 35=X {result['fix_incrementals_folded_per_s']:,}/s; rule {result['rule_decisions_per_s']:,}/s "
          f"p99 {result['rule_decision']['p99_us']} us; SOR {result['sor_decisions_per_s']:,}/s "
          f"p50 {result['sor_decision']['p50_us']} us p99 {result['sor_decision']['p99_us']} us", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
