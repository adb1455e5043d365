"""The smart order router through the real engine and simulated venues: it sweeps the best
displayed prices across venues, leaves out what it must not use (down, stale, crossed) and says
so, re-routes what a venue leaves, and its decisions replay to the same state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from routing_kit import Market, fills_by_venue, quote

from builders import replay, snapshot
from openoms.domain import events as ev
from openoms.domain.lifecycle import OrdStatus
from openoms.domain.order import Order
from openoms.domain.rejects import RejectCode

D = Decimal

# Three venues, each with its own book: the best prices are spread over all three.
BOOKS = {
    "SIM-A": quote([("100.00", 100), ("100.05", 100), ("100.10", 5000)]),
    "SIM-B": quote([("100.02", 200), ("100.06", 300), ("100.20", 5000)]),
    "SIM-C": quote([("100.01", 100), ("100.04", 200), ("100.30", 5000)]),
}


def filled(order: Order | ev.CommandRejected) -> Order:
    assert isinstance(order, Order), order
    return order


def test_sor_market_order_when_liquidity_is_spread_then_better_average_than_any_single_venue() -> None:
    sor = filled(Market(BOOKS).submit(600, route="sor"))
    assert sor.working is OrdStatus.FILLED
    singles = {venue: filled(Market(BOOKS).submit(600, route=venue)) for venue in BOOKS}
    assert all(order.working is OrdStatus.FILLED for order in singles.values())
    assert sor.avg_px < min(order.avg_px for order in singles.values()), (sor.avg_px, {v: o.avg_px for v, o in singles.items()})
    # It took the best levels: 100 @ 100.00 (A), 100 @ 100.01 (C), 200 @ 100.02 (B), 200 @ 100.04 (C).
    assert fills_by_venue(sor) == {"SIM-A": D(100), "SIM-B": D(200), "SIM-C": D(300)}
    assert sor.px_qty_sum == D("60013.00")


def test_sor_decision_when_journaled_then_names_rule_allocations_and_reasons() -> None:
    market = Market(BOOKS)
    order = filled(market.submit(600, route="sor"))
    decision = order.routing[0]
    assert decision.rule == "client:sor" and decision.strategy == "sor"
    assert sum(quantity for _, quantity in decision.allocations) == D(600)
    assert any("SIM-A: takes 100" in note for note in decision.notes)


def test_sor_when_a_venue_is_down_then_never_routes_there_and_says_so() -> None:
    market = Market(BOOKS)
    market.venues["SIM-A"].connected = False
    market.router.connected = lambda venue: market.venues[venue].connected
    order = filled(market.submit(600, route="sor"))
    assert "SIM-A" not in {route.venue for route in order.routes.values()}
    assert any(note.startswith("SIM-A left out: down") for note in order.routing[0].notes)
    assert order.working is OrdStatus.FILLED


def test_sor_when_market_data_stale_then_falls_back_to_rules_and_says_so() -> None:
    market = Market(BOOKS)
    market.now += 3_000_000_000  # every venue quote is now 3 s old (limit 2 s)
    order = filled(market.submit(600, price="101.00", route="sor"))
    decision = order.routing[0]
    assert decision.strategy == "rule" and decision.allocations == (("SIM", D(600)),)
    assert any("stale" in note for note in decision.notes)
    assert any("smart routing not used" in note for note in decision.notes)


def test_sor_when_consolidated_market_crossed_then_falls_back_and_says_so() -> None:
    books = dict(BOOKS)
    books["SIM-B"] = quote([("100.06", 200)], bids=[("100.03", 100)])  # B bids above A's and C's ask
    order = filled(Market(books).submit(100, price="101.00", route="sor"))
    decision = order.routing[0]
    assert decision.strategy == "rule"
    assert any("crossed" in note for note in decision.notes), decision.notes


def test_sor_when_venue_rejects_its_child_then_remainder_rerouted_to_venues_not_tried() -> None:
    market = Market(BOOKS)
    market.venues["SIM-A"].connected = False  # the venue refuses; the router has not been told yet
    order = filled(market.submit(600, route="sor"))
    assert order.working is OrdStatus.FILLED
    ended = [e for e in market.events if isinstance(e, ev.RouteEnded)]
    assert ended and "venue SIM-A is down" in ended[0].reason
    assert "re-route" in order.routing[-1].notes[0]
    assert "SIM-A" not in fills_by_venue(order)


def test_rule_routing_when_first_venue_rejects_then_rerouted_then_rejected_with_reason_when_none_left() -> None:
    rules = '[[rules]]\nname = "a-then-b"\nsymbols = ["AAPL"]\nvenues = ["SIM-A", "SIM-B"]\n'
    market = Market(BOOKS, rules)
    market.venues["SIM-A"].connected = False
    order = filled(market.submit(100, price="101.00"))
    assert [route.venue for route in order.routes.values()] == ["SIM-A", "SIM-B"]
    assert order.working is OrdStatus.FILLED
    market.venues["SIM-B"].connected = False
    refused = filled(market.submit(100, price="101.00"))
    assert refused.working is OrdStatus.REJECTED
    assert "SIM-B is down" in refused.text


def test_rule_routing_when_every_venue_marked_down_then_order_refused_with_reason() -> None:
    from openoms.routing.venues import VenueState

    rules = '[[rules]]\nname = "a-then-b"\nsymbols = ["AAPL"]\nvenues = ["SIM-A", "SIM-B"]\n'
    market = Market(BOOKS, rules)
    market.health.set("SIM-A", VenueState.DOWN, "maintenance")  # type: ignore[arg-type]
    market.health.set("SIM-B", VenueState.DOWN, "")  # type: ignore[arg-type]
    refused = market.submit(100, price="101.00")
    assert isinstance(refused, ev.CommandRejected)
    assert refused.reason.code is RejectCode.NO_ROUTE
    assert "SIM-A down: maintenance" in refused.reason.message and "a-then-b" in refused.reason.message


def test_split_order_when_canceled_then_every_child_canceled_and_none_left_working() -> None:
    market = Market(BOOKS)
    for venue in market.venues.values():
        venue.set_session_open(False)  # nothing matches: every child rests
    order = filled(market.submit(600, price="100.10", route="sor"))
    assert len(order.open_routes()) == 3
    market.cancel(order.order_id)
    assert order.working is OrdStatus.CANCELED and order.pending is None
    assert not order.open_routes()
    assert all(not venue.book("AAPL").is_live(route_id)  # type: ignore[union-attr]
               for venue in market.venues.values() for route_id in order.routes)


def test_routed_orders_when_replayed_then_same_state() -> None:
    market = Market(BOOKS)
    market.venues["SIM-A"].connected = False
    market.submit(600, route="sor")
    market.submit(300, price="100.05", route="SIM-B")
    market.submit(50, price="99.00")
    assert snapshot(replay(market.events)) == snapshot(market.engine)


@pytest.mark.parametrize("route", ["SIM-X", "SIM-C"])
def test_explicit_venue_when_unknown_or_lot_refused_then_no_route(route: str) -> None:
    refused = Market(BOOKS).submit(50, price="100.00", route=route)  # SIM-C trades round lots of 100
    assert isinstance(refused, ev.CommandRejected) and refused.reason.code is RejectCode.NO_ROUTE
