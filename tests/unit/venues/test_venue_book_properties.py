"""Property: whatever the sequence of submits, cancels, replaces, quotes and session changes,
the book never overfills, never fills outside a limit, never fills a fraction of a lot, never
takes more displayed size than a quote showed, and never trades while halted or closed."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from venue_testkit import STOCK, quote, route

from openoms.domain.ids import RouteId, Symbol
from openoms.domain.instruments import AssetClass, Instrument
from openoms.domain.values import OrdType, TimeInForce
from openoms.venues.simulated.book import (
    Ack,
    BookReport,
    Canceled,
    CancelReject,
    Fill,
    OrderBook,
    Rejected,
    Replaced,
    ReplaceReject,
)

TICK = Decimal("0.01")
BASE = Decimal("100.00")
LOT10 = Instrument(Symbol("AAPL"), AssetClass.EQUITY, "USD", TICK, Decimal(10), "Lots of ten")


def px(offset: int) -> str:
    return str(BASE + TICK * offset)


submits = st.tuples(
    st.just("submit"),
    st.sampled_from(["buy", "sell", "sell_short"]),
    st.sampled_from(list(OrdType)),
    st.sampled_from(list(TimeInForce)),
    st.one_of(st.integers(1, 30), st.integers(100, 400)),  # lots: big ones outgrow the quote and rest
    st.integers(-6, 6),  # price offset in ticks
    st.integers(-6, 6),  # stop offset in ticks
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 40))
replaces = st.tuples(st.just("replace"), st.integers(0, 40), st.integers(0, 40), st.one_of(st.none(), st.integers(-6, 6)))
expires = st.tuples(st.just("expire"), st.integers(0, 40))
quotes = st.tuples(
    st.just("quote"),
    st.integers(-5, 5),  # bid offset
    st.integers(1, 3),  # spread in ticks
    st.lists(st.integers(0, 120), min_size=0, max_size=5),  # bid sizes (not whole lots on purpose)
    st.lists(st.integers(0, 120), min_size=0, max_size=5),  # ask sizes
    st.integers(-6, 6),  # last offset
    st.booleans(),  # halted
)
sessions = st.tuples(st.just("session"), st.booleans())
# Submits dominate so books build up and cross; sessions are rare so most sequences trade.
operations = st.lists(
    st.one_of(submits, submits, submits, cancels, replaces, expires, quotes, quotes, sessions),
    min_size=10,
    max_size=80,
)
OPENING_QUOTE = ("quote", 0, 1, [100, 100, 100], [100, 100, 100], 0, False)


@dataclass
class Model:
    is_buy: bool
    quantity: Decimal
    limit: Decimal | None
    cum: Decimal = Decimal(0)
    done: bool = False


@settings(max_examples=300, deadline=None)
@given(instrument=st.sampled_from([STOCK, LOT10]), ops=operations)
def test_random_sequences_never_overfill_and_respect_limits_lots_and_displayed_size(
    instrument: Instrument, ops: list[tuple[Any, ...]]
) -> None:
    run_and_check(instrument, ops)


def test_long_seeded_random_sessions_keep_the_same_invariants() -> None:
    # Hypothesis favours short sequences; long ones build deep books with many internal crosses.
    for seed in range(40):
        rng = random.Random(seed)
        run_and_check(rng.choice([STOCK, LOT10]), [random_op(rng) for _ in range(400)])


def random_op(rng: random.Random) -> tuple[Any, ...]:
    kind = rng.choice("sssscrxqqS")
    if kind == "s":
        lots = rng.randint(1, 30) if rng.random() < 0.5 else rng.randint(100, 400)
        return ("submit", rng.choice(["buy", "sell", "sell_short"]), rng.choice(list(OrdType)),
                rng.choice(list(TimeInForce)), lots, rng.randint(-6, 6), rng.randint(-6, 6))
    if kind in "cx":
        return ("cancel" if kind == "c" else "expire", rng.randint(0, 1000))
    if kind == "r":
        return ("replace", rng.randint(0, 1000), rng.randint(0, 400), rng.choice([None, rng.randint(-6, 6)]))
    if kind == "q":
        sizes = [[rng.randint(0, 120) for _ in range(rng.randint(0, 5))] for _ in range(2)]
        return ("quote", rng.randint(-5, 5), rng.randint(1, 3), sizes[0], sizes[1], rng.randint(-6, 6), rng.random() < 0.1)
    return ("session", rng.random() < 0.8)


def run_and_check(instrument: Instrument, ops: list[tuple[Any, ...]]) -> None:
    """Apply ``ops`` to a fresh book, checking every report against a simple model."""
    lot = instrument.lot_size
    book = OrderBook(instrument)
    model: dict[str, Model] = {}
    displayed: dict[tuple[bool, Decimal], Decimal] = {}  # (taker is buy, price) -> usable size
    taken: dict[tuple[bool, Decimal], Decimal] = defaultdict(Decimal)
    halted = False
    is_open = True
    ids: list[str] = []

    def check(reports: list[BookReport]) -> None:
        for r in reports:
            m = model.get(r.route_id)
            if isinstance(r, Fill):
                assert m is not None and not m.done, r
                assert not halted and is_open, "traded while halted or closed"
                assert r.qty > 0 and r.qty % lot == 0, r
                m.cum += r.qty
                assert m.cum <= m.quantity, f"overfill {r}"
                assert r.leaves == m.quantity - m.cum, r
                if m.limit is not None:
                    assert (r.price <= m.limit) if m.is_buy else (r.price >= m.limit), f"{r} outside limit {m.limit}"
                if r.counter_route_id is None:
                    key = (m.is_buy, r.price)
                    taken[key] += r.qty
                    assert taken[key] <= displayed.get(key, Decimal(0)), f"took more than displayed at {key}"
                else:
                    assert model[r.counter_route_id].is_buy is not m.is_buy
                if m.cum == m.quantity:
                    m.done = True
            elif isinstance(r, Replaced):
                assert m is not None and not m.done
                m.quantity, m.limit = r.quantity, r.price
                if r.leaves == 0:
                    m.done = True
                else:
                    assert r.leaves == m.quantity - m.cum
            elif isinstance(r, Canceled | Rejected):
                assert m is not None and not m.done
                m.done = True
            elif isinstance(r, Ack):
                assert m is not None and not m.done
            else:
                assert isinstance(r, CancelReject | ReplaceReject)

    for op in [OPENING_QUOTE, *ops]:
        kind = op[0]
        if kind == "submit":
            _, side, ord_type, tif, lots, p, s = op
            route_id = f"R{len(ids)}"
            ids.append(route_id)
            request = route(route_id, side, lot * lots, px(p) if ord_type.needs_price else None,
                            ord_type=ord_type, tif=tif, stop=px(s) if ord_type.needs_stop_price else None)
            model[route_id] = Model(side == "buy", request.quantity, request.price)
            check(book.submit(request))
            m = model[route_id]
            if ord_type in (OrdType.MARKET, OrdType.LIMIT) and (tif.is_immediate or ord_type is OrdType.MARKET):
                assert m.done, f"{ord_type} {tif} {route_id} still working after submit"
            if ord_type in (OrdType.MARKET, OrdType.LIMIT) and tif is TimeInForce.FOK:
                assert m.cum in (0, m.quantity), f"FOK {route_id} partially filled"
        elif kind == "cancel" and ids:
            check(book.cancel(RouteId(ids[op[1] % len(ids)])))
        elif kind == "expire" and ids:
            route_id = ids[op[1] % len(ids)]
            assert book.expire(RouteId(route_id)) == []
            model[route_id].done = True
        elif kind == "replace" and ids:
            _, which, lots, p = op
            check(book.replace(RouteId(ids[which % len(ids)]), lot * lots, None if p is None else Decimal(px(p)), None))
        elif kind == "quote":
            _, b, spread, bid_sizes, ask_sizes, last, halted = op
            q = quote([(px(b - i), n) for i, n in enumerate(bid_sizes)],
                      [(px(b + spread + i), n) for i, n in enumerate(ask_sizes)], last=px(last), halted=halted)
            displayed = {(False, p): size - size % lot for p, size in q.bids}
            displayed |= {(True, p): size - size % lot for p, size in q.asks}
            taken.clear()
            check(book.on_quote(q))
        elif kind == "session":
            is_open = op[1]
            book.set_open(is_open)

        for route_id, m in model.items():
            leaves = book.leaves(RouteId(route_id))
            assert (leaves is None) == m.done, route_id
            assert leaves is None or leaves == m.quantity - m.cum
