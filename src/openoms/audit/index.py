"""The audit index: a read model of the journal for compliance queries.

It holds journal seqs, not events: who did what (per user), which orders an account, trader
or instrument had (with their acceptance time), every risk-control change (limits, restricted
lists, kill switches, and refused attempts at them), and the prices the journal saw per
instrument (for "the market price at that moment"). Answers are read back from the journal
by seq, so the index never becomes a second store.

It is fed one event at a time, in journal order: during replay (``EngineRuntime.replay_observers``),
then after each durable batch (``EngineRuntime.subscribers``); or, with no engine at hand
(``oms audit`` on a journal file), by a scan of the journal. Seqs and times live in
``array('q')`` (8 bytes each, no Python object per entry), so a million-event journal costs a few MB.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain import events as ev
from ..domain.ids import OrderId, Symbol

# Events that change or try to change what risk lets through: compliance asks for all of them.
CONTROL_EVENTS = frozenset({ev.LimitsChanged, ev.RestrictedListChanged, ev.KillSwitchEngaged, ev.KillSwitchReleased,
                            ev.LimitsOverridden, ev.OverrideEnded, ev.LocateGranted, ev.CancelDeferred})
CONTROL_COMMANDS = frozenset({"SetLimits", "SetRestricted", "EngageKillSwitch", "ReleaseKillSwitch", "OverrideLimits",
                              "EndOverride", "GrantLocate"})
# Actions are what people and systems asked for; venue reports are the venue's, not a user's.
VENUE_SOURCE = "venue"
_ACCEPTED, _ROUTED, _ACKNOWLEDGED, _FILLED = ev.OrderAccepted, ev.OrderRouted, ev.OrderAcknowledged, ev.OrderFilled


@dataclass(slots=True)
class Series:
    """Seqs with their event times, in journal order."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))

    def add(self, seq: int, ts: int) -> None:
        self.seqs.append(seq)
        self.times.append(ts)

    def window(self, since: int | None, until: int | None, ordered: bool = True) -> list[int]:
        """Seqs with ``since <= ts < until``, in journal order. Journal time never runs backwards
        within one engine run; should a clock have stepped back across a restart (``ordered``
        False), the window is found by a scan instead of a bisection, so answers stay right."""
        times = self.times
        if ordered:
            start = 0 if since is None else bisect_left(times, since)
            end = len(times) if until is None else bisect_left(times, until)
            return self.seqs[start:end].tolist()
        low = -(2**63) if since is None else since
        high = 2**63 if until is None else until
        return [seq for seq, ts in zip(self.seqs, times, strict=True) if low <= ts < high]


@dataclass(slots=True)
class PriceSeries:
    """Prices seen for one instrument, by seq; a price equal to the previous one is not repeated."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))
    prices: list[Decimal] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    last: Decimal | None = None

    def add(self, seq: int, ts: int, price: Decimal, source: str) -> None:
        if price == self.last:
            return
        self.last = price
        self.seqs.append(seq)
        self.times.append(ts)
        self.prices.append(price)
        self.sources.append(source)


@dataclass(frozen=True, slots=True)
class PriceSeen:
    price: Decimal
    seq: int
    ts: int
    source: str  # "reference" (what pre-trade risk judged an order against) or "execution"


class _Instrument:
    """What the index remembers of an order when no engine holds it: its instrument."""

    __slots__ = ("symbol",)

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol


class AuditIndex:
    """Seq indexes for compliance queries. ``orders`` is the engine's order map (for an order's
    instrument); without one the index remembers each order's instrument itself.
    ``keep_order_seqs`` also keeps each order's seqs, for readers that have no engine (the
    engine's ``Order.seqs`` holds them)."""

    def __init__(self, orders: Mapping[OrderId, Any] | None = None, keep_order_seqs: bool = False) -> None:
        self.last_seq = 0
        self.accepted = Series()  # every OrderAccepted
        # account / trader / instrument -> positions in ``accepted`` (its times serve every key)
        self.by_account: dict[str, array[int]] = {}
        self.by_trader: dict[str, array[int]] = {}
        self.by_symbol: dict[str, array[int]] = {}
        self.actions: dict[str, Series] = {}  # user -> the events they caused
        self.controls = Series()
        self.prices: dict[str, PriceSeries] = {}
        self.order_seqs: dict[OrderId, list[int]] | None = {} if keep_order_seqs else None
        self.ordered = True  # every indexed event's time >= the one before it (see Series.window)
        self._last_ts = 0
        self._own: dict[OrderId, _Instrument] | None = None if orders is not None else {}
        self._orders: Mapping[OrderId, Any] = orders if orders is not None else self._own  # type: ignore[assignment]

    # --- feeding (journal order) -------------------------------------------------------------

    def observe(self, event: ev.Event) -> None:
        self.observe_all((event,))

    def observe_all(self, events: Sequence[ev.Event]) -> None:
        """Fold a batch of events, in journal order. This runs on the engine loop after every
        commit, so the common events take the shortest path, written out inline: a route or an ack
        adds nothing (the route is part of the acceptance's action; an ack is the venue's), a fill
        only its price when it differs from the last one."""
        if not events:
            return
        if self.order_seqs is not None:
            self._track_order_seqs(events)
        actions = self.actions
        prices = self.prices
        orders = self._orders
        last_ts = self._last_ts
        for event in events:
            kind = type(event)
            if kind is _ROUTED or kind is _ACKNOWLEDGED:
                continue
            if kind is _FILLED:  # always a venue's report: a price, not a user's action
                price = event.last_px  # type: ignore[attr-defined]
                order = orders.get(event.order_id)  # type: ignore[attr-defined]
                if order is not None:
                    series = prices.get(order.symbol)
                    if series is None or price != series.last:
                        self._price(order.symbol).add(event.seq, event.ts, price, "execution")
                continue
            seq = event.seq
            ts = event.ts
            if ts < last_ts:
                self.ordered = False
            last_ts = ts
            actor = event.actor
            if actor.source != VENUE_SOURCE:
                user_series = actions.get(actor.user)
                if user_series is None:
                    user_series = actions[actor.user] = Series()
                user_series.seqs.append(seq)
                user_series.times.append(ts)
            if kind is _ACCEPTED:
                self._accepted(event)  # type: ignore[arg-type]
            elif kind is ev.TradeCorrected:
                order = orders.get(event.order_id)  # type: ignore[attr-defined]
                if order is not None:
                    self._price(order.symbol).add(seq, ts, event.last_px, "execution")  # type: ignore[attr-defined]
            elif kind in CONTROL_EVENTS or (kind is ev.CommandRejected and event.command in CONTROL_COMMANDS):  # type: ignore[attr-defined]
                self.controls.add(seq, ts)
        self._last_ts = last_ts
        self.last_seq = events[-1].seq

    def _track_order_seqs(self, events: Sequence[ev.Event]) -> None:
        order_seqs = self.order_seqs
        assert order_seqs is not None
        for event in events:
            order_id = getattr(event, "order_id", None)
            if order_id is None:
                continue
            if type(event) is _ACCEPTED:
                order_seqs[order_id] = [event.seq]
                continue
            found = order_seqs.get(order_id)
            if found is not None:  # a refusal naming an unknown order belongs to no order
                found.append(event.seq)

    def _accepted(self, event: ev.OrderAccepted) -> None:
        accepted = self.accepted
        position = len(accepted.seqs)
        accepted.seqs.append(event.seq)
        accepted.times.append(event.ts)
        positions = self.by_account.get(event.account)
        if positions is None:
            positions = self.by_account[event.account] = array("q")
        positions.append(position)
        positions = self.by_trader.get(event.trader)
        if positions is None:
            positions = self.by_trader[event.trader] = array("q")
        positions.append(position)
        positions = self.by_symbol.get(event.symbol)
        if positions is None:
            positions = self.by_symbol[event.symbol] = array("q")
        positions.append(position)
        if self._own is not None:
            self._own[event.order_id] = _Instrument(event.symbol)
        price = event.reference_price
        if price is not None:
            series = self.prices.get(event.symbol)
            if series is None or price != series.last:
                self._price(event.symbol).add(event.seq, event.ts, price, "reference")

    def _price(self, symbol: str) -> PriceSeries:
        series = self.prices.get(symbol)
        if series is None:
            series = self.prices[symbol] = PriceSeries()
        return series

    # --- queries -----------------------------------------------------------------------------

    def order_acceptances(self, account: str | None = None, trader: str | None = None, symbol: str | None = None,
                          since: int | None = None, until: int | None = None) -> list[int]:
        """Seqs of the OrderAccepted events matching every filter given, accepted in [since, until)."""
        accepted = self.accepted
        chosen = []
        for table, key in ((self.by_account, account), (self.by_trader, trader), (self.by_symbol, symbol)):
            if key is not None:
                positions = table.get(key)
                if positions is None:
                    return []
                chosen.append(positions)
        if not chosen:
            return accepted.window(since, until, self.ordered)
        times = accepted.times
        low = -(2**63) if since is None else since
        high = 2**63 if until is None else until
        windows: list[list[int]] = []
        for positions in chosen:
            if self.ordered:
                start = bisect_left(positions, low, key=times.__getitem__)
                end = bisect_left(positions, high, key=times.__getitem__)
                windows.append(positions[start:end].tolist())
            else:
                windows.append([p for p in positions if low <= times[p] < high])
        windows.sort(key=len)
        others = [set(w) for w in windows[1:]]
        seqs = accepted.seqs
        return [seqs[p] for p in windows[0] if all(p in other for other in others)]

    def actions_of(self, user: str, since: int | None = None, until: int | None = None) -> list[int]:
        series = self.actions.get(user)
        return series.window(since, until, self.ordered) if series is not None else []

    def control_changes(self, since: int | None = None, until: int | None = None) -> list[int]:
        return self.controls.window(since, until, self.ordered)

    def price_at(self, symbol: str, seq: int) -> PriceSeen | None:
        """The last price the journal saw for ``symbol`` at or before ``seq``."""
        series = self.prices.get(symbol)
        if series is None:
            return None
        i = bisect_right(series.seqs, seq) - 1
        if i < 0:
            return None
        return PriceSeen(series.prices[i], series.seqs[i], series.times[i], series.sources[i])
