"""The live stream's source: order, execution, position and risk updates, numbered, filtered per
subscriber, kept in a ring buffer so a client that reconnects resumes where it stopped.

Fed by ``runtime.subscribers``: called on the event loop after each durable batch, so nothing
it sends is ahead of the journal. Each update gets the next stream number ``seq`` (dense across
the whole server). A subscriber gets only the updates of accounts it may see, each carrying
``prev``, the number of the previous update sent to it: a client whose ``prev`` differs from
the last ``seq`` it holds has missed something and resumes from that ``seq``. Numbers restart
with the process; ``epoch`` tells a client the numbering it holds belongs to another run (then
it gets a snapshot, as it does when it asks for numbers the buffer no longer holds).

Positions are folded here from durable fills (the engine's own may be a batch or two ahead,
while the journal writer catches up), with the domain's ``Position``: the same arithmetic.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.algos import AlgoParent, AlgoStatus
from ..domain.engine import OrderEngine
from ..domain.ids import AccountId, OrderId, Symbol
from ..domain.order import Execution, Order
from ..domain.positions import Position
from ..marketdata.store import MarketDataStore
from ..staging.desk import OPEN as STAGED_OPEN
from ..staging.desk import StagingDesk
from ..staging.events import STAGING_EVENTS
from .runtime import EngineRuntime
from .views import algo_view, iso, order_view, position_view, staged_view

ALGO_EVENTS = (ev.AlgoStarted, ev.AlgoSliced, ev.AlgoPaused, ev.AlgoResumed, ev.AlgoModified, ev.AlgoEnded)
RISK_EVENTS = (ev.KillSwitchEngaged, ev.KillSwitchReleased, ev.LimitsChanged, ev.RestrictedListChanged,
               ev.LimitsOverridden, ev.OverrideEnded)
_encode = msgspec.json.Encoder(decimal_format="string").encode


def execution_view(order: Order, execution: Execution) -> dict[str, Any]:
    return {"exec_id": execution.exec_id, "order_id": order.order_id, "route_id": execution.route_id,
            "account": order.account, "symbol": order.symbol, "side": order.side.value,
            "quantity": str(execution.quantity), "price": str(execution.price), "liquidity": execution.liquidity.value,
            "busted": execution.busted, "time": iso(execution.ts)}


class StreamUnavailable(Exception):
    """The hub cannot serve a subscriber now (still catching up, or its feed stopped): the reason."""


# What a lazily rendered update is about (``Update.kind``), so its message can be made later from ``ref``.
ORDER, EXECUTION, POSITION, ALGO, STAGED, REJECTION, RISK = range(1, 8)
SUBJECTS = frozenset((ORDER, POSITION, ALGO, STAGED))  # kinds whose message shows a thing's whole state


@dataclass(slots=True)
class Update:
    seq: int
    account: str | None  # None: for everyone (risk controls), or for ``user`` alone
    user: str | None
    # The JSON object's members after its opening brace, encoded once for every subscriber. A lazy
    # hub (``StreamHub``) leaves it "" until a subscriber sees the update (or a resume asks for
    # it): most updates of a busy OMS are never watched, and rendering them was a tenth of the CPU
    # of each FIX order.
    body: str
    kind: int = 0
    ref: Any = None  # the order, (order, execution), position, algo, staged order or event


@dataclass(eq=False, slots=True)
class Subscription:
    user: str
    visible: frozenset[str] | None  # None: every account
    max_pending: int
    last_seq: int = 0  # the last stream number this subscriber was sent (or given as its base)
    # (seq, prev, body) per numbered update, (0, 0, text) per unnumbered frame: the text is put
    # together when sent, by the socket's own task, not while the engine's batch is published.
    pending: deque[tuple[int, int, str]] = field(default_factory=deque)
    delivered_seq: int = 0  # the last numbered update written to the socket
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed: bool = False  # the client went away (its socket's reader sets it, and wakes the writer)

    def sees(self, update: Update) -> bool:
        if update.account is not None:
            return self.visible is None or update.account in self.visible
        return update.user is None or update.user == self.user or self.visible is None

    def push(self, update: Update) -> None:
        if len(self.pending) >= self.max_pending:
            # A consumer this far behind is cut off, told where to resume (the buffer still holds it).
            self.overflowed = True
            self.wake.set()
            return
        self.pending.append((update.seq, self.last_seq, update.body))
        self.last_seq = update.seq
        self.wake.set()

    def push_raw(self, frame: str) -> None:
        """An unnumbered message (quotes, marks): dropped rather than queued for a slow consumer."""
        if len(self.pending) < self.max_pending // 2:
            self.pending.append((0, 0, frame))
            self.wake.set()


class UpdateHub:
    """The numbering, ring buffer and subscribers of a stream, whatever feeds it: ``StreamHub``
    below (one engine), or a cluster gateway's (cluster/stream_feed.py: every shard's events)."""

    def __init__(self, buffer_size: int = 100_000, max_pending: int = 20_000) -> None:
        self.epoch = secrets.token_hex(6)
        self.seq = 0
        self.buffer: deque[Update] = deque(maxlen=buffer_size)
        self.max_pending = max_pending
        self.subscriptions: set[Subscription] = set()
        self.published = 0  # updates made (for the benchmark and metrics)
        self.on_first_subscriber: Callable[[], None] | None = None

    def _publish(self, account: str | None, user: str | None, message: dict[str, Any]) -> None:
        """An update rendered at once (a hub whose updates are messages already)."""
        self._append(Update(self.seq + 1, account, user, _encode(message)[1:].decode()))

    def _publish_lazy(self, account: str | None, user: str | None, kind: int, ref: Any) -> None:
        """An update rendered (``_render``) only if a subscriber sees it or a resume asks for it
        (the state is the one the update announces, durable: callers publish only what the
        journal holds)."""
        self._append(Update(self.seq + 1, account, user, "", kind, ref))

    def _append(self, update: Update) -> None:
        self.seq = update.seq
        self.buffer.append(update)
        self.published += 1
        for subscription in self.subscriptions:
            if subscription.sees(update):
                if not update.body:
                    self._render(update)
                subscription.push(update)

    def _render(self, update: Update) -> None:
        raise NotImplementedError  # only hubs that publish lazily

    def _late(self, updates: list[Update]) -> list[Update]:
        """A resume's buffered updates, as they go out (a lazy hub renders and thins them)."""
        return updates

    # --- subscribing ---------------------------------------------------------------------------

    def subscribe(self, user: str, visible: frozenset[str] | None, resume: tuple[str, int] | None,
                  snapshot_orders: int = 2000) -> tuple[Subscription, dict[str, Any]]:
        """Register a subscriber and give its first message: ``resumed`` (the buffered updates
        after its seq are queued behind it) or a ``snapshot`` as of the current stream number."""
        subscription = Subscription(user, visible, self.max_pending)
        if resume is not None:
            epoch, after = resume
            oldest = self.buffer[0].seq if self.buffer else self.seq + 1
            if epoch == self.epoch and oldest - 1 <= after <= self.seq:
                subscription.last_seq = subscription.delivered_seq = after
                first = {"type": "resumed", "epoch": self.epoch, "seq": after}
                missed = [update for update in self.buffer if update.seq > after and subscription.sees(update)]
                for update in self._late(missed):
                    subscription.push(update)
                self._add(subscription)
                return subscription, first
        subscription.last_seq = subscription.delivered_seq = self.seq
        self._add(subscription)
        return subscription, self.snapshot(subscription, snapshot_orders)

    def _add(self, subscription: Subscription) -> None:
        first = not self.subscriptions
        self.subscriptions.add(subscription)
        if first and self.on_first_subscriber is not None:
            self.on_first_subscriber()

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def snapshot(self, subscription: Subscription, max_orders: int) -> dict[str, Any]:
        raise NotImplementedError

    async def ready(self) -> None:
        """Awaited before a subscriber is registered: a hub still catching up makes it wait here."""

    async def wait_shown(self, seq: int) -> None:
        """Awaited before a snapshot goes out, with its ``shown_seq``: until that much is durable."""

    # Unnumbered frames: a hub without market data or limit usage sends none.

    def market_frames(self, sent: dict[str, int]) -> str | None:
        return None

    def usage_frames(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    @staticmethod
    def usage_frame(subscription: Subscription, usage: list[tuple[str, dict[str, Any]]]) -> str | None:
        rows = [row for account, row in usage if subscription.visible is None or account in subscription.visible]
        return _encode({"type": "usage", "accounts": rows}).decode() if rows else None

    def marks_frame(self, subscription: Subscription) -> str | None:
        return None


class StreamHub(UpdateHub):
    def __init__(self, engine: OrderEngine, runtime: EngineRuntime, reference: ReferenceData, quotes: MarketDataStore,
                 buffer_size: int = 100_000, max_pending: int = 20_000) -> None:
        super().__init__(buffer_size, max_pending)
        self.engine = engine
        self.runtime = runtime
        self.reference = reference
        self.quotes = quotes
        self.positions: dict[tuple[AccountId, Symbol], Position] = {}
        self.staging: StagingDesk | None = None  # staged orders, when the OMS has the staging desk
        # Limit usage per account, sent unnumbered at most once a second for the accounts whose
        # orders, fills or limits changed (``usage_of``: the same view GET /api/v1/risk/usage gives).
        self.usage_of: Callable[[str], dict[str, Any]] | None = None
        self.usage_dirty: set[str] = set()
        self.usage_all_dirty = False

    # --- feeding -------------------------------------------------------------------------------

    def attach(self, replayed: bool) -> None:
        """Subscribe to durable batches. Before replay the position fold follows the replay; after
        it (``replayed``), it starts from the engine's positions, then identical to the journal."""
        if replayed:
            for key, position in self.engine.positions.items():
                self.positions[key] = replace(position, history=list(position.history))
        else:
            self.runtime.replay_observers.append(self._replayed)
        self.runtime.subscribers.append(self.on_batch)

    def _position(self, order: Order) -> Position:
        key = (order.account, order.symbol)
        position = self.positions.get(key)
        if position is None:
            position = self.positions[key] = Position(order.account, order.symbol)
        return position

    def _replayed(self, events: Sequence[ev.Event]) -> None:
        self._fold_positions(events)

    def _fold_positions(self, events: Sequence[ev.Event]) -> list[tuple[AccountId, Symbol]]:
        touched = []
        orders = self.engine.orders
        for event in events:
            kind = type(event)
            if kind is ev.OrderFilled:
                order = orders[event.order_id]  # type: ignore[attr-defined]
                self._position(order).apply_fill(event.exec_id, event.last_qty * order.sign, event.last_px,  # type: ignore[attr-defined]
                                                 self.reference.instruments[order.symbol])
            elif kind is ev.TradeBusted or kind is ev.TradeCorrected:
                order = orders[event.order_id]  # type: ignore[attr-defined]
                fill = (event.last_qty * order.sign, event.last_px) if isinstance(event, ev.TradeCorrected) else None
                self._position(order).amend_fill(event.exec_id, fill, self.reference.instruments[order.symbol])  # type: ignore[attr-defined]
            else:
                continue
            touched.append((order.account, order.symbol))
        return touched

    def on_batch(self, events: Sequence[ev.Event]) -> None:
        touched_positions = self._fold_positions(events)
        orders = self.engine.orders
        committed = self.runtime.committed_seq
        touched_orders: dict[OrderId, None] = {}
        touched_algos: dict[str, None] = {}
        touched_staged: dict[str, None] = {}
        staging = self.staging
        for event in events:
            kind = type(event)
            order_id = getattr(event, "order_id", None)
            if kind is ev.CommandRejected:
                self._rejection(event)  # type: ignore[arg-type]
            elif kind in RISK_EVENTS:
                self._publish_lazy(None, None, RISK, event)
                self.usage_all_dirty = True  # a limit, override or kill switch: every account's figures may move
            elif kind in ALGO_EVENTS:
                touched_algos[event.algo_id] = None  # type: ignore[attr-defined]
            elif kind in STAGING_EVENTS:
                touched_staged[event.staged_id] = None  # type: ignore[attr-defined]
            elif kind is ev.OrderAccepted and staging is not None and event.cl_ord_id in staging.orders:  # type: ignore[attr-defined]
                touched_staged[event.cl_ord_id] = None  # type: ignore[attr-defined]  # a release
            if order_id is not None and order_id in orders:
                touched_orders[order_id] = None
                self.usage_dirty.add(orders[order_id].account)
                if kind is ev.OrderFilled or kind is ev.TradeBusted or kind is ev.TradeCorrected:
                    order = orders[order_id]
                    execution = order.executions.get(event.exec_id)  # type: ignore[attr-defined]
                    if execution is not None:
                        self._publish_lazy(order.account, None, EXECUTION, (order, execution))
        for order_id in touched_orders:
            order = orders[order_id]
            # An order changed again in a batch still being written is sent when that batch is durable.
            if order.last_seq <= committed:
                self._publish_lazy(order.account, None, ORDER, order)
                if order.parent_id:  # a child's fill or end moves its parent's filled and working
                    touched_algos[order.parent_id] = None
        algos = self.engine.algos
        for algo_id in touched_algos:
            algo = algos.get(algo_id)
            # As for orders: a parent changed again in a batch still being written waits for it.
            if algo is not None and algo.seqs[-1] <= committed:
                self._publish_lazy(algo.account, None, ALGO, algo)
        for staged_id in touched_staged:
            staged = staging.orders.get(staged_id) if staging is not None else None
            if staged is not None and staged.last_seq <= committed:
                self._publish_lazy(staged.staged.account, None, STAGED, staged)
        for key in dict.fromkeys(touched_positions):
            self._publish_lazy(key[0], None, POSITION, self.positions[key])

    def _rejection(self, event: ev.CommandRejected) -> None:
        self._publish_lazy(event.account, event.actor.user, REJECTION, event)

    def _message(self, kind: int, ref: Any) -> dict[str, Any]:
        if kind == ORDER:
            return {"type": "order", "order": order_view(ref)}
        if kind == EXECUTION:
            return {"type": "execution", "execution": execution_view(*ref)}
        if kind == POSITION:
            return {"type": "position", "position": self.position_view(ref)}
        if kind == ALGO:
            return {"type": "algo", "algo": algo_view(self.engine, ref)}
        if kind == STAGED:
            return {"type": "staged", "staged": staged_view(ref)}
        if kind == RISK:
            return {"type": "risk", "event": msgspec.to_builtins(ref, str_keys=True)}
        event: ev.CommandRejected = ref
        return {"type": "rejection", "command": event.command, "order_id": event.order_id, "cl_ord_id": event.cl_ord_id,
                "account": event.account, "user": event.actor.user, "code": event.reason.code.value,
                "message": event.reason.message, "time": iso(event.ts)}

    def _render(self, update: Update) -> None:
        update.body = _encode(self._message(update.kind, update.ref))[1:].decode()

    def position_view(self, position: Position) -> dict[str, Any]:
        quote = self.quotes.get(position.symbol)
        return position_view(position, self.reference.instruments[position.symbol], quote.last if quote else None)

    def _late(self, updates: list[Update]) -> list[Update]:
        """A resume's buffered updates (in order), those nobody saw when published rendered now.
        Such an update can only show its subject's state now, so it is left out when a later
        update about the same subject follows (that one tells the newer state), and when its
        subject has changed again in a batch not yet durable: that batch, once written,
        publishes the subject again (as ``on_batch`` does), so the stream is never ahead of the
        journal. Executions, rejections and risk events are each their own subject."""
        committed = self.runtime.committed_seq
        last: dict[int, int] = {}  # id of the subject -> seq of its last update
        for update in updates:
            if update.kind in SUBJECTS:
                last[id(update.ref)] = update.seq
        kept = []
        for update in updates:
            if not update.body:
                kind, ref = update.kind, update.ref
                if kind in SUBJECTS and last[id(ref)] != update.seq:
                    continue
                newest = ref.last_seq if kind in (ORDER, STAGED) else ref.seqs[-1] if kind == ALGO else 0
                if newest > committed:
                    continue
                self._render(update)
            kept.append(update)
        return kept

    async def wait_shown(self, seq: int) -> None:
        await self.runtime.wait_durable(seq)  # a snapshot shows only what the journal holds

    def snapshot(self, subscription: Subscription, max_orders: int) -> dict[str, Any]:
        """Every open order and the newest finished ones, recent executions and all positions the
        subscriber sees, as of stream number ``seq``: what the engine holds durably."""
        committed = self.runtime.committed_seq
        visible = subscription.visible

        def shown(account: str) -> bool:
            return visible is None or account in visible

        orders: dict[OrderId, Order] = {}
        for order in self.engine.live.values():
            if order.seqs[0] <= committed and shown(order.account):
                orders[order.order_id] = order
        finished = 0
        for order in reversed(self.engine.orders.values()):
            if finished >= max_orders:
                break
            if order.order_id not in orders and order.seqs[0] <= committed and shown(order.account):
                orders[order.order_id] = order
                finished += 1
        executions: list[dict[str, Any]] = []
        for exec_id, order in reversed(self.engine.executions.items()):
            if len(executions) >= 1000:
                break
            execution = order.executions[exec_id]
            if execution.seq <= committed and shown(order.account):
                executions.append(execution_view(order, execution))
        return {
            "type": "snapshot", "epoch": self.epoch, "seq": self.seq,
            "orders": [order_view(o) for o in sorted(orders.values(), key=lambda o: o.created_ts)],
            "executions": executions[::-1],
            "positions": [self.position_view(p) for key, p in sorted(self.positions.items()) if shown(key[0])],
            "kill_switches": dict(sorted(self.engine.kill_switches.items())),
            # Execution algorithms (parents) still working or paused, and the newest finished ones.
            "algos": self._snapshot_algos(shown, committed, max_orders),
            # Staged orders still open (waiting or picked up) and the newest 500 released or canceled.
            "staged": self._snapshot_staged(shown, committed),
            "shown_seq": max((o.last_seq for o in orders.values()), default=0),
        }

    def _snapshot_algos(self, shown: Callable[[str], bool], committed: int, finished_max: int) -> list[dict[str, Any]]:
        picked: list[AlgoParent] = []
        finished = 0
        for algo in reversed(self.engine.algos.values()):
            if not shown(algo.account) or not algo.seqs or algo.seqs[0] > committed:
                continue
            if algo.status is AlgoStatus.DONE:
                if finished >= finished_max:
                    continue
                finished += 1
            picked.append(algo)
        return [algo_view(self.engine, a) for a in reversed(picked)]

    def _snapshot_staged(self, shown: Callable[[str], bool], committed: int) -> list[dict[str, Any]]:
        if self.staging is None:
            return []
        picked = []
        finished = 0
        for staged in reversed(self.staging.orders.values()):
            if staged.staged.seq > committed or not shown(staged.staged.account):
                continue
            if staged.status not in STAGED_OPEN:
                if finished >= 500:
                    continue
                finished += 1
            picked.append(staged_view(staged))
        return picked[::-1]

    # --- market data and marks (unnumbered: only the latest value matters) ----------------------

    def market_frames(self, sent: dict[str, int]) -> str | None:
        """Quotes that changed since the last call (``sent``: symbol -> quote ts), as one frame."""
        changed = []
        for quote in self.quotes.all():
            if sent.get(quote.symbol) != quote.ts:
                sent[quote.symbol] = quote.ts
                changed.append({"symbol": quote.symbol, "bid": str(quote.bid), "ask": str(quote.ask), "last": str(quote.last),
                                "bid_size": str(quote.bid_size), "ask_size": str(quote.ask_size), "volume": str(quote.volume),
                                "halted": quote.halted, "time": iso(quote.ts)})
        return _encode({"type": "quotes", "quotes": changed}).decode() if changed else None

    def usage_frames(self) -> list[tuple[str, dict[str, Any]]]:
        """(account, usage) of every account changed since the last call; empties the dirty set."""
        if self.usage_of is None:
            return []
        # Accounts holding positions too: their loss moves with the marks, without any event.
        held = {account for (account, _), position in self.positions.items() if position.fills}
        accounts = sorted(self.engine.books) if self.usage_all_dirty else sorted(self.usage_dirty | held)
        self.usage_dirty.clear()
        self.usage_all_dirty = False
        return [(account, self.usage_of(account)) for account in accounts]

    def marks_frame(self, subscription: Subscription) -> str | None:
        """Every visible position marked at the last price now: intraday P&L moves with the market."""
        rows = []
        for (account, _), position in sorted(self.positions.items()):
            if (subscription.visible is None or account in subscription.visible) and position.fills:
                view = self.position_view(position)
                rows.append({"account": view["account"], "symbol": view["symbol"], "mark": view["mark"],
                             "unrealized_pnl": view["unrealized_pnl"], "realized_pnl": view["realized_pnl"],
                             "currency": view["currency"]})
        return _encode({"type": "marks", "positions": rows}).decode() if rows else None
