"""A pure limit order book for one instrument: the OMS's resting child orders against a quote.

No I/O, no clock, no randomness: every operation takes its inputs and returns the reports it
caused, in order, so a replay of the same calls gives the same reports.

Two kinds of liquidity meet here:

* **internal**: the OMS's own resting orders, held in price-time priority;
* **external**: the displayed depth of the latest ``Quote`` (the rest of the market). Each
  displayed level can be taken once per quote: what was taken is remembered until the next
  quote replaces the depth, so the same liquidity is never consumed twice.

An incoming order matches internal liquidity first (at the resting order's price, so any price
improvement goes to the incoming order), then the external depth (at the displayed prices).

Rules chosen for the simulation (documented here because they are choices, not standards):

* **Stops trigger on the last trade price** of the latest quote, as most futures exchanges do:
  a buy stop when ``last >= stop_price``, a sell stop when ``last <= stop_price``. A stop whose
  condition already holds on arrival triggers at once. STOP becomes MARKET, STOP_LIMIT becomes
  LIMIT (and, if it rests, takes time priority from its trigger, not its arrival).
* **Halted quote or closed session: no matching at all**, internal or external; limit orders and
  untriggered stops rest, market orders are rejected, IOC/FOK are acked and then canceled. Orders
  that rest crossed while matching was off are matched (uncrossed) on the next live quote.
* **A resting order that a new quote crosses fills at the quote's prices** (the resting order
  gets the improvement) and is reported as liquidity ADDED, since it was resting.
* ``expire`` removes the order and returns no report: the engine records expiries itself.
* ``quote=None`` in ``submit`` means "use the latest quote this book has seen"; with none ever
  seen, limit orders rest (and may still match internally) and market orders are rejected.
* Quantities: every live order's leaves quantity is a whole number of lots (quantities and
  restored fills are checked on the way in) and displayed sizes are rounded down to whole lots
  when a quote arrives, so no fill can be a fraction of a lot.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from decimal import Decimal
from heapq import heapify, heappop, heappush

import msgspec

from ...domain.ids import RouteId
from ...domain.instruments import Instrument
from ...domain.rejects import Reject, RejectCode
from ...domain.values import ZERO, Liquidity, OrdType, Side, TimeInForce
from ...service.ports import Quote, RouteRequest

# --- reports -----------------------------------------------------------------------------


class Ack(msgspec.Struct, frozen=True, gc=False):
    route_id: RouteId


class Fill(msgspec.Struct, frozen=True, gc=False):
    route_id: RouteId
    qty: Decimal
    price: Decimal
    liquidity: Liquidity
    counter_route_id: RouteId | None  # the other OMS route for an internal cross; None: the market
    leaves: Decimal  # what is still open on the route after this fill; 0 means it is done


class Canceled(msgspec.Struct, frozen=True, gc=False):
    route_id: RouteId
    reason: str  # "requested", "ioc remainder", "fok not filled", "no liquidity", ...


class Replaced(msgspec.Struct, frozen=True, gc=False):
    route_id: RouteId
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    leaves: Decimal  # 0 when the new quantity is at or below what has already filled: done


class Rejected(msgspec.Struct, frozen=True):
    route_id: RouteId
    reason: Reject


class CancelReject(msgspec.Struct, frozen=True):
    route_id: RouteId
    reason: Reject


class ReplaceReject(msgspec.Struct, frozen=True):
    route_id: RouteId
    reason: Reject


BookReport = Ack | Fill | Canceled | Replaced | Rejected | CancelReject | ReplaceReject

_LIMIT = OrdType.LIMIT
_MARKET = OrdType.MARKET
_STOP = OrdType.STOP
_STOP_LIMIT = OrdType.STOP_LIMIT
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_ADDED = Liquidity.ADDED
_REMOVED = Liquidity.REMOVED
_TRIGGERED = {_STOP: _MARKET, _STOP_LIMIT: _LIMIT}
# Sets rather than the OrdType properties: these are asked on every order.
_NEEDS_PRICE = frozenset(t for t in OrdType if t.needs_price)
_NEEDS_STOP = frozenset(t for t in OrdType if t.needs_stop_price)

# --- internal state ----------------------------------------------------------------------


class _Order:
    """One live route. ``seq`` is its place in time priority (-1: in no queue or heap)."""

    __slots__ = (
        "cum",
        "is_buy",
        "kind",
        "level",
        "ord_type",
        "price",
        "quantity",
        "route_id",
        "seq",
        "stop_price",
        "tif",
    )

    def __init__(self, route: RouteRequest) -> None:
        self.route_id = route.route_id
        self.is_buy = route.side is Side.BUY
        self.quantity = route.quantity
        self.cum = route.cum_qty
        self.ord_type = route.ord_type  # as submitted: decides which fields a replace may change
        self.kind = route.ord_type  # what it is now: a triggered stop becomes MARKET or LIMIT
        self.price = route.price if route.ord_type in _NEEDS_PRICE else None
        self.stop_price = route.stop_price if route.ord_type in _NEEDS_STOP else None
        self.tif = route.tif
        self.seq = -1
        self.level: _Level | None = None


class _Level:
    """A FIFO of orders at one price. Cancels only mark entries dead (O(1)); ``live`` counts the
    rest, and dead entries are dropped when they reach the head."""

    __slots__ = ("live", "price", "queue")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.queue: deque[tuple[int, _Order]] = deque()
        self.live = 0


class _Side:
    """Price levels of one side. Keys are ``price`` for bids and ``-price`` for asks, so the best
    level is always ``keys[-1]`` and taking it off is an O(1) ``pop``."""

    __slots__ = ("is_buy", "keys", "levels")

    def __init__(self, is_buy: bool) -> None:
        self.is_buy = is_buy
        self.levels: dict[Decimal, _Level] = {}
        self.keys: list[Decimal] = []

    def best(self) -> _Level | None:
        return self.levels[self.keys[-1]] if self.keys else None

    def level_for(self, price: Decimal) -> _Level:
        key = price if self.is_buy else -price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = _Level(price)
            insort(self.keys, key)
        return level

    def drop(self, level: _Level) -> None:
        key = level.price if self.is_buy else -level.price
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]


class _External:
    """One side of the latest quote's depth, with what is left of each level (whole lots)."""

    __slots__ = ("i", "left", "n", "prices")

    def __init__(self) -> None:
        self.prices: list[Decimal] = []
        self.left: list[Decimal] = []
        self.i = 0  # first level that may still have size
        self.n = 0

    def load(self, levels: tuple[tuple[Decimal, Decimal], ...], lot: Decimal) -> None:
        self.prices = [price for price, _ in levels]
        self.left = [size - size % lot if size > ZERO else ZERO for _, size in levels]
        self.i = 0
        self.n = len(levels)

    def clear(self) -> None:
        self.prices = []
        self.left = []
        self.i = self.n = 0


# --- the book ----------------------------------------------------------------------------


class OrderBook:
    """Resting OMS child orders for one instrument, matched against each other and the quote.

    Not thread-safe: one caller (the venue) drives it. ``remember_finished`` bounds how many
    finished route ids are kept to answer late cancels with TOO_LATE rather than UNKNOWN_ORDER.
    """

    def __init__(self, instrument: Instrument, remember_finished: int = 1_000_000) -> None:
        self.instrument = instrument
        self._lot = instrument.lot_size
        self._bids = _Side(True)
        self._asks = _Side(False)
        self._ext_bids = _External()
        self._ext_asks = _External()
        self._quote: Quote | None = None
        self._open = True
        self._live: dict[RouteId, _Order] = {}
        self._finished: set[RouteId] = set()
        self._finished_order: deque[RouteId] = deque()
        self._remember = remember_finished
        self._seq = 0
        # Untriggered stops: buys by (stop, seq) ascending, sells by (-stop, seq); lazy deletion.
        self._buy_stops: list[tuple[Decimal, int, _Order]] = []
        self._sell_stops: list[tuple[Decimal, int, _Order]] = []
        self._dead_stops = 0

    # -- queries ---------------------------------------------------------------------------

    @property
    def quote(self) -> Quote | None:
        return self._quote

    @property
    def is_open(self) -> bool:
        return self._open

    def is_live(self, route_id: RouteId) -> bool:
        return route_id in self._live

    def knows(self, route_id: RouteId) -> bool:
        """Live, or finished recently enough to be remembered."""
        return route_id in self._live or route_id in self._finished

    def leaves(self, route_id: RouteId) -> Decimal | None:
        order = self._live.get(route_id)
        return None if order is None else order.quantity - order.cum

    def depth(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Resting OMS quantity per price level, best first: (bids, asks). Untriggered stops are
        not on the book and are not shown."""
        return self._side_depth(self._bids), self._side_depth(self._asks)

    def queue(self, is_buy: bool, price: Decimal) -> list[RouteId]:
        """Route ids resting at ``price`` in time priority (for tests and inspection)."""
        side = self._bids if is_buy else self._asks
        level = side.levels.get(price if is_buy else -price)
        if level is None:
            return []
        return [order.route_id for seq, order in level.queue if order.seq == seq]

    def __len__(self) -> int:
        return len(self._live)

    # -- commands --------------------------------------------------------------------------

    def set_open(self, is_open: bool) -> None:
        """Closed: nothing matches until reopened. Reopening matches nothing by itself; crossed
        orders are matched on the next quote."""
        self._open = is_open

    def submit(self, route: RouteRequest, quote: Quote | None = None) -> list[BookReport]:
        out: list[BookReport] = []
        if quote is not None and quote is not self._quote and quote != self._quote:
            self._apply_quote(quote, out)
        route_id = route.route_id
        if route_id in self._live or route_id in self._finished:
            out.append(Rejected(route_id, Reject(
                RejectCode.VENUE_REJECT, f"duplicate route id {route_id}", {"route_id": route_id})))
            return out
        reason = self._check_new(route)
        if reason is None and route.ord_type is _MARKET:
            reason = self._market_unavailable()
        if reason is not None:
            self._finish(route_id)
            out.append(Rejected(route_id, reason))
            return out
        out.append(Ack(route_id))
        order = _Order(route)
        self._live[route_id] = order
        if order.stop_price is not None:
            self._arm_stop(order, out)
        else:
            self._execute(order, out)
        return out

    def cancel(self, route_id: RouteId) -> list[BookReport]:
        order = self._live.get(route_id)
        if order is None:
            return [CancelReject(route_id, self._not_live(route_id, "cancel"))]
        self._unlink(order)
        self._done(order)
        return [Canceled(route_id, "requested")]

    def replace(
        self, route_id: RouteId, quantity: Decimal, price: Decimal | None, stop_price: Decimal | None
    ) -> list[BookReport]:
        """Change a live order. ``quantity`` is the new total (filled included); ``price`` or
        ``stop_price`` None keeps the current value. A price change, a stop change or a quantity
        increase loses time priority; a quantity decrease keeps it."""
        order = self._live.get(route_id)
        if order is None:
            return [ReplaceReject(route_id, self._not_live(route_id, "replace"))]
        instrument = self.instrument
        reason = instrument.check_quantity(quantity)
        new_price = order.price
        if reason is None and order.ord_type.needs_price and price is not None:
            reason = instrument.check_price(price)
            new_price = price
        new_stop = order.stop_price
        # A triggered stop has no stop left to move; a new stop price is accepted and ignored.
        still_stop = order.kind is _STOP or order.kind is _STOP_LIMIT
        if reason is None and still_stop and stop_price is not None:
            reason = instrument.check_price(stop_price, "stop_price")
            new_stop = stop_price
        if reason is not None:
            return [ReplaceReject(route_id, reason)]

        out: list[BookReport] = []
        if quantity <= order.cum:
            self._unlink(order)
            self._done(order)
            out.append(Replaced(route_id, quantity, new_price, new_stop, ZERO))
            return out
        loses_priority = new_price != order.price or new_stop != order.stop_price or quantity > order.quantity
        order.quantity = quantity
        order.price = new_price
        order.stop_price = new_stop
        out.append(Replaced(route_id, quantity, new_price, new_stop, quantity - order.cum))
        if loses_priority:
            self._unlink(order)
            if still_stop:
                self._arm_stop(order, out)
            else:
                self._execute(order, out)  # the new price may cross: match, then rest again
        return out

    def expire(self, route_id: RouteId) -> list[BookReport]:
        """Remove a live order without a report (the engine records the expiry itself)."""
        order = self._live.get(route_id)
        if order is not None:
            self._unlink(order)
            self._done(order)
        return []

    def restore(self, route: RouteRequest) -> list[BookReport]:
        """Put back an order that was resting before a restart, with its ``cum_qty``, without an
        ack and without matching (crosses are matched on the next quote). Orders that could not
        have been resting (market, IOC, FOK) are canceled; done or duplicate routes are ignored.
        A restored stop is untriggered: it triggers again if the market is still through it."""
        route_id = route.route_id
        if route_id in self._live or route.cum_qty >= route.quantity:
            return []
        reason = self._check_new(route)
        if reason is not None:
            self._finish(route_id)
            return [Canceled(route_id, f"not restorable: {reason.message}")]
        # Market and IOC/FOK limit orders never rest, so one "resting" at a restart is stale.
        if route.ord_type is _MARKET or (route.tif.is_immediate and not route.ord_type.needs_stop_price):
            self._finish(route_id)
            return [Canceled(route_id, "not restorable after restart")]
        order = _Order(route)
        self._live[route_id] = order
        if order.stop_price is not None:
            self._push_stop(order)
        else:
            self._rest(order)
        return []

    def on_quote(self, quote: Quote) -> list[BookReport]:
        """New external liquidity: uncross, fill resting orders that the quote crosses, and fire
        stops. Only crossing levels are visited."""
        out: list[BookReport] = []
        self._apply_quote(quote, out)
        return out

    # -- checks ----------------------------------------------------------------------------

    def _check_new(self, route: RouteRequest) -> Reject | None:
        instrument = self.instrument
        reason = instrument.check_quantity(route.quantity)
        if reason is not None:
            return reason
        cum = route.cum_qty
        if cum:
            if cum < ZERO or cum % self._lot:
                return Reject(RejectCode.INVALID_QUANTITY, f"cum_qty {cum} is not a whole number of lots",
                              {"cum_qty": str(cum), "lot_size": str(self._lot)})
            if cum >= route.quantity:
                return Reject(RejectCode.INVALID_QUANTITY, f"cum_qty {cum} leaves nothing to trade",
                              {"cum_qty": str(cum), "quantity": str(route.quantity)})
        ord_type = route.ord_type
        if ord_type in _NEEDS_PRICE:
            if route.price is None:
                return Reject(RejectCode.INVALID_PRICE, f"a {ord_type.value} order needs a price")
            reason = instrument.check_price(route.price)
            if reason is not None:
                return reason
        if ord_type in _NEEDS_STOP:
            if route.stop_price is None:
                return Reject(RejectCode.INVALID_PRICE, f"a {ord_type.value} order needs a stop price")
            return instrument.check_price(route.stop_price, "stop_price")
        return None

    def _market_unavailable(self) -> Reject | None:
        """Why a market order cannot trade now, or None when it can."""
        quote = self._quote
        if not self._open:
            return Reject(RejectCode.VENUE_REJECT, "session closed", {"symbol": self.instrument.symbol})
        if quote is None:
            return Reject(RejectCode.VENUE_REJECT, "no market data", {"symbol": self.instrument.symbol})
        if quote.halted:
            return Reject(RejectCode.VENUE_REJECT, "halted", {"symbol": self.instrument.symbol})
        return None

    def _not_live(self, route_id: RouteId, what: str) -> Reject:
        if route_id in self._finished:
            return Reject(RejectCode.TOO_LATE, f"too late to {what}: route {route_id} is done",
                          {"route_id": route_id})
        return Reject(RejectCode.UNKNOWN_ORDER, f"unknown route {route_id}", {"route_id": route_id})

    # -- bookkeeping -----------------------------------------------------------------------

    def _finish(self, route_id: RouteId) -> None:
        # Bounded memory: a deque remembers the order so the oldest id can be forgotten in O(1).
        self._finished.add(route_id)
        self._finished_order.append(route_id)
        if len(self._finished_order) > self._remember:
            self._finished.discard(self._finished_order.popleft())

    def _done(self, order: _Order) -> None:
        del self._live[order.route_id]
        self._finish(order.route_id)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _rest(self, order: _Order) -> None:
        assert order.price is not None  # only limit orders rest on the book
        level = (self._bids if order.is_buy else self._asks).level_for(order.price)
        seq = order.seq = self._next_seq()
        level.queue.append((seq, order))
        level.live += 1
        order.level = level

    def _push_stop(self, order: _Order) -> None:
        assert order.stop_price is not None
        seq = order.seq = self._next_seq()
        if order.is_buy:
            heappush(self._buy_stops, (order.stop_price, seq, order))
        else:
            heappush(self._sell_stops, (-order.stop_price, seq, order))

    def _unlink(self, order: _Order) -> None:
        """Take an order out of its level or stop heap (it stays in ``_live``)."""
        level = order.level
        if level is not None:
            order.level = None
            order.seq = -1
            level.live -= 1
            if level.live == 0:
                (self._bids if order.is_buy else self._asks).drop(level)
        elif order.seq >= 0:  # an untriggered stop: its heap entry is now dead
            order.seq = -1
            self._dead_stops += 1
            if self._dead_stops > 64 and self._dead_stops * 2 > len(self._buy_stops) + len(self._sell_stops):
                self._compact_stops()

    def _compact_stops(self) -> None:
        self._buy_stops = [entry for entry in self._buy_stops if entry[2].seq == entry[1]]
        self._sell_stops = [entry for entry in self._sell_stops if entry[2].seq == entry[1]]
        heapify(self._buy_stops)
        heapify(self._sell_stops)
        self._dead_stops = 0

    def _remove_head(self, side: _Side, level: _Level, order: _Order) -> None:
        """A fully filled order at the head of its level leaves the book."""
        level.queue.popleft()
        order.seq = -1
        order.level = None
        level.live -= 1
        if level.live == 0:
            side.drop(level)
        self._done(order)

    @staticmethod
    def _head(level: _Level) -> _Order:
        queue = level.queue
        while True:
            seq, order = queue[0]
            if order.seq == seq:
                return order
            queue.popleft()

    def _side_depth(self, side: _Side) -> list[tuple[Decimal, Decimal]]:
        out: list[tuple[Decimal, Decimal]] = []
        for key in reversed(side.keys):
            level = side.levels[key]
            total = sum((o.quantity - o.cum for seq, o in level.queue if o.seq == seq), ZERO)
            out.append((level.price, total))
        return out

    # -- matching --------------------------------------------------------------------------

    def _matching(self) -> bool:
        quote = self._quote
        return self._open and (quote is None or not quote.halted)

    def _arm_stop(self, order: _Order, out: list[BookReport]) -> None:
        """Trigger a stop now if the market is already through it, else park it."""
        quote = self._quote
        stop = order.stop_price
        assert stop is not None
        if (quote is not None and self._open and not quote.halted and quote.last > ZERO
                and (quote.last >= stop if order.is_buy else quote.last <= stop)):
            order.kind = _TRIGGERED[order.kind]
            self._execute(order, out)
        else:
            self._push_stop(order)

    def _execute(self, order: _Order, out: list[BookReport]) -> None:
        """An order that is in ``_live`` but on no queue: match what it can, then rest or cancel."""
        if order.tif is _FOK and not (self._matching() and self._can_fill(order)):
            self._done(order)
            out.append(Canceled(order.route_id, "fok not filled"))
            return
        if self._matching():
            if (self._asks if order.is_buy else self._bids).keys:
                self._take_internal(order, out)
            if order.cum < order.quantity:
                self._take_external(order, self._ext_asks if order.is_buy else self._ext_bids, _REMOVED, out)
        if order.cum >= order.quantity:
            self._done(order)
        elif order.tif is _IOC:
            self._done(order)
            out.append(Canceled(order.route_id, "ioc remainder"))
        elif order.kind is _MARKET:
            self._done(order)
            out.append(Canceled(order.route_id, "no liquidity"))
        else:
            self._rest(order)

    def _take_internal(self, order: _Order, out: list[BookReport]) -> None:
        """Match against resting OMS orders, best price first, FIFO within a price, at the
        resting price. Leaves are whole lots on both sides, so ``min`` is whole lots too."""
        opposite = self._asks if order.is_buy else self._bids
        keys = opposite.keys
        levels = opposite.levels
        limit = order.price if order.kind is _LIMIT else None
        is_buy = order.is_buy
        remaining = order.quantity - order.cum
        while remaining and keys:
            level = levels[keys[-1]]
            if limit is not None and (level.price > limit if is_buy else level.price < limit):
                break
            queue = level.queue
            while remaining and queue:
                seq, resting = queue[0]
                if resting.seq != seq:
                    queue.popleft()
                    continue
                resting_leaves = resting.quantity - resting.cum
                take = remaining if remaining < resting_leaves else resting_leaves
                price = resting.price
                assert price is not None
                remaining -= take
                resting_leaves -= take
                order.cum += take
                resting.cum += take
                out.append(Fill(order.route_id, take, price, _REMOVED, resting.route_id, remaining))
                out.append(Fill(resting.route_id, take, price, _ADDED, order.route_id, resting_leaves))
                if not resting_leaves:
                    self._remove_head(opposite, level, resting)
                    if not level.live:
                        break  # the level was dropped

    @staticmethod
    def _take_external(order: _Order, ext: _External, liquidity: Liquidity, out: list[BookReport]) -> None:
        """Take displayed depth up to the order's limit, remembering what was taken."""
        i = ext.i
        n = ext.n
        if i >= n:
            return
        prices = ext.prices
        left = ext.left
        limit = order.price if order.kind is _LIMIT else None
        is_buy = order.is_buy
        remaining = order.quantity - order.cum
        route_id = order.route_id
        while i < n and remaining:
            price = prices[i]
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            available = left[i]
            if remaining < available:
                take = remaining
                left[i] = available - take
            else:
                take = available
                left[i] = ZERO
                i += 1
            if take:
                remaining -= take
                order.cum += take
                out.append(Fill(route_id, take, price, liquidity, None, remaining))
        ext.i = i

    def _can_fill(self, order: _Order) -> bool:
        """FOK: is there enough crossing liquidity, internal plus external, for all the leaves?"""
        need = order.quantity - order.cum
        total = ZERO
        is_buy = order.is_buy
        limit = order.price if order.kind is _LIMIT else None
        opposite = self._asks if is_buy else self._bids
        for key in reversed(opposite.keys):
            level = opposite.levels[key]
            if limit is not None and (level.price > limit if is_buy else level.price < limit):
                break
            for seq, resting in level.queue:
                if resting.seq == seq:
                    total += resting.quantity - resting.cum
                    if total >= need:
                        return True
        ext = self._ext_asks if is_buy else self._ext_bids
        for j in range(ext.i, ext.n):
            price = ext.prices[j]
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            total += ext.left[j]
            if total >= need:
                return True
        return False

    def _apply_quote(self, quote: Quote, out: list[BookReport]) -> None:
        if quote.symbol != self.instrument.symbol:
            # Another instrument's depth would be matched as if it were ours: a wiring bug.
            raise ValueError(f"quote for {quote.symbol} given to the {self.instrument.symbol} book")
        self._quote = quote
        lot = self._lot
        if quote.halted:
            self._ext_bids.clear()
            self._ext_asks.clear()
            return
        bids = quote.bids or (((quote.bid, quote.bid_size),) if quote.bid_size > ZERO else ())
        asks = quote.asks or (((quote.ask, quote.ask_size),) if quote.ask_size > ZERO else ())
        self._ext_bids.load(bids, lot)
        self._ext_asks.load(asks, lot)
        if not self._open:
            return
        self._uncross(out)
        self._sweep(self._bids, self._ext_asks, out)
        self._sweep(self._asks, self._ext_bids, out)
        if self._buy_stops or self._sell_stops:
            self._trigger_stops(quote.last, out)

    def _uncross(self, out: list[BookReport]) -> None:
        """Match OMS orders that rest crossed (left from a halt, a closed session or a restore):
        the older order is the maker and sets the price."""
        bids = self._bids
        asks = self._asks
        while bids.keys and asks.keys:
            bid_level = bids.levels[bids.keys[-1]]
            ask_level = asks.levels[asks.keys[-1]]
            if bid_level.price < ask_level.price:
                return
            buy = self._head(bid_level)
            sell = self._head(ask_level)
            maker, taker = (buy, sell) if buy.seq < sell.seq else (sell, buy)
            take = min(buy.quantity - buy.cum, sell.quantity - sell.cum)
            price = maker.price
            assert price is not None
            maker.cum += take
            taker.cum += take
            out.append(Fill(taker.route_id, take, price, _REMOVED, maker.route_id, taker.quantity - taker.cum))
            out.append(Fill(maker.route_id, take, price, _ADDED, taker.route_id, maker.quantity - maker.cum))
            if buy.cum >= buy.quantity:
                self._remove_head(bids, bid_level, buy)
            if sell.cum >= sell.quantity:
                self._remove_head(asks, ask_level, sell)

    def _sweep(self, side: _Side, ext: _External, out: list[BookReport]) -> None:
        """Resting orders on ``side`` that the new quote's opposite depth crosses, best first."""
        is_buy = side.is_buy
        while side.keys and ext.i < ext.n:
            level = side.levels[side.keys[-1]]
            price = ext.prices[ext.i]
            if level.price < price if is_buy else level.price > price:
                return
            order = self._head(level)
            self._take_external(order, ext, _ADDED, out)
            if order.cum < order.quantity:
                return  # nothing left within its limit, so nothing for worse-priced orders either
            self._remove_head(side, level, order)

    def _trigger_stops(self, last: Decimal, out: list[BookReport]) -> None:
        if last <= ZERO:
            return  # no trade yet: nothing to trigger on
        fired: list[_Order] = []
        for heap, threshold in ((self._buy_stops, last), (self._sell_stops, -last)):
            while heap:
                key, seq, order = heap[0]
                if order.seq != seq:
                    heappop(heap)
                    self._dead_stops -= 1
                    continue
                if key > threshold:
                    break
                heappop(heap)
                fired.append(order)
        if not fired:
            return
        fired.sort(key=lambda o: o.seq)  # triggered together: arrival order decides who goes first
        for order in fired:
            order.seq = -1
            order.kind = _TRIGGERED[order.kind]
            self._execute(order, out)
