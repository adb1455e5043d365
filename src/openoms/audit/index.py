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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain import events as ev
from ..domain.ids import OrderId, Symbol

# Events that change or try to change what risk lets through: compliance asks for all of them.
CONTROL_EVENTS = frozenset({ev.LimitsChanged, ev.RestrictedListChanged, ev.KillSwitchEngaged, ev.KillSwitchReleased})
CONTROL_COMMANDS = frozenset({"SetLimits", "SetRestricted", "EngageKillSwitch", "ReleaseKillSwitch"})
# Actions are what people and systems asked for; venue reports are the venue's, not a user's.
VENUE_SOURCE = "venue"


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

    def add(self, seq: int, ts: int, price: Decimal, source: str) -> None:
        if self.prices and self.prices[-1] == price:
            return
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


class AuditIndex:
    """Seq indexes for compliance queries. ``symbol_of`` gives an order's instrument (the engine
    knows it); without one the index remembers it itself. ``keep_order_seqs`` also keeps each
    order's seqs, for readers that have no engine (the engine's ``Order.seqs`` holds them)."""

    def __init__(self, symbol_of: Callable[[OrderId], Symbol | None] | None = None, keep_order_seqs: bool = False) -> None:
        self.last_seq = 0
        self.orders: dict[tuple[str, str], Series] = {}  # ("account" | "trader" | "symbol" | "all", value): acceptances
        self.actions: dict[str, Series] = {}  # user -> every event they caused
        self.controls = Series()
        self.prices: dict[str, PriceSeries] = {}
        self.order_seqs: dict[OrderId, list[int]] | None = {} if keep_order_seqs else None
        self.ordered = True  # every event's time >= the one before it (see Series.window)
        self._last_ts = 0
        self._symbols: dict[OrderId, Symbol] | None = None if symbol_of is not None else {}
        self._symbol_of = symbol_of or self._symbols.get  # type: ignore[union-attr]

    # --- feeding (journal order) -------------------------------------------------------------

    def observe(self, event: ev.Event) -> None:
        self.observe_all((event,))

    def observe_all(self, events: Iterable[ev.Event]) -> None:
        actions = self.actions
        order_seqs = self.order_seqs
        last_ts = self._last_ts
        for event in events:
            kind = type(event)
            seq = event.seq
            ts = event.ts
            if ts < last_ts:
                self.ordered = False
            last_ts = ts
            actor = event.actor
            if actor.source != VENUE_SOURCE:
                series = actions.get(actor.user)
                if series is None:
                    series = actions[actor.user] = Series()
                series.seqs.append(seq)
                series.times.append(ts)
            if kind is ev.OrderAccepted:
                self._accepted(event)  # type: ignore[arg-type]
            elif kind is ev.OrderFilled or kind is ev.TradeCorrected:
                symbol = self._symbol_of(event.order_id)  # type: ignore[attr-defined]
                if symbol is not None:
                    self._price(symbol).add(seq, ts, event.last_px, "execution")  # type: ignore[attr-defined]
            elif kind in CONTROL_EVENTS or (kind is ev.CommandRejected and event.command in CONTROL_COMMANDS):  # type: ignore[attr-defined]
                self.controls.add(seq, ts)
            if order_seqs is not None and kind is not ev.OrderAccepted:
                order_id = getattr(event, "order_id", None)
                if order_id is not None:
                    found = order_seqs.get(order_id)
                    if found is not None:  # a refusal naming an unknown order belongs to no order
                        found.append(seq)
            self.last_seq = seq
        self._last_ts = last_ts

    def _accepted(self, event: ev.OrderAccepted) -> None:
        orders = self.orders
        seq, ts = event.seq, event.ts
        for key in (("all", ""), ("account", event.account), ("trader", event.trader), ("symbol", event.symbol)):
            series = orders.get(key)
            if series is None:
                series = orders[key] = Series()
            series.seqs.append(seq)
            series.times.append(ts)
        if self._symbols is not None:
            self._symbols[event.order_id] = event.symbol
        if self.order_seqs is not None:
            self.order_seqs[event.order_id] = [seq]
        if event.reference_price is not None:
            self._price(event.symbol).add(seq, ts, event.reference_price, "reference")

    def _price(self, symbol: str) -> PriceSeries:
        series = self.prices.get(symbol)
        if series is None:
            series = self.prices[symbol] = PriceSeries()
        return series

    # --- queries -----------------------------------------------------------------------------

    def order_acceptances(self, account: str | None = None, trader: str | None = None, symbol: str | None = None,
                          since: int | None = None, until: int | None = None) -> list[int]:
        """Seqs of the OrderAccepted events matching every filter given, accepted in [since, until)."""
        wanted = [(name, value) for name, value in (("account", account), ("trader", trader), ("symbol", symbol))
                  if value is not None] or [("all", "")]
        windows = []
        for key in wanted:
            series = self.orders.get(key)
            if series is None:
                return []
            windows.append(series.window(since, until, self.ordered))
        windows.sort(key=len)
        if len(windows) == 1:
            return windows[0]
        others = [set(w) for w in windows[1:]]
        return [seq for seq in windows[0] if all(seq in other for other in others)]

    def actions_of(self, user: str, since: int | None = None, until: int | None = None) -> list[int]:
        series = self.actions.get(user)
        return series.window(since, until, self.ordered) if series is not None else []

    def control_changes(self, since: int | None = None, until: int | None = None) -> list[int]:
        return self.controls.window(since, until, self.ordered)

    def users(self) -> list[str]:
        return sorted(self.actions)

    def price_at(self, symbol: str, seq: int) -> PriceSeen | None:
        """The last price the journal saw for ``symbol`` at or before ``seq``."""
        series = self.prices.get(symbol)
        if series is None:
            return None
        i = bisect_right(series.seqs, seq) - 1
        if i < 0:
            return None
        return PriceSeen(series.prices[i], series.seqs[i], series.times[i], series.sources[i])
