"""One OrderEngine driven by random client commands and venue reports (hypothesis.stateful).

Every step sends one command, then checks, for every order: the quantity identity while live,
CumQty and sum(qty*px) against an independent ledger of the executions, that CumQty only falls
on a bust or correction, that Canceled/Rejected/Expired never move and Filled moves only by a
bust or correction, that the order's history index lists exactly its events; for the engine:
seq strictly +1, ``live`` is exactly the non-terminal orders, positions match the fills, a pure
rejection changes nothing, and REPLAY EQUALITY: a fresh engine fed the events so far (directly
and through the journal codec) holds the very same state.

One rule carries the traffic (client commands and venue reports) and draws a weighted action, so a
run of 40 steps spends its steps on orders that exist, and mostly on live ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from builders import ACTOR, DAY, VENUE, D, Desk, route_of, snapshot, without_history
from openoms.demo import demo_reference
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import AccountId, ClientOrderId, ExecId, OrderId, Symbol, VenueOrderId
from openoms.domain.lifecycle import LIVE, TERMINAL, OrdStatus, Pending
from openoms.domain.rejects import Reject, RejectCode
from openoms.domain.values import OrdType, Side, TimeInForce
from openoms.journal.codec import decode, encode

S = OrdStatus
FINISHED = (S.CANCELED, S.REJECTED, S.EXPIRED)
REFERENCE = demo_reference()
HOUR = 3_600_000_000_000

# symbol: (accounts, base price)
MARKETS: dict[str, tuple[tuple[str, ...], Decimal]] = {
    "AAPL": (("ACC-EQ-1", "ACC-EQ-2"), D("230.00")),
    "UST-10Y": (("ACC-FI-1",), D("98.5")),
    "ESZ6": (("ACC-EQ-1",), D("6000.00")),
}

CLIENT_ACTIONS = ["submit"] * 2 + ["submit_plain"] * 2 + ["cancel"] * 2 + ["replace"] * 3
VENUE_ACTIONS = (
    ["ack"] * 5 + ["fill"] * 8 + ["venue_replaced"] * 3 + ["venue_canceled"] * 2 + ["cancel_rejected"] * 2
    + ["replace_rejected"] * 2 + ["venue_rejected", "venue_expired", "bust", "bust", "correct", "correct", "stray"]
)
ACTIONS = VENUE_ACTIONS + CLIENT_ACTIONS * 2  # the weights: each entry is one share

indexes = st.integers(min_value=0, max_value=1_000)
ticks = st.integers(min_value=-40, max_value=40)
lots = st.integers(min_value=1, max_value=20)


@dataclass
class Fill:
    order_id: str
    side: Side
    qty: Decimal
    px: Decimal
    busted: bool = False


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.desk = Desk()
        self.fills: dict[str, Fill] = {}  # independent ledger of executions, from the events
        self.exec_counter = 0
        self.encoded: list[bytes] = []
        self.state = snapshot(self.desk.engine)
        self.day_open = True
        self.steps_in_day = 0

    # --- helpers -----------------------------------------------------------------------------

    @property
    def engine(self) -> OrderEngine:
        return self.desk.engine

    def pick(self, index: int) -> str:
        """Mostly a live order (where reports matter), sometimes any order, rarely an unknown one."""
        if index % 40 == 0:
            return "O999"
        live = sorted(self.engine.live, key=lambda oid: int(oid[1:]))
        if live and index % 10 < 8:
            return live[index % len(live)]
        ids = sorted(self.engine.orders, key=lambda oid: int(oid[1:]))
        return ids[index % len(ids)] if ids else "O999"

    def instrument_of(self, order_id: str) -> tuple[Decimal, Decimal, Decimal]:
        """(lot, tick, base price) of an order's instrument (AAPL's for unknown orders)."""
        order = self.engine.orders.get(OrderId(order_id))
        symbol = order.symbol if order else "AAPL"
        instrument = REFERENCE.instruments[Symbol(symbol)]
        return instrument.lot_size, instrument.tick_size, MARKETS[symbol][1]

    def price(self, order_id: str, offset: int) -> Decimal:
        _, tick, base = self.instrument_of(order_id)
        return base + tick * offset

    def step(self, kind: str, command: cmd.Command) -> list[ev.Event]:
        engine = self.engine
        before_orders = {oid: (o.working, o.pending, o.cum_qty) for oid, o in engine.orders.items()}
        before_state = self.state
        seq0 = engine.seq

        events = self.desk.send(command)
        self.steps_in_day += 1

        # seq strictly increasing by one across everything emitted
        assert [e.seq for e in events] == list(range(seq0 + 1, seq0 + 1 + len(events))), events
        assert engine.seq == seq0 + len(events)
        self._book(events)
        self.encoded.extend(encode(e) for e in events)
        self.state = snapshot(engine)

        if all(isinstance(e, ev.CommandRejected) for e in events):
            # a refusal (or a silently ignored duplicate) changes nothing but the journal bookkeeping
            assert without_history(before_state) == without_history(self.state), (kind, events)
        for oid, (working, pending, cum) in before_orders.items():
            order = engine.orders[oid]
            if order.cum_qty < cum:
                assert kind in ("bust", "correct"), (kind, oid, cum, order.cum_qty)
            if working in FINISHED:
                assert order.working is working, (kind, oid, working, order.working)
                assert pending is not None or order.pending is None, "a finished order took a new request"
            if working is S.FILLED and order.working is not S.FILLED:
                assert kind in ("bust", "correct"), (kind, oid, order.working)
        # requests and their answers drive the pending request (the PENDING table)
        last_word: dict[str, ev.Event] = {}
        for event in events:
            if isinstance(event, ev.CancelRequested | ev.ReplaceRequested | ev.OrderReplaced | ev.ReplaceRejected | ev.CancelRejected):
                last_word[event.order_id] = event
            elif isinstance(event, ev.OrderCanceled) and isinstance(last_word.get(event.order_id), ev.CancelRequested):
                last_word[event.order_id] = event  # canceled at once: nothing was at a venue
        for oid, event in last_word.items():
            expected_pending = {ev.CancelRequested: Pending.CANCEL, ev.ReplaceRequested: Pending.REPLACE}.get(type(event))
            assert engine.orders[OrderId(oid)].pending is expected_pending, (kind, oid, event)
        self._check_orders()
        self._check_replay()
        return events

    def _book(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.OrderFilled):
                assert event.exec_id not in self.fills
                order = self.engine.orders[event.order_id]
                self.fills[event.exec_id] = Fill(event.order_id, order.side, event.last_qty, event.last_px)
            elif isinstance(event, ev.TradeBusted):
                fill = self.fills[event.exec_id]
                assert not fill.busted
                fill.busted = True
            elif isinstance(event, ev.TradeCorrected):
                fill = self.fills[event.exec_id]
                assert not fill.busted
                fill.qty, fill.px = event.last_qty, event.last_px

    def _check_orders(self) -> None:
        engine = self.engine
        by_order: dict[str, list[Fill]] = defaultdict(list)
        for fill in self.fills.values():
            if not fill.busted:
                by_order[fill.order_id].append(fill)
        history: dict[str, list[int]] = defaultdict(list)
        for event in self.desk.events:
            order_id = getattr(event, "order_id", None)
            if order_id in engine.orders:
                history[order_id].append(event.seq)
        for oid, order in engine.orders.items():
            assert order.seqs == history[oid], oid  # the order's journal history, refusals included
            live_fills = by_order.get(oid, [])
            assert order.cum_qty >= 0, oid
            assert order.cum_qty == sum((f.qty for f in live_fills), D(0)), oid
            assert order.px_qty_sum == sum((f.qty * f.px for f in live_fills), D(0)), oid
            assert order.cum_qty == sum((r.cum_qty for r in order.routes.values()), D(0)), oid
            if order.working in LIVE:
                assert order.quantity == order.cum_qty + order.leaves_qty, (oid, order.working)
                assert order.status in (*LIVE, S.PENDING_CANCEL, S.PENDING_REPLACE)
            else:
                assert order.leaves_qty == 0, (oid, order.working)
            if order.working is S.FILLED:
                assert order.cum_qty >= order.quantity
            if order.working is S.PARTIALLY_FILLED:
                assert 0 < order.cum_qty < order.quantity
            assert (oid in engine.live) is (order.working not in TERMINAL), oid
        # positions: quantity per (account, symbol) is the signed sum of surviving fills
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for fill in self.fills.values():
            if not fill.busted:
                order = engine.orders[OrderId(fill.order_id)]
                expected[(order.account, order.symbol)] += fill.qty * fill.side.sign
        for key, position in engine.positions.items():
            assert position.quantity == expected.get(key, D(0)), key

    def _check_replay(self) -> None:
        assert [e.seq for e in self.desk.events] == list(range(1, len(self.desk.events) + 1))
        direct = OrderEngine(REFERENCE)
        for event in self.desk.events:
            direct.apply(event)
        assert snapshot(direct) == self.state
        through_codec = OrderEngine(REFERENCE)
        for payload in self.encoded:
            through_codec.apply(decode(payload))
        assert snapshot(through_codec) == self.state

    # --- the two traffic rules -----------------------------------------------------------------

    @rule(action=st.sampled_from(ACTIONS), data=st.data())
    def act(self, action: str, data: st.DataObject) -> None:
        if action not in CLIENT_ACTIONS and not self.engine.orders:
            action = "submit_plain"  # nothing to report on yet
        getattr(self, f"do_{action}")(data)

    # --- client commands -----------------------------------------------------------------

    def do_submit(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(sorted(MARKETS)), label="symbol")
        accounts, base = MARKETS[symbol]
        account = data.draw(st.sampled_from(accounts), label="account")
        side = data.draw(st.sampled_from([Side.BUY, Side.BUY, Side.SELL, Side.SELL_SHORT]), label="side")
        ord_type = data.draw(st.sampled_from([OrdType.LIMIT] * 3 + [OrdType.MARKET, OrdType.STOP, OrdType.STOP_LIMIT]), label="type")
        tif = data.draw(st.sampled_from([TimeInForce.DAY] * 2 + [TimeInForce.GTC] * 2 + [TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD]),
                        label="tif")
        expire_in = data.draw(st.sampled_from([-HOUR, 2 * HOUR, 2 * DAY, DAY + 2 * HOUR]), label="expire_in")
        defect = data.draw(st.sampled_from([None] * 12 + ["zero", "odd_lot", "off_tick", "nan", "bad_trader"]), label="defect")
        cl = data.draw(st.integers(min_value=0, max_value=40), label="cl")
        instrument = REFERENCE.instruments[Symbol(symbol)]
        offset = data.draw(ticks, label="offset")
        quantity = instrument.lot_size * data.draw(lots, label="lots")
        price: Decimal | None = base + instrument.tick_size * offset
        stop_price: Decimal | None = base + instrument.tick_size * (offset + 4)
        if ord_type is OrdType.MARKET or ord_type is OrdType.STOP:
            price = None
        if not ord_type.needs_stop_price:
            stop_price = None
        if defect == "zero":
            quantity = D(0)
        elif defect == "odd_lot":
            quantity += instrument.lot_size / 2
        elif defect == "off_tick" and price is not None:
            price += instrument.tick_size / 3
        elif defect == "nan":
            quantity = D("NaN")
        bad_trader = defect == "bad_trader" and symbol != "UST-10Y"
        events = self.step(
            "submit",
            cmd.SubmitOrder(
                actor=cmd.Actor("bob", "test") if bad_trader else ACTOR, account=AccountId(account),
                cl_ord_id=ClientOrderId(f"C{cl}"), symbol=Symbol(symbol), side=side, quantity=quantity, ord_type=ord_type,
                price=price, stop_price=stop_price, tif=tif,
                expire_at=self.desk.now + expire_in if tif is TimeInForce.GTD else None,
            ),
        )
        if defect in ("zero", "odd_lot", "nan") or bad_trader:
            assert len(events) == 1 and isinstance(events[0], ev.CommandRejected), events
        elif len(events) != 1:
            assert [type(e) for e in events] == [ev.OrderAccepted, ev.OrderRouted]

    def do_submit_plain(self, data: st.DataObject) -> None:
        """A valid AAPL limit order, so that most runs have several orders to work on."""
        events = self.step("submit", cmd.SubmitOrder(
            actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"P{len(self.desk.events)}"),
            symbol=Symbol("AAPL"), side=data.draw(st.sampled_from([Side.BUY, Side.SELL]), label="side"),
            quantity=D(10 * data.draw(lots, label="lots")), price=D("230.00") + D("0.01") * data.draw(ticks, label="offset"),
            tif=data.draw(st.sampled_from([TimeInForce.DAY, TimeInForce.GTC]), label="tif"),
        ))
        assert [type(e) for e in events] == [ev.OrderAccepted, ev.OrderRouted]

    def do_cancel(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        cl = data.draw(st.none() | st.integers(min_value=0, max_value=40), label="cl")
        order = self.engine.orders.get(OrderId(oid))
        events = self.step("cancel", cmd.CancelOrder(actor=ACTOR, order_id=OrderId(oid),
                                                     cl_ord_id=None if cl is None else ClientOrderId(f"X{cl}")))
        if order is None:
            assert events[0].reason.code is RejectCode.UNKNOWN_ORDER  # type: ignore[attr-defined]
        elif isinstance(events[0], ev.CancelRequested):
            assert order.pending is not None or order.working is S.CANCELED

    def do_replace(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        mode = data.draw(st.sampled_from(["keep", "lots", "lots", "lots", "at_cum", "below_cum", "zero"]), label="mode")
        order = self.engine.orders.get(OrderId(oid))
        lot, _, _ = self.instrument_of(oid)
        n_lots = data.draw(st.integers(min_value=1, max_value=30), label="lots")
        quantity: Decimal | None = lot * n_lots
        if mode == "keep":
            quantity = None
        elif mode == "at_cum" and order is not None and order.cum_qty > 0:
            quantity = order.cum_qty
        elif mode == "below_cum" and order is not None and order.cum_qty > lot:
            quantity = order.cum_qty - lot
        elif mode == "zero":
            quantity = D(0)
        offset = data.draw(st.none() | ticks, label="offset")
        price = None
        if offset is not None and order is not None and order.ord_type.needs_price:
            price = self.price(oid, offset)
        cl = data.draw(st.integers(min_value=0, max_value=40), label="cl")
        self.step("replace", cmd.ReplaceOrder(actor=ACTOR, order_id=OrderId(oid), cl_ord_id=ClientOrderId(f"R{cl}"),
                                              quantity=quantity, price=price))

    # --- venue reports -------------------------------------------------------------------

    def do_ack(self, data: st.DataObject) -> None:
        index = data.draw(indexes, label="order")
        unacked = sorted((o for o, order in self.engine.live.items() if order.working is S.PENDING_NEW), key=lambda o: int(o[1:]))
        oid = unacked[index % len(unacked)] if unacked and index % 5 else self.pick(index)
        self.step("ack", cmd.VenueAccepted(actor=VENUE, route_id=route_of(oid), venue_order_id=VenueOrderId(f"V-{oid}")))

    def do_venue_rejected(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        self.step("venue_reject", cmd.VenueRejected(actor=VENUE, route_id=route_of(oid), reason=Reject(RejectCode.VENUE_REJECT, "no")))

    def do_fill(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        order = self.engine.orders.get(OrderId(oid))
        lot, _, _ = self.instrument_of(oid)
        leaves_lots = int(order.leaves_qty / lot) if order is not None else 0
        mode = data.draw(st.sampled_from(["part", "part", "part", "leaves", "leaves", "over", "duplicate"]), label="mode")
        share = data.draw(st.integers(min_value=1, max_value=1_000), label="share")
        if mode == "leaves" and leaves_lots > 0:
            n = leaves_lots
        elif mode == "part" and leaves_lots > 1:
            n = 1 + share % (leaves_lots - 1)
        else:
            n = leaves_lots + 1 + share % 5
        known = sorted(self.fills)
        duplicate = mode == "duplicate" and bool(known)
        if duplicate:
            exec_id = known[share % len(known)]
        else:
            self.exec_counter += 1
            exec_id = f"X{self.exec_counter}"
        events = self.step("fill", cmd.VenueFilled(actor=VENUE, route_id=route_of(oid), exec_id=ExecId(exec_id),
                                                   last_qty=lot * n, last_px=self.price(oid, data.draw(ticks, label="offset"))))
        if duplicate:
            assert events == [], "a resent ExecID must be booked once"

    def do_venue_canceled(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        self.step("venue_cancel", cmd.VenueCanceled(actor=VENUE, route_id=route_of(oid), reason="requested"))

    def do_venue_replaced(self, data: st.DataObject) -> None:
        """Mostly confirms the pending replace with its own terms; sometimes with other terms."""
        oid = self.pick(data.draw(indexes, label="order"))
        order = self.engine.orders.get(OrderId(oid))
        lot, _, _ = self.instrument_of(oid)
        quantity = lot * data.draw(st.integers(min_value=1, max_value=30), label="lots")
        price: Decimal | None = self.price(oid, data.draw(ticks, label="offset"))
        stop_price = None
        if order is not None and not order.ord_type.needs_price:
            price = None
        if order is not None and order.ord_type.needs_stop_price:
            stop_price = order.stop_price
        requested = [e for e in self.desk.events if isinstance(e, ev.ReplaceRequested) and e.order_id == oid]
        if requested and data.draw(st.integers(0, 3), label="use pending") > 0:
            quantity, price, stop_price = requested[-1].quantity, requested[-1].price, requested[-1].stop_price
        self.step("venue_replace", cmd.VenueReplaced(actor=VENUE, route_id=route_of(oid), quantity=quantity, price=price,
                                                     stop_price=stop_price))

    def do_cancel_rejected(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        self.step("cancel_reject", cmd.VenueCancelRejected(actor=VENUE, route_id=route_of(oid),
                                                           reason=Reject(RejectCode.TOO_LATE, "too late")))

    def do_replace_rejected(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        self.step("replace_reject", cmd.VenueReplaceRejected(actor=VENUE, route_id=route_of(oid),
                                                             reason=Reject(RejectCode.TOO_LATE, "too late")))

    def do_venue_expired(self, data: st.DataObject) -> None:
        oid = self.pick(data.draw(indexes, label="order"))
        self.step("venue_expire", cmd.VenueExpired(actor=VENUE, route_id=route_of(oid)))

    def _pick_exec(self, data: st.DataObject) -> str:
        known = sorted(self.fills)
        return known[data.draw(indexes, label="exec") % len(known)] if known else "X-NONE"

    def do_bust(self, data: st.DataObject) -> None:
        self.step("bust", cmd.VenueTradeBusted(actor=VENUE, exec_id=ExecId(self._pick_exec(data))))

    def do_correct(self, data: st.DataObject) -> None:
        exec_id = self._pick_exec(data)
        oid = self.fills[exec_id].order_id if exec_id in self.fills else "O999"
        lot, _, _ = self.instrument_of(oid)
        self.step("correct", cmd.VenueTradeCorrected(
            actor=VENUE, exec_id=ExecId(exec_id), last_qty=lot * data.draw(st.integers(min_value=1, max_value=25), label="lots"),
            last_px=self.price(oid, data.draw(ticks, label="offset")),
        ))

    def do_stray(self, data: st.DataObject) -> None:
        """A report for a route or execution the engine never saw: refused, nothing changes."""
        route, exec_id = route_of("O999"), ExecId("X-NONE")
        what = data.draw(st.sampled_from(["ack", "fill", "cancel", "expire", "bust", "correct"]), label="stray")
        command: cmd.Command = {
            "ack": cmd.VenueAccepted(actor=VENUE, route_id=route, venue_order_id=VenueOrderId("V")),
            "fill": cmd.VenueFilled(actor=VENUE, route_id=route, exec_id=ExecId("X-STRAY"), last_qty=D(1), last_px=D(1)),
            "cancel": cmd.VenueCanceled(actor=VENUE, route_id=route, reason="?"),
            "expire": cmd.VenueExpired(actor=VENUE, route_id=route),
            "bust": cmd.VenueTradeBusted(actor=VENUE, exec_id=exec_id),
            "correct": cmd.VenueTradeCorrected(actor=VENUE, exec_id=exec_id, last_qty=D(1), last_px=D(1)),
        }[what]
        events = self.step("stray", command)
        assert len(events) == 1 and events[0].reason.code is RejectCode.UNEXPECTED_REPORT  # type: ignore[attr-defined]

    # --- the trading day ---------------------------------------------------------------------

    @precondition(lambda self: self.day_open and self.steps_in_day >= 10)
    @rule()
    def end_of_day(self) -> None:
        self.day_open = False
        events = self.step("eod", cmd.EndOfDay(actor=ACTOR))
        assert isinstance(events[-1], ev.DayEnded)
        for order in self.engine.live.values():
            # only good-till orders outlive the close (unacked ones stay PendingNew)
            assert order.tif in (TimeInForce.GTC, TimeInForce.GTD), f"{order.order_id} ({order.tif.value}) survived end of day"
            assert order.working in (S.DONE_FOR_DAY, S.PENDING_NEW), (order.order_id, order.working)

    @precondition(lambda self: not self.day_open)
    @rule(next_day=st.sampled_from([True, True, True, False]))
    def start_of_day(self, next_day: bool) -> None:
        if next_day:
            self.desk.now += DAY
        self.day_open = True
        self.steps_in_day = 0
        events = self.step("sod", cmd.StartOfDay(actor=ACTOR))
        assert isinstance(events[-1], ev.DayStarted)
        assert all(o.working is not S.DONE_FOR_DAY for o in self.engine.live.values())

    @invariant()
    def ids_are_consistent(self) -> None:
        engine = self.engine
        for route_id, order in engine.routes.items():
            assert route_id in order.routes
        for exec_id, order in engine.executions.items():
            assert exec_id in order.executions
        assert engine.order_count == len(engine.orders)

    def teardown(self) -> None:
        # the whole run once more, decoded from bytes, compares equal field by field
        assert [decode(p) for p in self.encoded] == self.desk.events


EngineMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineLifecycle = EngineMachine.TestCase
