"""Second review: inputs that make ``OrderEngine.handle`` raise (which fails the whole engine
closed) or that it accepts although they are not valid prices/quantities/times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from builders import ACTOR, Desk, of_type, only_rejection
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import ExecId
from openoms.domain.values import TimeInForce
from openoms.journal.codec import encode


def filled_desk() -> tuple[Desk, str]:
    desk = Desk()
    order_id = desk.submit_ok(qty="100", price="230.00")
    desk.ack(order_id)
    desk.fill(order_id, "100", "230.00", exec_id="E1")
    return desk, order_id


@pytest.mark.parametrize(
    ("qty", "px"),
    [("NaN", "230.00"), ("sNaN", "230.00"), ("100", "NaN"), ("1E+999999", "230.00"), ("Infinity", "230.00"),
     ("1E+30", "230.00")],
)
def test_trade_correction_with_invalid_numbers_is_refused_not_raised(qty: str, px: str) -> None:
    """engine.py:473 only checks ``<= 0``: NaN raises InvalidOperation there, 1E+999999 raises
    Overflow in Order._on_corrected (order.py:216), Infinity and 1E+30 are accepted (CumQty
    becomes Infinity / 1E+30 on a 100-lot order). POST /executions/{id}/correct passes these
    straight from JSON. Expected: one CommandRejected, nothing else changes."""
    desk, order_id = filled_desk()
    command = cmd.VenueTradeCorrected(actor=ACTOR, exec_id=ExecId("E1"), last_qty=Decimal(qty), last_px=Decimal(px))
    events = desk.send(command)  # raises today for NaN / sNaN / huge exponents
    only_rejection(events)
    assert desk.order(order_id).cum_qty == Decimal(100)


@pytest.mark.parametrize(("qty", "px"), [("NaN", "230.00"), ("sNaN", "230.00"), ("100", "NaN"), ("1E+999999", "230.00")])
def test_venue_fill_with_invalid_numbers_is_refused_not_raised(qty: str, px: str) -> None:
    """engine.py:392 ``last_qty <= ZERO`` raises InvalidOperation on NaN; a 1E+999999 fill
    overflows in Order._add_execution (order.py:226). A venue report must never stop the engine:
    expected one CommandRejected (UNEXPECTED_REPORT)."""
    desk = Desk()
    order_id = desk.submit_ok(qty="100", price="230.00")
    desk.ack(order_id)
    events = desk.fill(order_id, qty, px, exec_id="E1")
    only_rejection(events)
    assert desk.order(order_id).cum_qty == 0


@pytest.mark.parametrize("field", ["quantity", "price"])
def test_submit_with_a_subnormal_number_is_refused(field: str) -> None:
    """``Decimal('1E-999999999') % lot_size`` underflows to 0E-1000026 (== 0), so the lot and tick
    checks in Instrument.check_quantity / check_price (instruments.py:53, :71) pass and the order
    is accepted (HTTP 201 with quantity "1E-999999999"). Expected: LOT_SIZE_VIOLATION /
    TICK_SIZE_VIOLATION."""
    desk = Desk()
    if field == "quantity":
        events = desk.submit(qty="1E-999999999", price="230.00")
    else:
        events = desk.submit(qty="100", price="1E-999999999")
    assert not of_type(events, ev.OrderAccepted), f"order accepted with {field} 1E-999999999"
    only_rejection(events)


def test_gtd_expire_at_that_the_journal_cannot_store_is_refused() -> None:
    """A GTD expire_at after 2554-07-21 is more ns than msgpack's uint64: the engine accepts the
    order, then the journal writer's encode() raises OverflowError and the whole engine fails
    closed (every later command 503) -- from one REST request with expire_at 2600-01-01T00:00:00Z.
    Expected: refused (INVALID_TIME_IN_FORCE) or at least an event the journal can encode."""
    desk = Desk()
    expire_at = int(datetime(2600, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
    events = desk.submit(qty="100", price="230.00", tif=TimeInForce.GTD, expire_at=expire_at)
    for event in events:
        encode(event)  # raises OverflowError today
