"""Scenarios for SimulatedVenue: book reports become domain VenueReport commands, synchronously."""

from __future__ import annotations

from venue_testkit import STOCK, D, quote, route

from openoms.domain.commands import (
    Actor,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueFilled,
    VenueRejected,
    VenueReplaced,
    VenueReplaceRejected,
    VenueReport,
)
from openoms.domain.ids import RouteId, VenueId
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Liquidity, OrdType
from openoms.service.ports import VenueGateway
from openoms.venues.simulated.venue import SimulatedVenue

R = RouteId
SIM = VenueId("SIM")


def make_venue(session_id: str = "s1") -> tuple[SimulatedVenue, list[VenueReport]]:
    sink: list[VenueReport] = []
    return SimulatedVenue(SIM, {STOCK.symbol: STOCK}, sink.append, session_id), sink


def test_venue_satisfies_the_gateway_protocol() -> None:
    venue, _ = make_venue()
    gateway: VenueGateway = venue  # checked by mypy; at run time just that the id is there
    assert gateway.venue_id == SIM


def test_new_order_reports_accept_and_fills_as_venue_commands() -> None:
    venue, sink = make_venue()
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    venue.new_order(route("B1", "buy", 10, "100.00"))
    accepted, fill = sink
    actor = Actor(user=SIM, source="venue")
    assert isinstance(accepted, VenueAccepted)
    assert accepted == VenueAccepted(actor=actor, route_id=R("B1"), venue_order_id=accepted.venue_order_id)
    assert accepted.venue_order_id == "SIM-s1-O1"
    assert isinstance(fill, VenueFilled)
    assert (fill.actor, fill.route_id, fill.last_qty, fill.last_px) == (actor, "B1", D(10), D("100.00"))
    assert (fill.exec_id, fill.liquidity) == ("SIM-s1-E1", Liquidity.REMOVED)


def test_ids_carry_the_session_so_a_restarted_venue_never_repeats_them() -> None:
    ids: set[str] = set()
    for session in ("20260101T000000", "20260101T000500"):
        venue, sink = make_venue(session)
        venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
        venue.new_order(route("B1", "buy", 10, "100.00"))
        ids |= {c.exec_id for c in sink if isinstance(c, VenueFilled)}
        ids |= {c.venue_order_id for c in sink if isinstance(c, VenueAccepted)}
    assert len(ids) == 4


def test_internal_cross_reports_a_fill_to_each_route_with_distinct_exec_ids() -> None:
    venue, sink = make_venue()
    venue.new_order(route("S1", "sell", 10, "100.00"))
    venue.new_order(route("B1", "buy", 10, "100.00"))
    fills = [c for c in sink if isinstance(c, VenueFilled)]
    assert {f.route_id for f in fills} == {"B1", "S1"}
    assert len({f.exec_id for f in fills}) == 2


def test_unknown_symbol_is_rejected_unknown_instrument() -> None:
    venue, sink = make_venue()
    venue.new_order(route("X1", "buy", 10, "1.00", symbol="NOPE"))
    [reject] = sink
    assert isinstance(reject, VenueRejected) and reject.reason.code is RejectCode.UNKNOWN_INSTRUMENT


def test_duplicate_live_route_id_is_rejected_without_touching_the_live_order() -> None:
    venue, sink = make_venue()
    venue.new_order(route("B1", "buy", 10, "100.00"))
    venue.new_order(route("B1", "buy", 10, "100.00"))
    duplicate = sink[-1]
    assert isinstance(duplicate, VenueRejected)
    venue.cancel(R("B1"))
    assert sink[-1] == VenueCanceled(actor=Actor(user=SIM, source="venue"), route_id=R("B1"), reason="requested")


def test_cancel_unknown_is_unknown_order_and_cancel_finished_is_too_late() -> None:
    venue, sink = make_venue()
    venue.cancel(R("NOPE"))
    venue.new_order(route("B1", "buy", 10, "100.00"))
    venue.cancel(R("B1"))
    venue.cancel(R("B1"))
    rejects = [c for c in sink if isinstance(c, VenueCancelRejected)]
    assert [r.reason.code for r in rejects] == [RejectCode.UNKNOWN_ORDER, RejectCode.TOO_LATE]


def test_replace_reports_replaced_then_any_fills() -> None:
    venue, sink = make_venue()
    venue.on_quote(quote([("99.99", 100)], [("100.01", 100)]))
    venue.new_order(route("B1", "buy", 10, "99.99"))
    venue.replace(R("B1"), D(12), D("100.01"), None)
    replaced, fill = sink[-2:]
    assert isinstance(replaced, VenueReplaced) and (replaced.quantity, replaced.price) == (D(12), D("100.01"))
    assert isinstance(fill, VenueFilled) and fill.last_qty == D(12)
    venue.replace(R("B1"), D(20), None, None)
    [late] = sink[-1:]
    assert isinstance(late, VenueReplaceRejected) and late.reason.code is RejectCode.TOO_LATE


def test_replace_of_unknown_route_is_rejected() -> None:
    venue, sink = make_venue()
    venue.replace(R("NOPE"), D(1), D("1.00"), None)
    [reject] = sink
    assert isinstance(reject, VenueReplaceRejected) and reject.reason.code is RejectCode.UNKNOWN_ORDER


def test_on_quote_fills_resting_orders_and_fires_stops() -> None:
    venue, sink = make_venue()
    venue.on_quote(quote([("99.99", 100)], [("100.01", 100)], last="100.00"))
    venue.new_order(route("B1", "buy", 10, "100.00"))
    venue.new_order(route("B2", "buy", 5, ord_type=OrdType.STOP, stop="100.05"))
    sink.clear()
    venue.on_quote(quote([("100.00", 100)], [("100.00", 100), ("100.10", 100)], last="100.05"))
    assert [(c.route_id, c.last_qty, c.last_px) for c in sink if isinstance(c, VenueFilled)] == [
        ("B1", D(10), D("100.00")),
        ("B2", D(5), D("100.00")),
    ]


def test_quotes_for_symbols_the_venue_does_not_trade_are_ignored() -> None:
    venue, sink = make_venue()
    venue.on_quote(quote([("1.00", 1)], [("1.01", 1)], symbol="OTHER"))
    assert sink == []


def test_closed_session_accepts_and_rests_but_matches_nothing_until_reopened() -> None:
    venue, sink = make_venue()
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    venue.set_session_open(False)
    assert not venue.session_open
    venue.new_order(route("B1", "buy", 10, "100.00"))
    venue.new_order(route("B2", "buy", 10))
    assert isinstance(sink[0], VenueAccepted)
    assert isinstance(sink[1], VenueRejected) and sink[1].reason.message == "session closed"
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    assert not any(isinstance(c, VenueFilled) for c in sink)
    venue.set_session_open(True)
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    assert [c.route_id for c in sink if isinstance(c, VenueFilled)] == ["B1"]


def test_expire_drops_the_order_silently() -> None:
    venue, sink = make_venue()
    venue.new_order(route("B1", "buy", 10, "100.00"))
    sink.clear()
    venue.expire(R("B1"))
    assert sink == []
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    assert sink == []
    venue.cancel(R("B1"))
    assert isinstance(sink[-1], VenueCancelRejected) and sink[-1].reason.code is RejectCode.TOO_LATE


def test_restore_puts_working_routes_back_without_acks() -> None:
    venue, sink = make_venue()
    venue.restore([
        route("B1", "buy", 10, "100.00", cum=4),
        route("M1", "buy", 10),
        route("X1", "buy", 10, "1.00", symbol="GONE"),
    ])
    assert [c.route_id for c in sink if isinstance(c, VenueCanceled)] == ["M1", "X1"]
    assert len(sink) == 2
    sink.clear()
    venue.on_quote(quote([("99.99", 100)], [("100.00", 100)]))
    [fill] = sink
    assert isinstance(fill, VenueFilled) and fill.last_qty == D(6)
