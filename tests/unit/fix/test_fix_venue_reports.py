"""FixVenue over a real TCP connection to a scripted FIX counterparty (our codec on the other end):
what it books when the venue leaves part of an order unfilled, and when the venue drops the
connection of a cancel-on-disconnect session while a filled route still waits for its cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from fix_counterparty import Counterparty, until

from openoms.config import FixVenueConfig
from openoms.domain import commands as cmd
from openoms.domain.commands import VenueReport
from openoms.domain.ids import AccountId, OrderId, RouteId, Symbol
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.fix.store import SessionStore
from openoms.service.ports import RouteRequest
from openoms.venues.fix_venue import FixVenue


def route(route_id: str, quantity: str = "100") -> RouteRequest:
    return RouteRequest(route_id=RouteId(route_id), order_id=OrderId("O-" + route_id), account=AccountId("ACC-1"),
                        symbol=Symbol("MSFT"), side=Side.BUY, quantity=Decimal(quantity), ord_type=OrdType.LIMIT,
                        price=Decimal("419.00"), stop_price=None, tif=TimeInForce.IOC)


def er(cl_ord_id: str, exec_type: str, status: str, qty: str, cum: str, leaves: str, last: str = "0",
       orig: str | None = None) -> list[tuple[int, str]]:
    body = [(37, "V-" + cl_ord_id.split(".")[0]), (11, cl_ord_id), (17, f"E-{cl_ord_id}-{exec_type}-{cum}"),
            (150, exec_type), (39, status), (55, "MSFT"), (54, "1"), (38, qty), (14, cum), (151, leaves), (6, "419.00")]
    if orig is not None:
        body.append((41, orig))
    if last != "0":
        body += [(32, last), (31, "419.00")]
    return body


def run(tmp_path: Path, scenario: Callable[[FixVenue, Counterparty, list[VenueReport]], Awaitable[None]],
        cancel_on_disconnect: bool = False) -> list[VenueReport]:
    reports: list[VenueReport] = []

    async def main() -> None:
        peer = Counterparty()
        port = await peer.start()
        settings = FixVenueConfig(venue_id="EXCH", port=port, reconnect_s=60, cancel_on_disconnect=cancel_on_disconnect)
        venue = FixVenue(settings, reports.append, SessionStore(tmp_path / "fix.db"))
        await venue.start()
        try:
            await until(lambda: venue.logged_on)
            await scenario(venue, peer, reports)
        finally:
            await venue.stop()

    asyncio.run(main())
    return reports


def kinds(reports: list[VenueReport]) -> list[str]:
    return [type(report).__name__ for report in reports]


def test_an_ioc_partially_filled_with_nothing_left_books_the_rest_canceled(tmp_path: Path) -> None:
    async def scenario(venue: FixVenue, peer: Counterparty, reports: list[VenueReport]) -> None:
        venue.new_order(route("R1"))
        await peer.expect("D")
        peer.send("8", er("R1", "0", "0", "100", "0", "100"))
        peer.send("8", er("R1", "F", "4", "100", "40", "0", last="40"))  # 40 filled, the rest of the IOC canceled
        await until(lambda: len(reports) == 3)

    reports = run(tmp_path, scenario)
    assert kinds(reports) == ["VenueAccepted", "VenueFilled", "VenueCanceled"]
    canceled = reports[2]
    assert isinstance(canceled, cmd.VenueCanceled) and canceled.route_id == "R1"
    assert canceled.reason == "EXCH left 60 unfilled, nothing working"


def test_a_complete_fill_books_no_cancel(tmp_path: Path) -> None:
    async def scenario(venue: FixVenue, peer: Counterparty, reports: list[VenueReport]) -> None:
        venue.new_order(route("R1"))
        await peer.expect("D")
        peer.send("8", er("R1", "F", "2", "100", "100", "0", last="100"))
        venue.new_order(route("R2"))  # the next report proves the first was read in full
        await peer.expect("D")
        peer.send("8", er("R2", "0", "0", "100", "0", "100"))
        await until(lambda: len(reports) == 2)

    assert kinds(run(tmp_path, scenario)) == ["VenueFilled", "VenueAccepted"]


def test_nothing_left_while_a_cancel_waits_then_refused_books_the_rest_canceled(tmp_path: Path) -> None:
    async def scenario(venue: FixVenue, peer: Counterparty, reports: list[VenueReport]) -> None:
        venue.new_order(route("R1"))
        await peer.expect("D")
        peer.send("8", er("R1", "0", "0", "100", "0", "100"))
        await until(lambda: len(reports) == 1)
        venue.cancel(RouteId("R1"))
        await peer.expect("F")
        peer.send("8", er("R1", "F", "6", "100", "30", "0", last="30"))
        peer.send("9", [(37, "V-R1"), (11, "R1.C1"), (41, "R1"), (39, "4"), (434, "1"), (102, "0")])
        await until(lambda: len(reports) == 4)

    reports = run(tmp_path, scenario)
    assert kinds(reports) == ["VenueAccepted", "VenueFilled", "VenueCancelRejected", "VenueCanceled"]


def test_cancel_on_disconnect_books_no_cancel_for_a_filled_route_waiting_for_its_cancel(tmp_path: Path) -> None:
    async def scenario(venue: FixVenue, peer: Counterparty, reports: list[VenueReport]) -> None:
        venue.new_order(route("R1"))
        venue.new_order(route("R2"))
        await peer.expect("D")
        await peer.expect("D")
        peer.send("8", er("R1", "0", "0", "100", "0", "100"))
        peer.send("8", er("R2", "0", "0", "100", "0", "100"))
        await until(lambda: len(reports) == 2)
        venue.cancel(RouteId("R1"))
        await peer.expect("F")
        peer.send("8", er("R1", "F", "6", "100", "100", "0", last="100"))  # filled in full while the cancel waits
        await until(lambda: len(reports) == 3)
        await peer.drop()  # the venue cancels R2 (still working); R1 has nothing left to cancel
        await until(lambda: not venue.logged_on and len(reports) == 4)

    reports = run(tmp_path, scenario, cancel_on_disconnect=True)
    assert kinds(reports) == ["VenueAccepted", "VenueAccepted", "VenueFilled", "VenueCanceled"]
    assert isinstance(reports[3], cmd.VenueCanceled) and reports[3].route_id == "R2"
