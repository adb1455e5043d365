"""The order engine: single writer of all order state. ``handle`` decides, ``apply`` evolves.

``handle(command, now)`` validates a command against the current state and returns the events
it causes, already applied. ``apply(event)`` folds one event into the state and is all that
replay uses, so state == replay(journal) by construction. No I/O, no clock, no randomness:
the caller passes ``now`` (ns since the epoch, UTC); ids are derived from the state.

The state and the fold stay here; the larger groups of commands are collaborators that hold no
state of their own and emit through the engine: ``algo_desk.py`` (execution algorithms),
``split_replace.py`` (the replace of an order split across venues), ``risk_controls.py``
(limits, locates, what-if, kill switch) and ``venue_reports.py`` (venue reports, re-routes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from . import commands as cmd
from . import events as ev
from .accounts import ReferenceData
from .algo_desk import AlgoDesk
from .algos import AlgoParent, AlgoStatus, event_params
from .book import AccountBook, Locate
from .extension import EngineExtension
from .gate import OrderFacts, PreTradeGate
from .ids import AccountId, ClientOrderId, ExecId, OrderId, RouteId, Symbol, TraderId, VenueId
from .instruments import Instrument
from .lifecycle import KEEP, TERMINAL, OrdStatus, next_working
from .order import Order
from .positions import Position
from .rejects import Reject, RejectCode
from .risk_controls import RiskControls
from .routing import OrderRouter, RoutingDecision, RoutingQuery
from .split_replace import SplitReplace
from .values import ZERO, OrdType, Side, TimeInForce
from .venue_reports import VenueReports

ENGINE_ACTOR = cmd.Actor("engine", "engine")
NS_PER_DAY = 86_400_000_000_000
NS_PER_SECOND = 1_000_000_000
RECENT_NS = 3600 * NS_PER_SECOND  # the longest duplicate-order window remembered
# Events that never change how much an order may still trade (skips the bookkeeping on the hot path).
WORKING_NEUTRAL = frozenset({ev.OrderRouted, ev.OrderAcknowledged, ev.CancelRequested, ev.CancelRejected, ev.CancelDeferred,
                             ev.RoutingDecided, ev.RouteEnded})
# Engine-level events that change what pre-trade risk enforces (folded into the gate).
GATE_EVENTS = frozenset({ev.LimitsChanged, ev.RestrictedListChanged, ev.LimitsOverridden, ev.OverrideEnded})
ALGO_EVENTS = frozenset({ev.AlgoSliced, ev.AlgoPaused, ev.AlgoResumed, ev.AlgoModified, ev.AlgoEnded})
MAX_GTD_DAYS = 3660  # ten years: beyond any real good-till-date, and far inside what the journal stores


def reduces_only(position: Decimal, buys: Decimal, sells: Decimal, side: Side, quantity: Decimal) -> bool:
    """An order that only shrinks the position and cannot flip it, counting the same side's
    working orders: what a kill switch and the exposure and loss limits still admit."""
    if position == ZERO or (position > ZERO) == (side is Side.BUY):
        return False
    return quantity + (buys if side is Side.BUY else sells) <= abs(position)


def trade_date_of(now: int) -> str:
    return datetime.fromtimestamp(now // 1_000_000_000, UTC).date().isoformat()


class OrderEngine:
    def __init__(
        self,
        reference: ReferenceData,
        default_venue: VenueId = VenueId("SIM"),
        id_prefix: str = "O",
        gate: PreTradeGate | None = None,
        router: OrderRouter | None = None,
    ) -> None:
        self.reference = reference
        # Where orders go. Without one, each order is routed whole to its instrument's first venue.
        self.router = router
        # Pre-trade risk. `oms serve` always wires one; without it (the lifecycle's own unit
        # tests) orders are only validated, and limit events are kept out of the state.
        self.gate = gate
        self.default_venue = default_venue
        self.id_prefix = id_prefix
        self.seq = 0  # seq of the last event applied
        self.orders: dict[OrderId, Order] = {}
        self.live: dict[OrderId, Order] = {}  # not terminal: what EOD, kill switches and recon walk
        self.good_till_date: dict[OrderId, Order] = {}  # live GTD orders: what the expiry timer walks
        self.routes: dict[RouteId, Order] = {}
        self.executions: dict[ExecId, Order] = {}
        self.cl_ord_ids: set[tuple[AccountId, str, ClientOrderId]] = set()  # (account, trade date, ClOrdID)
        self.positions: dict[tuple[AccountId, Symbol], Position] = {}
        self.order_count = 0
        self.session_open = True  # closed between DayEnded and DayStarted; venues follow it after a restart
        self.kill_switches: dict[str, str] = {}  # engaged scope -> reason
        # Recent new orders, for duplicate detection and throttles (kept within RECENT_NS, by event time).
        self.last_identical: dict[tuple[AccountId, Side, Symbol, Decimal, Decimal | None], int] = {}
        self.recent_orders: dict[AccountId, deque[int]] = {}
        # Per account: positions, working quantity and notional, day counters, locates (what risk reads)
        self.books: dict[AccountId, AccountBook] = {}
        # Execution algorithms (parent orders) and those still sending children.
        self.algos: dict[str, AlgoParent] = {}
        self.active_algos: dict[str, AlgoParent] = {}
        self.algo_desk = AlgoDesk(self)
        self.split_replace = SplitReplace(self)  # the replace of an order split across venues
        self.risk_controls = RiskControls(self)  # limits, overrides, locates, what-if, kill switch
        self.venue_reports = VenueReports(self)  # what venues report about routes, and re-routes
        # Live orders by (beneficial owner, instrument, is a buy): what self-trade prevention looks
        # at. Keyed by side too, so a new order scans only the other side (one-sided flow, e.g.
        # thousands of resting buys, made every new buy cost a walk over all of them).
        self.resting: dict[tuple[str, Symbol, bool], dict[OrderId, Order]] = {}
        self.extensions: list[EngineExtension] = []  # post-trade: see extend()
        self._new_order_vetoes: list[Callable[[cmd.SubmitOrder], Reject | None]] = []  # extensions' vet_new_order
        self._out: list[ev.Event] = []
        self._now = 0
        self._actor = ENGINE_ACTOR
        self._day: tuple[int, int, str] = (0, 0, "")  # [start, end) ns of the cached trade date
        self._dispatch: dict[type, Callable[[cmd.Command], None]] = {
            cmd.SubmitOrder: self._submit,  # type: ignore[dict-item]
            cmd.ReplaceOrder: self._replace,  # type: ignore[dict-item]
            cmd.CancelOrder: self._cancel,  # type: ignore[dict-item]
            cmd.VenueAccepted: self.venue_reports.accepted,  # type: ignore[dict-item]
            cmd.VenueRejected: self.venue_reports.rejected,  # type: ignore[dict-item]
            cmd.VenueFilled: self.venue_reports.filled,  # type: ignore[dict-item]
            cmd.VenueCanceled: self.venue_reports.canceled,  # type: ignore[dict-item]
            cmd.VenueReplaced: self.venue_reports.replaced,  # type: ignore[dict-item]
            cmd.VenueCancelRejected: self.venue_reports.cancel_rejected,  # type: ignore[dict-item]
            cmd.VenueReplaceRejected: self.venue_reports.replace_rejected,  # type: ignore[dict-item]
            cmd.VenueExpired: self.venue_reports.expired,  # type: ignore[dict-item]
            cmd.VenueTradeBusted: self.venue_reports.busted,  # type: ignore[dict-item]
            cmd.VenueTradeCorrected: self.venue_reports.corrected,  # type: ignore[dict-item]
            cmd.EndOfDay: self._end_of_day,  # type: ignore[dict-item]
            cmd.ExpireDue: self._expire_due,  # type: ignore[dict-item]
            cmd.StartOfDay: self._start_of_day,  # type: ignore[dict-item]
            cmd.RecordStart: self._record_start,  # type: ignore[dict-item]
            cmd.SetLimits: self.risk_controls.set_limits,  # type: ignore[dict-item]
            cmd.SetRestricted: self.risk_controls.set_restricted,  # type: ignore[dict-item]
            cmd.EngageKillSwitch: self.risk_controls.engage_kill_switch,  # type: ignore[dict-item]
            cmd.ReleaseKillSwitch: self.risk_controls.release_kill_switch,  # type: ignore[dict-item]
            cmd.OverrideLimits: self.risk_controls.override_limits,  # type: ignore[dict-item]
            cmd.EndOverride: self.risk_controls.end_override,  # type: ignore[dict-item]
            cmd.GrantLocate: self.risk_controls.grant_locate,  # type: ignore[dict-item]
            cmd.SetRoutingRules: self._set_routing_rules,  # type: ignore[dict-item]
            cmd.StartAlgo: self.algo_desk.start,  # type: ignore[dict-item]
            cmd.PauseAlgo: self.algo_desk.pause,  # type: ignore[dict-item]
            cmd.ResumeAlgo: self.algo_desk.resume,  # type: ignore[dict-item]
            cmd.CancelAlgo: self.algo_desk.cancel,  # type: ignore[dict-item]
            cmd.ModifyAlgo: self.algo_desk.modify,  # type: ignore[dict-item]
            cmd.AlgoTick: self.algo_desk.tick,  # type: ignore[dict-item]
        }

    def extend(self, extension: EngineExtension) -> None:
        """Plug in an extension: the engine decides its commands through it and feeds it every applied event."""
        self.extensions.append(extension)
        veto = getattr(extension, "vet_new_order", None)  # optional: see domain/extension.py
        if veto is not None:
            self._new_order_vetoes.append(veto)
        for kind in extension.command_types:
            self._dispatch[kind] = partial(self._extension_command, extension)

    def _extension_command(self, extension: EngineExtension, command: cmd.Command) -> None:
        for event in extension.decide(command, self._now, self.seq + 1):
            self._emit(event)

    # --- the two entry points --------------------------------------------------------------

    def handle(self, command: cmd.Command, now: int) -> list[ev.Event]:
        """Decide on one command; returns its events (already applied). Never raises on bad input."""
        out: list[ev.Event] = []
        self._out = out
        self._now = now
        self._actor = command.actor
        self._dispatch[type(command)](command)
        if self.active_algos and out:
            self.algo_desk.children_done(out)
        return out

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the state (replay and live use the same code).

        Hot path: it runs for every event on replay, so it dispatches on the exact type and
        reads attributes without re-checking what the type already says.
        """
        self.seq = event.seq
        if self.extensions:  # before the engine's own fold: an extension reads the order as the fill found it
            for extension in self.extensions:
                extension.apply(event)
        kind = type(event)
        if kind is ev.OrderAccepted:
            order = Order(event)  # type: ignore[arg-type]
            self.orders[order.order_id] = order
            self.live[order.order_id] = order
            self.cl_ord_ids.add((order.account, order.trade_date, order.cl_ord_id))
            self.order_count += 1
            if order.parent_id:
                self.algos[order.parent_id].children.append(order.order_id)
            book = self._book(order.account)
            book.new_day(event.ts)
            book.day_messages += 1
            if order.side is Side.SELL_SHORT:
                book.use_locates(order.order_id, order.symbol, order.working_qty, event.ts)
            self._add_working(order, order.working_qty)
            self._remember_new_order(order, event.ts)
            owner = self.reference.accounts[order.account].owner
            self.resting.setdefault((owner, order.symbol, order.side.is_buy), {})[order.order_id] = order
            if order.tif is TimeInForce.GTD:
                self.good_till_date[order.order_id] = order
            return
        order_id = getattr(event, "order_id", None)
        if order_id is None:
            if kind is ev.DayEnded or kind is ev.DayStarted:
                self.session_open = kind is ev.DayStarted
            elif kind in GATE_EVENTS and self.gate is not None:
                self.gate.apply(event)
            elif kind is ev.KillSwitchEngaged:
                self.kill_switches[event.scope] = event.reason  # type: ignore[attr-defined]
            elif kind is ev.KillSwitchReleased:
                self.kill_switches.pop(event.scope, None)  # type: ignore[attr-defined]
            elif kind in ALGO_EVENTS:
                algo = self.algos[event.algo_id]  # type: ignore[attr-defined]
                algo.apply(event)
                if algo.status is AlgoStatus.DONE:
                    self.active_algos.pop(algo.algo_id, None)
            elif kind is ev.AlgoStarted:
                started: ev.AlgoStarted = event  # type: ignore[assignment]
                algo = AlgoParent(started.algo_id, started.account, started.trader, started.symbol, started.side,
                                  started.cl_ord_id, event_params(started.params), started.route, started.volume_at_start,
                                  seqs=[started.seq])
                self.algos[algo.algo_id] = self.active_algos[algo.algo_id] = algo
            elif kind is ev.RoutingRulesChanged and self.router is not None:
                self.router.apply(event)
            elif kind is ev.LocateGranted:
                self._book(event.account).grant_locate(event.symbol, Locate(  # type: ignore[attr-defined]
                    event.locate_id, event.quantity, event.expires_at))  # type: ignore[attr-defined]
            return  # engine-level events (EngineStarted, CommandRejected without order, day markers)
        found = self.orders.get(order_id)
        if found is None:
            return  # a CommandRejected naming an unknown order
        order = found
        if kind is ev.CommandRejected:
            order.seqs.append(event.seq)  # refused requests belong to the order's history too
            return
        if kind is ev.OrderRouted:
            self.routes[event.route_id] = order  # type: ignore[attr-defined]
        elif kind is ev.CancelRequested or kind is ev.ReplaceRequested:
            # Reserved for the day the request was made (a GTC order lives across days).
            self.cl_ord_ids.add((order.account, self._trade_date(event.ts), event.cl_ord_id))  # type: ignore[attr-defined]
            book = self._book(order.account)
            book.new_day(event.ts)
            book.day_messages += 1
            book.remember(book.recent_cancels if kind is ev.CancelRequested else book.recent_replaces, event.ts)
        if kind in WORKING_NEUTRAL:
            order.apply(event)
        else:
            before = order.working_qty
            order.apply(event)
            after = order.working_qty
            if after != before:
                self._add_working(order, after - before)
                if order.side is Side.SELL_SHORT:
                    if after > before:
                        self._book(order.account).use_locates(order.order_id, order.symbol, after - before, event.ts)
                    elif kind is not ev.OrderFilled:  # a fill consumes the borrow; a cancel gives it back
                        self._book(order.account).return_locates(order.order_id, before - after)
            else:
                self._count_notional(order)  # a price-only replace
        if kind is ev.OrderFilled:
            exec_id: ExecId = event.exec_id  # type: ignore[attr-defined]
            self.executions[exec_id] = order
            position = self._position(order)
            realized = position.realized_pnl
            position.apply_fill(
                exec_id, event.last_qty * order.sign, event.last_px, self.reference.instruments[order.symbol]  # type: ignore[attr-defined]
            )
            book = self._book(order.account)
            book.new_day(event.ts)
            book.day_fills += 1
            book.position_changed(position, self.reference.instruments[order.symbol], realized)
        elif kind is ev.TradeBusted or kind is ev.TradeCorrected:
            fill = None
            if isinstance(event, ev.TradeCorrected):
                fill = (event.last_qty * order.sign, event.last_px)
            position = self._position(order)
            realized = position.realized_pnl
            position.amend_fill(event.exec_id, fill, self._instrument(order))  # type: ignore[attr-defined]
            self._book(order.account).position_changed(position, self._instrument(order), realized)
            if order.working not in TERMINAL:
                self.live[order.order_id] = order  # a bust can reopen a Filled order
                if order.tif is TimeInForce.GTD:
                    self.good_till_date[order.order_id] = order
        if order.working in TERMINAL:
            self.live.pop(order.order_id, None)
            self.good_till_date.pop(order.order_id, None)
            resting = self.resting.get((self.reference.accounts[order.account].owner, order.symbol, order.side.is_buy))
            if resting is not None:
                resting.pop(order.order_id, None)
            if order.side is Side.SELL_SHORT:
                self._book(order.account).order_done(order.order_id)
        elif kind is ev.TradeBusted or kind is ev.TradeCorrected:
            owner = self.reference.accounts[order.account].owner
            self.resting.setdefault((owner, order.symbol, order.side.is_buy), {})[order.order_id] = order

    # --- helpers -----------------------------------------------------------------------

    def _remember_new_order(self, order: Order, ts: int) -> None:
        self.last_identical[(order.account, order.side, order.symbol, order.quantity, order.price)] = ts
        recent = self.recent_orders.get(order.account)
        if recent is None:
            recent = self.recent_orders[order.account] = deque()
        recent.append(ts)
        while recent[0] <= ts - NS_PER_SECOND:
            recent.popleft()
        if self.order_count % 10_000 == 0:  # forget identical-order times older than the longest window
            horizon = ts - RECENT_NS
            self.last_identical = {k: v for k, v in self.last_identical.items() if v > horizon}

    def _recent_activity(self, account: AccountId, side: Side, symbol: Symbol, quantity: Decimal,
                         price: Decimal | None) -> tuple[int | None, int]:
        last = self.last_identical.get((account, side, symbol, quantity, price))
        if last is not None and last <= self._now - RECENT_NS:
            last = None
        recent = self.recent_orders.get(account)
        if not recent:
            return last, 0
        # apply() keeps only the last second before the newest order, so the stale ones (if
        # time has moved on since) sit at the left: count them off, O(stale) not O(all).
        floor = self._now - NS_PER_SECOND
        stale = 0
        for ts in recent:
            if ts > floor:
                break
            stale += 1
        return last, len(recent) - stale

    def _book(self, account: AccountId) -> AccountBook:
        book = self.books.get(account)
        if book is None:
            book = self.books[account] = AccountBook(account)
        return book

    def _add_working(self, order: Order, delta: Decimal) -> None:
        self._book(order.account).add_working(order.symbol, order.sign > 0, delta)
        self._count_notional(order)

    def _count_notional(self, order: Order) -> None:
        """Keep the account's working notional equal to the sum of its orders' working quantity
        at their risk price (what credit and exposure limits count)."""
        instrument = self.reference.instruments[order.symbol]
        working = order.working_qty
        notional = instrument.notional(working, order.risk_price) if working else ZERO
        if notional != order.risk_notional:
            self._book(order.account).add_notional(instrument.currency, order.sign > 0, notional - order.risk_notional)
            order.risk_notional = notional

    def exposure(self, account: AccountId, symbol: Symbol, exclude: Order | None = None) -> tuple[Decimal, Decimal, Decimal]:
        """(position, working buys, working sells) of an account in an instrument, optionally
        without one order's own working quantity (a replace is judged as if it were new)."""
        position = self.positions.get((account, symbol))
        book = self.books.get(account)
        buys, sells = book.working_qty.get(symbol, (ZERO, ZERO)) if book is not None else (ZERO, ZERO)
        if exclude is not None:
            if exclude.sign > 0:
                buys -= exclude.working_qty
            else:
                sells -= exclude.working_qty
        return (position.quantity if position is not None else ZERO), buys, sells

    def _emit(self, event: ev.Event) -> None:
        self.apply(event)
        self._out.append(event)

    def _trade_date(self, ts: int | None = None) -> str:
        """The UTC trade date of ``ts`` (default: now), cached for the day it falls in."""
        start, end, date = self._day
        now = self._now if ts is None else ts
        if not start <= now < end:
            start = now - now % NS_PER_DAY
            date = trade_date_of(now)
            self._day = (start, start + NS_PER_DAY, date)
        return date

    def _next_seq(self) -> int:
        return self.seq + 1

    def _instrument(self, order: Order) -> Instrument:
        return self.reference.instruments[order.symbol]

    def _position(self, order: Order) -> Position:
        key = (order.account, order.symbol)
        position = self.positions.get(key)
        if position is None:
            position = self.positions[key] = Position(order.account, order.symbol)
            book = self._book(order.account)
            book.positions[order.symbol] = position
            book.symbols.add(order.symbol)
        return position

    def _reject(
        self,
        command: str,
        reason: Reject,
        order_id: OrderId | None = None,
        cl_ord_id: ClientOrderId | None = None,
        account: AccountId | None = None,
    ) -> None:
        self._emit(
            ev.CommandRejected(
                seq=self._next_seq(), ts=self._now, actor=self._actor, command=command,
                order_id=order_id, cl_ord_id=cl_ord_id, account=account, reason=reason,
            )
        )

    def order_for_route(self, route_id: RouteId) -> Order | None:
        return self.routes.get(route_id)

    def what_if(self, command: cmd.SubmitOrder, now: int) -> list[tuple[str, Reject | None]]:
        """Every check a new order would meet, each with its answer; decides and changes nothing
        (the checks are in risk_controls.py)."""
        return self.risk_controls.what_if(command, now)

    # --- client commands ---------------------------------------------------------------

    def _submit(self, command: cmd.SubmitOrder, parent_id: str = "") -> None:
        reason = self._validate_submit(command)
        if reason is None:
            for veto in self._new_order_vetoes:  # decided here, in the step that accepts the order
                reason = veto(command)
                if reason is not None:
                    break
        if reason is not None:
            self._reject("SubmitOrder", reason, cl_ord_id=command.cl_ord_id, account=command.account)
            return
        instrument = self.reference.instruments[command.symbol]
        if self.kill_switches:
            reason = self.risk_controls.kill_switch_refusal(command.account, TraderId(command.actor.user), command.symbol, command.side,
                                               command.quantity)
            if reason is not None:
                self._reject("SubmitOrder", reason, cl_ord_id=command.cl_ord_id, account=command.account)
                return
        reference_price = None
        alerts: tuple[str, ...] = ()
        decision: RoutingDecision | None = None
        router = self.router
        if router is not None and not command.route and (plain := router.plain_default(instrument, command.quantity, self._now)):
            venue = plain  # no rule applies and the default venue takes it: the route alone records the decision
        elif router is not None:
            decision = router.route(RoutingQuery(command.account, instrument, command.side, command.quantity,
                                                      command.ord_type, command.price, command.tif, command.route), self._now)
            if decision.reject is not None:
                self._reject("SubmitOrder", decision.reject, cl_ord_id=command.cl_ord_id, account=command.account)
                return
            venue = decision.allocations[0][0]
        elif command.route:
            self._reject("SubmitOrder", Reject(RejectCode.NO_ROUTE, "routing is not configured: leave route empty",
                                               {"route": command.route}), cl_ord_id=command.cl_ord_id, account=command.account)
            return
        else:
            venue = instrument.venues[0] if instrument.venues else self.default_venue
        if self.gate is not None:
            facts = self._new_order_facts(command, venue)
            verdict = self.gate.check(facts, instrument, self._now)
            if verdict.reject is None and decision is not None and len(decision.allocations) > 1:
                # Split across venues: every venue must pass the same checks (venue permissions).
                for other, _ in decision.allocations[1:]:
                    facts.venue = other
                    refusal = self.gate.check(facts, instrument, self._now).reject
                    if refusal is not None:
                        verdict.reject = refusal
                        break
            if verdict.reject is not None:
                self._reject("SubmitOrder", verdict.reject, cl_ord_id=command.cl_ord_id, account=command.account)
                return
            reference_price = verdict.reference_price
            alerts = verdict.alerts
            for resting_id in verdict.cancel_first:  # self-trade prevention: take the resting order out first
                self._cancel(cmd.CancelOrder(actor=command.actor, order_id=resting_id), client=False)
        order_id = OrderId(f"{self.id_prefix}{self.order_count + 1}")
        trade_date = self._trade_date()
        self._emit(
            ev.OrderAccepted(
                seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order_id,
                account=command.account, trader=TraderId(command.actor.user), cl_ord_id=command.cl_ord_id,
                symbol=command.symbol, side=command.side, quantity=command.quantity,
                ord_type=command.ord_type, price=command.price, stop_price=command.stop_price,
                tif=command.tif, expire_at=command.expire_at, trade_date=trade_date, reference_price=reference_price,
                alerts=alerts, parent_id=parent_id,
            )
        )
        if decision is None or (decision.rule == "default" and not decision.notes and len(decision.allocations) == 1):
            # The plain default (no rule matched, first default venue taken, nothing to explain) is
            # journaled by the route alone: the hot path keeps one event less per order.
            self._emit(
                ev.OrderRouted(
                    seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order_id,
                    route_id=RouteId(f"{order_id}-1"), venue=venue, quantity=command.quantity, price=command.price,
                )
            )
        else:
            self._emit_routes(self.orders[order_id], decision)

    def _emit_routes(self, order: Order, decision: RoutingDecision, notes: tuple[str, ...] = ()) -> None:
        """Journal a routing decision and send one route per venue it names."""
        self._emit(ev.RoutingDecided(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                                     rule=decision.rule, strategy=decision.strategy, allocations=decision.allocations,
                                     notes=notes + decision.notes))
        for venue, quantity in decision.allocations:
            self._emit(ev.OrderRouted(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                                      route_id=RouteId(f"{order.order_id}-{len(order.routes) + 1}"), venue=venue,
                                      quantity=quantity, price=order.price))

    def _new_order_facts(self, command: cmd.SubmitOrder, venue: VenueId) -> OrderFacts:
        account, symbol, side = command.account, command.symbol, command.side
        book = self.books.get(account)  # never created here: a refused order must leave no trace in the state
        position, buys, sells = self.exposure(account, symbol)
        reduces = reduces_only(position, buys, sells, side, command.quantity)
        return OrderFacts(
            account, TraderId(command.actor.user), symbol, side, command.quantity, command.ord_type, command.price,
            command.stop_price, position, buys, sells, ZERO,
            *self._recent_activity(account, side, symbol, command.quantity, command.price),
            venue=venue, book=book, reduces_only=reduces,
            locate_available=book.locate_available(symbol, self._now) if book is not None and side is Side.SELL_SHORT else ZERO,
            crossing=self._crossing(account, symbol, side, command.ord_type, command.price),
        )

    def _reduces_only(self, account: AccountId, symbol: Symbol, side: Side, quantity: Decimal,
                      exclude: Order | None = None) -> bool:
        """Whether an order only shrinks the position and cannot flip it, counting the same side's
        other working orders (what a kill switch and the loss limits still admit)."""
        return reduces_only(*self.exposure(account, symbol, exclude), side, quantity)

    def _crossing(self, account: AccountId, symbol: Symbol, side: Side, ord_type: OrdType, price: Decimal | None,
                  exclude: OrderId | None = None) -> tuple[tuple[OrderId, Decimal | None, bool], ...]:
        """Resting orders of the same beneficial owner on the other side that this order would trade against."""
        buy = side.is_buy
        resting = self.resting.get((self.reference.accounts[account].owner, symbol, not buy))
        if not resting or ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            return ()
        found = []
        for other in resting.values():
            if other.order_id == exclude or other.working is OrdStatus.DONE_FOR_DAY:
                continue
            if other.ord_type in (OrdType.STOP, OrdType.STOP_LIMIT) and other.cum_qty == ZERO:
                continue  # an untriggered stop is not on the book
            if price is None or other.price is None or (price >= other.price if buy else price <= other.price):
                found.append((other.order_id, other.price, other.pending is not None))
        return tuple(found)

    def _validate_submit(self, command: cmd.SubmitOrder) -> Reject | None:
        account = self.reference.accounts.get(command.account)
        if account is None:
            return Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown account {command.account!r}", {"account": command.account})
        trader = self.reference.traders.get(TraderId(command.actor.user))
        if trader is None:
            return Reject(RejectCode.UNKNOWN_TRADER, f"unknown trader {command.actor.user!r}", {"user": command.actor.user})
        if command.account not in trader.accounts:
            return Reject(
                RejectCode.NOT_PERMITTED,
                f"trader {trader.trader_id!r} may not trade account {command.account!r}",
                {"user": trader.trader_id, "account": command.account},
            )
        instrument = self.reference.instruments.get(command.symbol)
        if instrument is None:
            return Reject(RejectCode.UNKNOWN_INSTRUMENT, f"unknown instrument {command.symbol!r}", {"symbol": command.symbol})
        if not command.cl_ord_id:
            return Reject(RejectCode.INVALID_CL_ORD_ID, "cl_ord_id must not be empty")
        reason = instrument.check_quantity(command.quantity) or self._check_prices(
            instrument, command.ord_type, command.price, command.stop_price
        )
        if reason is not None:
            return reason
        reason = self._check_tif(command)
        if reason is not None:
            return reason
        if (command.account, self._trade_date(), command.cl_ord_id) in self.cl_ord_ids:
            return Reject(
                RejectCode.DUPLICATE_CL_ORD_ID,
                f"cl_ord_id {command.cl_ord_id!r} was already used today on account {command.account!r}",
                {"cl_ord_id": command.cl_ord_id, "account": command.account},
            )
        return None

    @staticmethod
    def _check_prices(
        instrument: Instrument, ord_type: OrdType, price: Decimal | None, stop_price: Decimal | None
    ) -> Reject | None:
        if ord_type.needs_price:
            if price is None:
                return Reject(RejectCode.INVALID_PRICE, f"a {ord_type.value} order needs a price")
            reason = instrument.check_price(price)
            if reason is not None:
                return reason
        elif price is not None:
            return Reject(RejectCode.INVALID_PRICE, f"a {ord_type.value} order takes no price", {"price": str(price)})
        if ord_type.needs_stop_price:
            if stop_price is None:
                return Reject(RejectCode.INVALID_PRICE, f"a {ord_type.value} order needs a stop_price")
            return instrument.check_price(stop_price, "stop_price")
        if stop_price is not None:
            return Reject(
                RejectCode.INVALID_PRICE, f"a {ord_type.value} order takes no stop_price", {"stop_price": str(stop_price)}
            )
        return None

    def _check_tif(self, command: cmd.SubmitOrder) -> Reject | None:
        if command.tif is TimeInForce.GTD:
            if command.expire_at is None:
                return Reject(RejectCode.INVALID_TIME_IN_FORCE, "a GTD order needs expire_at")
            if command.expire_at <= self._now:
                return Reject(RejectCode.INVALID_TIME_IN_FORCE, "expire_at is in the past", {"expire_at": str(command.expire_at)})
            if command.expire_at > self._now + MAX_GTD_DAYS * NS_PER_DAY:
                return Reject(RejectCode.INVALID_TIME_IN_FORCE, f"expire_at is more than {MAX_GTD_DAYS} days ahead",
                              {"expire_at": str(command.expire_at)})
        elif command.expire_at is not None:
            return Reject(RejectCode.INVALID_TIME_IN_FORCE, f"expire_at is only valid with GTD, not {command.tif.value}")
        if command.tif.is_immediate and command.ord_type.needs_stop_price:
            return Reject(RejectCode.INVALID_TIME_IN_FORCE, f"{command.tif.value} cannot be used with {command.ord_type.value} orders")
        return None

    def _check_amendable(self, name: str, order: Order | None, order_id: OrderId, cl_ord_id: ClientOrderId | None) -> bool:
        """Shared checks for cancel and replace; emits the rejection and returns False when refused."""
        if order is None:
            self._reject(name, Reject(RejectCode.UNKNOWN_ORDER, f"unknown order {order_id!r}", {"order_id": order_id}),
                         order_id=order_id, cl_ord_id=cl_ord_id)
            return False
        if order.working in TERMINAL:
            self._reject(name, Reject(RejectCode.TOO_LATE, f"order {order_id} is already {order.working.value}",
                                      {"order_id": order_id, "status": order.working.value}),
                         order_id=order_id, cl_ord_id=cl_ord_id, account=order.account)
            return False
        if cl_ord_id is not None and not cl_ord_id:
            self._reject(name, Reject(RejectCode.INVALID_CL_ORD_ID, "cl_ord_id must not be empty"),
                         order_id=order_id, cl_ord_id=cl_ord_id, account=order.account)
            return False
        if order.pending is not None:
            self._reject(name, Reject(RejectCode.ALREADY_PENDING, f"order {order_id} already has a {order.pending.value.replace('_', ' ')}",
                                      {"order_id": order_id, "pending": order.pending.value}),
                         order_id=order_id, cl_ord_id=cl_ord_id, account=order.account)
            return False
        if cl_ord_id is not None and (order.account, self._trade_date(), cl_ord_id) in self.cl_ord_ids:
            self._reject(name, Reject(RejectCode.DUPLICATE_CL_ORD_ID, f"cl_ord_id {cl_ord_id!r} was already used today",
                                      {"cl_ord_id": cl_ord_id}),
                         order_id=order_id, cl_ord_id=cl_ord_id, account=order.account)
            return False
        return True

    def _replace(self, command: cmd.ReplaceOrder) -> None:
        order = self.orders.get(command.order_id)
        if not self._check_amendable("ReplaceOrder", order, command.order_id, command.cl_ord_id):
            return
        assert order is not None
        instrument = self._instrument(order)
        quantity = command.quantity if command.quantity is not None else order.quantity
        price = command.price if command.price is not None else order.price
        stop_price = command.stop_price if command.stop_price is not None else order.stop_price
        reason = instrument.check_quantity(quantity) or self._check_prices(instrument, order.ord_type, price, stop_price)
        if reason is None and self.kill_switches and quantity > order.quantity:
            reason = self.risk_controls.kill_switch_refusal(order.account, TraderId(command.actor.user), order.symbol, order.side,
                                               quantity, order.order_id)
        if reason is None and len(order.routes) > 1 and quantity <= order.cum_qty:
            reason = Reject(RejectCode.INVALID_QUANTITY, f"order {order.order_id} is split across venues: its new quantity "
                            f"{quantity} must stay above the {order.cum_qty} already filled (cancel it instead)",
                            {"order_id": order.order_id, "cum_qty": str(order.cum_qty)})
        if reason is None and self.gate is not None:
            route = order.open_route()
            facts = self._replace_facts(order, quantity, price, stop_price, route.venue if route else None,
                                        TraderId(command.actor.user))
            verdict = self.gate.check(facts, instrument, self._now)
            reason = verdict.reject
            if reason is None and verdict.cancel_first:
                reason = Reject(RejectCode.RISK_SELF_TRADE, "the new price would trade against resting order(s) "
                                f"{', '.join(verdict.cancel_first)} of the same beneficial owner",
                                {"rule": "self_trade_prevention", "value": ", ".join(verdict.cancel_first)})
        if reason is not None:
            self._reject("ReplaceOrder", reason, order.order_id, command.cl_ord_id, order.account)
            return
        if len(order.routes) > 1:
            self.split_replace.replace(order, command.cl_ord_id, quantity, price, stop_price)
            return
        route = order.open_route()
        self._emit(
            ev.ReplaceRequested(
                seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                cl_ord_id=command.cl_ord_id, route_id=route.route_id if route else None,
                quantity=quantity, price=price, stop_price=stop_price,
                market_price=self.gate.market_price(order.symbol) if self.gate is not None else None,
            )
        )
        if route is None:  # nothing at a venue to amend (e.g. reopened by a bust after its route finished)
            self._emit(
                ev.OrderReplaced(
                    seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                    cl_ord_id=command.cl_ord_id, quantity=quantity, price=price, stop_price=stop_price,
                )
            )

    def _replace_facts(self, order: Order, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None,
                       venue: VenueId | None, trader: TraderId) -> OrderFacts:
        """The order as it would stand with new terms (or at a new venue), without its own working quantity."""
        book = self._book(order.account)
        return OrderFacts(
            order.account, trader, order.symbol, order.side, quantity, order.ord_type, price,
            stop_price, *self.exposure(order.account, order.symbol, exclude=order), already_filled=order.cum_qty,
            venue=venue, is_replace=True, book=book,
            own_notional=order.risk_notional,
            reduces_only=self._reduces_only(order.account, order.symbol, order.side, quantity - order.cum_qty, order),
            replaces_last_second=book.messages_within(book.recent_replaces, self._now),
            locate_available=(book.locate_available(order.symbol, self._now) + book.locates_held(order.order_id)
                              if order.side is Side.SELL_SHORT else ZERO),
            crossing=self._crossing(order.account, order.symbol, order.side, order.ord_type, price, order.order_id),
        )

    def _cancel(self, command: cmd.CancelOrder, client: bool = True) -> None:
        """A cancel request; ``client`` False for the engine's own (kill switch, self-trade
        prevention), which no throttle may hold back."""
        order = self.orders.get(command.order_id)
        if not self._check_amendable("CancelOrder", order, command.order_id, command.cl_ord_id):
            return
        assert order is not None
        if client and self.gate is not None:
            book = self._book(order.account)
            reason = self.gate.check_cancel(order.account, TraderId(command.actor.user),
                                            book.messages_within(book.recent_cancels, self._now), self._now)
            if reason is not None:
                self._reject("CancelOrder", reason, order.order_id, command.cl_ord_id, order.account)
                return
        cl_ord_id = command.cl_ord_id or self._generated_cl_ord_id(order, "C")
        route = order.open_route()
        self._emit(
            ev.CancelRequested(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                               cl_ord_id=cl_ord_id, route_id=route.route_id if route else None,
                               market_price=self.gate.market_price(order.symbol) if self.gate is not None else None)
        )
        if route is None:
            self._emit(
                ev.OrderCanceled(
                    seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                    route_id=RouteId(""), reason="canceled: no open route",
                )
            )

    def _generated_cl_ord_id(self, order: Order, kind: str) -> ClientOrderId:
        """A ClOrdID for a request the client sent without one, never one already used today."""
        date = self._trade_date()
        n = self.seq + 1
        while True:
            candidate = ClientOrderId(f"{order.cl_ord_id}-{kind}{n}")
            if (order.account, date, candidate) not in self.cl_ord_ids:
                return candidate
            n += 1

    def _deferred_cancel(self, order: Order) -> None:
        """A kill switch reached the order while its replace was in flight: cancel it now."""
        if order.cancel_deferred and order.working not in TERMINAL and order.pending is None:
            self._cancel(cmd.CancelOrder(actor=self._actor, order_id=order.order_id), client=False)

    # --- trading day ---------------------------------------------------------------------

    def _end_of_day(self, command: cmd.EndOfDay) -> None:
        for order in list(self.live.values()):
            if order.tif is TimeInForce.GTC or (
                order.tif is TimeInForce.GTD and order.expire_at is not None and order.expire_at > self._now
            ):
                if next_working(order.working, ev.OrderDoneForDay) not in (None, KEEP):
                    self._emit(ev.OrderDoneForDay(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id))
            elif next_working(order.working, ev.OrderExpired) is not None:
                self._emit(ev.OrderExpired(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                                           reason=f"{order.tif.value} order expired at end of day"))
        self._emit(ev.DayEnded(seq=self._next_seq(), ts=self._now, actor=self._actor, trade_date=trade_date_of(self._now)))

    def _expire_due(self, command: cmd.ExpireDue) -> None:
        if self.gate is not None:  # overrides are out of force at expiry anyway; this journals their end
            for scope in self.gate.due_overrides(self._now):
                self._emit(ev.OverrideEnded(seq=self._next_seq(), ts=self._now, actor=self._actor, scope=scope,
                                            reason="override expired"))
        for order in list(self.good_till_date.values()):
            if order.expire_at is not None and order.expire_at <= self._now and next_working(order.working, ev.OrderExpired):
                self._emit(ev.OrderExpired(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                                           reason="good-till-date order reached its expiry time"))

    def _start_of_day(self, command: cmd.StartOfDay) -> None:
        for order in list(self.live.values()):
            if order.working is OrdStatus.DONE_FOR_DAY:
                self._emit(ev.OrderRestated(seq=self._next_seq(), ts=self._now, actor=self._actor, order_id=order.order_id,
                                            reason="good-till order restated for the new day"))
        self._emit(ev.DayStarted(seq=self._next_seq(), ts=self._now, actor=self._actor, trade_date=trade_date_of(self._now)))

    def _record_start(self, command: cmd.RecordStart) -> None:
        self._emit(ev.EngineStarted(seq=self._next_seq(), ts=self._now, actor=self._actor, version=command.version,
                                    clock=command.clock, replayed_events=command.replayed_events))

    # --- routing rules ----------------------------------------------------------------------

    def _set_routing_rules(self, command: cmd.SetRoutingRules) -> None:
        user = self._actor.user
        if not (user == "system" or self.reference.has_role(user, "risk_officer") or self.reference.has_role(user, "operations")):
            self._reject("SetRoutingRules", Reject(RejectCode.NOT_PERMITTED, "changing the routing rules needs the operations "
                                                   f"or risk_officer role; {user!r} has neither", {"user": user}))
            return
        if self.router is None:
            self._reject("SetRoutingRules", Reject(RejectCode.INVALID_ROUTING, "routing is not configured"))
            return
        problem = self.router.rules_change(command.rules)
        if problem is not None:
            self._reject("SetRoutingRules", problem)
            return
        previous = self.router.rules_text
        if previous != command.rules:
            self._emit(ev.RoutingRulesChanged(seq=self._next_seq(), ts=self._now, actor=self._actor, rules=command.rules,
                                              previous=previous, reason=command.reason))
