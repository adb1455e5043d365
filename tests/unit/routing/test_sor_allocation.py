"""The SOR's allocation arithmetic (pure): properties that hold for any book."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain.ids import VenueId
from openoms.routing.smart import VenueDepth, allocate

D = Decimal

levels = st.lists(st.tuples(st.integers(9_900, 10_100), st.integers(1, 50)), min_size=0, max_size=5).map(
    lambda raw: tuple((D(price) / 100, D(size * 100)) for price, size in sorted(raw)))
venue = st.tuples(levels, st.sampled_from([D(0), D("0.1"), D("0.3")]), st.sampled_from([D(1), D(100)]), st.booleans())
venues = st.lists(venue, min_size=1, max_size=5).map(lambda items: [
    VenueDepth(VenueId(f"V{i}"), book, fee, D(0), lot, degraded) for i, (book, fee, lot, degraded) in enumerate(items)])


@settings(max_examples=300, deadline=None)
@given(venues, st.integers(1, 400).map(lambda n: D(n * 100)), st.one_of(st.none(), st.integers(9_900, 10_100).map(lambda p: D(p) / 100)))
def test_allocations_when_made_then_sum_to_the_order_in_each_venues_lots(books: list[VenueDepth], quantity: Decimal,
                                                                          limit: Decimal | None) -> None:
    result = allocate(True, quantity, limit, books)
    if result.problem:
        assert result.allocations == ()
        return
    assert sum(q for _, q in result.allocations) == quantity
    lots = {b.venue: b.round_lot for b in books}
    assert all(q > 0 and q % lots[v] == 0 for v, q in result.allocations)
    assert len({v for v, _ in result.allocations}) == len(result.allocations)  # one child per venue


@settings(max_examples=200, deadline=None)
@given(venues, st.integers(1, 50).map(lambda n: D(n * 100)))
def test_allocation_when_depth_covers_it_then_never_more_than_displayed_at_or_under_the_limit(
        books: list[VenueDepth], quantity: Decimal) -> None:
    limit = D("100.00")
    result = allocate(True, quantity, limit, books)
    displayed = {b.venue: sum((s for p, s in b.levels if p <= limit), D(0)) for b in books}
    if sum(displayed.values()) >= quantity + 100 * len(books) and not result.problem:
        # Lot rounding aside, what was displayed is taken before anything rests beyond it.
        over = [(v, q) for v, q in result.allocations if q > displayed[v]]
        assert len(over) <= 1


def test_sell_when_fees_differ_then_the_better_all_in_price_wins_a_tie() -> None:
    cheap = VenueDepth(VenueId("CHEAP"), ((D("100.00"), D(100)),), taker_fee_bps=D("0.1"))
    dear = VenueDepth(VenueId("DEAR"), ((D("100.00"), D(100)),), taker_fee_bps=D("3"))
    result = allocate(False, D(100), D("99.00"), [dear, cheap])
    assert result.allocations == ((VenueId("CHEAP"), D(100)),)


def test_limit_order_beyond_depth_when_allocated_then_rest_goes_to_best_touch_and_is_explained() -> None:
    a = VenueDepth(VenueId("A"), ((D("100.00"), D(100)),))
    b = VenueDepth(VenueId("B"), ((D("100.01"), D(100)),))
    result = allocate(True, D(500), D("100.00"), [b, a])
    assert dict(result.allocations) == {"A": D(500)}
    assert any("beyond the displayed depth rests" in note for note in result.notes)


def test_degraded_venue_when_prices_equal_then_up_venue_preferred() -> None:
    up = VenueDepth(VenueId("UP"), ((D("100.00"), D(100)),))
    degraded = VenueDepth(VenueId("SLOW"), ((D("100.00"), D(100)),), degraded=True)
    assert allocate(True, D(100), None, [degraded, up]).allocations == ((VenueId("UP"), D(100)),)


def test_no_venue_when_allocating_then_problem_stated() -> None:
    assert allocate(True, D(100), None, []).problem == "no eligible venue"
    odd = VenueDepth(VenueId("LOTS"), ((D("100.00"), D(1000)),), round_lot=D(100))
    assert "lots" in allocate(True, D(150), None, [odd]).problem
