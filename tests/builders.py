"""Shared builders for domain and journal tests: a small harness around ``OrderEngine``.

``Desk`` drives one engine with the demo reference data, keeps every emitted event and moves
a fake clock forward, so a test reads as the FIX conversation it models::

    desk = Desk()
    oid = desk.submit_ok(qty="100", price="230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.01")

``snapshot`` turns an engine into plain comparable data (Decimals as text, so 1.0 != 1);
``replay`` / ``replay_codec`` rebuild an engine from events, directly or through the journal codec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import NS_PER_DAY, OrderEngine
from openoms.domain.ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, VenueOrderId
from openoms.domain.order import Order
from openoms.domain.rejects import Reject, RejectCode
from openoms.domain.values import Liquidity, OrdType, Side, TimeInForce
from openoms.journal.codec import decode, encode

ACTOR = cmd.Actor("demo", "test")
VENUE = cmd.Actor("SIM", "venue")
# Monday 2026-03-02 14:30 UTC: well inside one UTC trade date.
T0 = int(datetime(2026, 3, 2, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
DAY = NS_PER_DAY
STEP = 1_000_000  # 1 ms between commands


def D(value: str | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def route_of(order_id: str) -> RouteId:
    return RouteId(f"{order_id}-1")


def rejections(events: Sequence[ev.Event]) -> list[ev.CommandRejected]:
    return [e for e in events if isinstance(e, ev.CommandRejected)]


def only_rejection(events: Sequence[ev.Event]) -> ev.CommandRejected:
    """The single CommandRejected a refused command must produce (and nothing else)."""
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, ev.CommandRejected), event
    return event


def of_type(events: Iterable[ev.Event], kind: type[ev.Event]) -> list[Any]:
    return [e for e in events if type(e) is kind]


class Desk:
    """One engine, its event log and a clock that advances STEP per command."""

    def __init__(self, engine: OrderEngine | None = None, now: int = T0) -> None:
        self.engine = engine or OrderEngine(demo_reference())
        self.events: list[ev.Event] = []
        self.now = now
        self._exec = 0

    # --- plumbing ------------------------------------------------------------------------

    def send(self, command: cmd.Command, now: int | None = None) -> list[ev.Event]:
        if now is not None:
            self.now = now
        events = self.engine.handle(command, self.now)
        self.events.extend(events)
        self.now += STEP
        return events

    def order(self, order_id: str) -> Order:
        return self.engine.orders[OrderId(order_id)]

    def next_exec_id(self) -> ExecId:
        self._exec += 1
        return ExecId(f"E{self._exec}")

    # --- client commands -----------------------------------------------------------------

    def submit(
        self,
        qty: str | int | Decimal = "100",
        price: str | Decimal | None = "230.00",
        *,
        account: str = "ACC-EQ-1",
        symbol: str = "AAPL",
        side: Side = Side.BUY,
        ord_type: OrdType = OrdType.LIMIT,
        tif: TimeInForce = TimeInForce.DAY,
        cl_ord_id: str | None = None,
        stop_price: str | Decimal | None = None,
        expire_at: int | None = None,
        actor: cmd.Actor = ACTOR,
    ) -> list[ev.Event]:
        return self.send(
            cmd.SubmitOrder(
                actor=actor,
                account=AccountId(account),
                cl_ord_id=ClientOrderId(cl_ord_id if cl_ord_id is not None else f"CL{len(self.events) + 1}"),
                symbol=Symbol(symbol),
                side=side,
                quantity=D(qty),
                ord_type=ord_type,
                price=None if price is None else D(price),
                stop_price=None if stop_price is None else D(stop_price),
                tif=tif,
                expire_at=expire_at,
            )
        )

    def submit_ok(self, qty: str | int | Decimal = "100", price: str | Decimal | None = "230.00", **kwargs: Any) -> str:
        """Submit and return the new order id; fails the test if the engine refused."""
        events = self.submit(qty, price, **kwargs)
        accepted = of_type(events, ev.OrderAccepted)
        assert accepted, events
        return str(accepted[0].order_id)

    def cancel(self, order_id: str, cl_ord_id: str | None = None, actor: cmd.Actor = ACTOR) -> list[ev.Event]:
        return self.send(
            cmd.CancelOrder(
                actor=actor, order_id=OrderId(order_id), cl_ord_id=None if cl_ord_id is None else ClientOrderId(cl_ord_id)
            )
        )

    def replace(
        self,
        order_id: str,
        cl_ord_id: str,
        qty: str | int | Decimal | None = None,
        price: str | Decimal | None = None,
        stop_price: str | Decimal | None = None,
        actor: cmd.Actor = ACTOR,
    ) -> list[ev.Event]:
        return self.send(
            cmd.ReplaceOrder(
                actor=actor,
                order_id=OrderId(order_id),
                cl_ord_id=ClientOrderId(cl_ord_id),
                quantity=None if qty is None else D(qty),
                price=None if price is None else D(price),
                stop_price=None if stop_price is None else D(stop_price),
            )
        )

    def end_of_day(self) -> list[ev.Event]:
        return self.send(cmd.EndOfDay(actor=ACTOR))

    def start_of_day(self) -> list[ev.Event]:
        return self.send(cmd.StartOfDay(actor=ACTOR))

    def next_day(self) -> None:
        """Move the clock to the same time of day on the next calendar day."""
        self.now += DAY

    # --- venue reports -------------------------------------------------------------------

    def ack(self, order_id: str, venue_order_id: str | None = None) -> list[ev.Event]:
        return self.send(
            cmd.VenueAccepted(actor=VENUE, route_id=route_of(order_id), venue_order_id=VenueOrderId(venue_order_id or f"V-{order_id}"))
        )

    def fill(
        self,
        order_id: str,
        qty: str | int | Decimal,
        px: str | Decimal,
        exec_id: str | None = None,
        liquidity: Liquidity = Liquidity.REMOVED,
    ) -> list[ev.Event]:
        return self.send(
            cmd.VenueFilled(
                actor=VENUE,
                route_id=route_of(order_id),
                exec_id=ExecId(exec_id) if exec_id is not None else self.next_exec_id(),
                last_qty=D(qty),
                last_px=D(px),
                liquidity=liquidity,
            )
        )

    def venue_canceled(self, order_id: str, reason: str = "requested") -> list[ev.Event]:
        return self.send(cmd.VenueCanceled(actor=VENUE, route_id=route_of(order_id), reason=reason))

    def venue_replaced(
        self, order_id: str, qty: str | int | Decimal, price: str | Decimal | None, stop_price: str | Decimal | None = None
    ) -> list[ev.Event]:
        return self.send(
            cmd.VenueReplaced(
                actor=VENUE,
                route_id=route_of(order_id),
                quantity=D(qty),
                price=None if price is None else D(price),
                stop_price=None if stop_price is None else D(stop_price),
            )
        )

    def venue_rejected(self, order_id: str, message: str = "venue says no") -> list[ev.Event]:
        return self.send(cmd.VenueRejected(actor=VENUE, route_id=route_of(order_id), reason=Reject(RejectCode.VENUE_REJECT, message)))

    def cancel_rejected(self, order_id: str, code: RejectCode = RejectCode.TOO_LATE) -> list[ev.Event]:
        return self.send(cmd.VenueCancelRejected(actor=VENUE, route_id=route_of(order_id), reason=Reject(code, "cancel rejected")))

    def replace_rejected(self, order_id: str, code: RejectCode = RejectCode.TOO_LATE) -> list[ev.Event]:
        return self.send(cmd.VenueReplaceRejected(actor=VENUE, route_id=route_of(order_id), reason=Reject(code, "replace rejected")))

    def venue_expired(self, order_id: str) -> list[ev.Event]:
        return self.send(cmd.VenueExpired(actor=VENUE, route_id=route_of(order_id)))

    def bust(self, exec_id: str) -> list[ev.Event]:
        return self.send(cmd.VenueTradeBusted(actor=VENUE, exec_id=ExecId(exec_id)))

    def correct(self, exec_id: str, qty: str | int | Decimal, px: str | Decimal) -> list[ev.Event]:
        return self.send(cmd.VenueTradeCorrected(actor=VENUE, exec_id=ExecId(exec_id), last_qty=D(qty), last_px=D(px)))


# --- comparable state ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__slots__") and not isinstance(value, str):
        slots: list[str] = []
        for klass in type(value).__mro__:
            slots.extend(getattr(klass, "__slots__", ()))
        return {name: _plain(getattr(value, name)) for name in slots if not name.startswith("_")}
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # enums
        return value.value
    return value


def order_snapshot(order: Order) -> dict[str, Any]:
    data = _plain(order)
    data["status"] = order.status.value
    data["leaves_qty"] = str(order.leaves_qty)
    data["is_done"] = order.is_done
    return data


def snapshot(engine: OrderEngine) -> dict[str, Any]:
    """Everything the engine holds, as plain data: equal snapshots mean equal state."""
    return {
        "seq": engine.seq,
        "order_count": engine.order_count,
        "orders": {oid: order_snapshot(o) for oid, o in engine.orders.items()},
        "live": sorted(engine.live),
        "routes": {rid: o.order_id for rid, o in engine.routes.items()},
        "executions": {eid: o.order_id for eid, o in engine.executions.items()},
        "cl_ord_ids": sorted(engine.cl_ord_ids),
        "positions": {f"{k[0]}|{k[1]}": _plain(p) for k, p in engine.positions.items()},
    }


def replay(events: Iterable[ev.Event]) -> OrderEngine:
    engine = OrderEngine(demo_reference())
    for event in events:
        engine.apply(event)
    return engine


def replay_codec(events: Iterable[ev.Event]) -> OrderEngine:
    """Replay through the journal's bytes: encode, decode, apply."""
    return replay(decode(encode(event)) for event in events)


def without_history(state: dict[str, Any]) -> dict[str, Any]:
    """A snapshot minus the journal bookkeeping a refused command legitimately moves: the engine's
    seq and each order's ``seqs`` (its history index, which records refusals naming it)."""
    orders = {oid: {k: v for k, v in o.items() if k != "seqs"} for oid, o in state["orders"].items()}
    return {**state, "seq": None, "orders": orders}
