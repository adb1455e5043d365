"""The gateway's live stream (``/api/v1/stream``, the protocol of api/stream.py): order,
execution, position, rejection and risk updates of every shard, numbered by this gateway.

Fed straight from the shards' event subjects (``<prefix>.evt.<shard>``), as the projector is, not
from the read models: an event reaches subscribers one NATS hop after its shard journaled it,
with no polling and no wait for the projector (whose lag, or restart, would stall every
blotter). Per shard the events are folded into an engine replica with ``OrderEngine.apply`` (the
code replay uses: an order streamed is exactly what its shard holds), so snapshots come from
memory. At start the gateway reads the event stream from its beginning; subscribers wait until
it has reached the stream's last message as of then (``ready``), so no snapshot is partial.

Order ids are the cluster's (``S<shard>-O<n>``), as the gateway's REST API gives them. Numbers
(``seq``) and ``epoch`` belong to this gateway process: a client that reconnects to another
gateway, or to this one restarted, gets a fresh snapshot, as after any ``oms serve`` restart.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any, Protocol

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.engine import OrderEngine
from ..domain.ids import AccountId, OrderId, Symbol
from ..domain.order import Order
from ..service.stream_hub import RISK_EVENTS, StreamUnavailable, Subscription, UpdateHub, execution_view
from ..service.views import iso, order_view, position_view
from .partition import Subjects, cluster_order_id
from .wire import decode_events

log = logging.getLogger("openoms.cluster.stream")

FILL_EVENTS = (ev.OrderFilled, ev.TradeBusted, ev.TradeCorrected)
READY_TIMEOUT_S = 10.0  # a subscriber waits this long for the gateway to catch up, then is told to retry
SNAPSHOT_EXECUTIONS = 1000


class Follower(Protocol):
    """Follows every shard's events through the hub from where it left off, across restarts:
    given each shard's orders as of the last event it was told (``told``) when the hub passes it
    (or on catching up, for a shard with nothing newer), then each later event, cluster ids."""

    def told(self, shard: int) -> int: ...

    def attach(self, shard: int, orders: dict[OrderId, Order]) -> None: ...

    def events(self, shard: int, events: list[ev.Event]) -> None: ...


class ClusterStreamHub(UpdateHub):
    def __init__(self, reference: ReferenceData, buffer_size: int = 100_000, max_pending: int = 20_000) -> None:
        super().__init__(buffer_size, max_pending)
        self.reference = reference
        self.replicas: dict[int, OrderEngine] = {}
        self.progress: dict[int, int] = {}  # shard -> its last journal seq applied
        self.caught_up = asyncio.Event()
        self.target = 0  # the event stream's last message when the gateway started: reached, it serves
        self.position = 0  # the stream sequence of the last message applied
        self.failure: str | None = None
        # Others that follow the shards through this hub from where they left off (the gateway's
        # FIX acceptor): see ``Follower``.
        self.followers: list[Follower] = []
        self._attached: set[tuple[int, int]] = set()  # (follower index, shard) given its orders
        self._reaching: list[tuple[int, int, asyncio.Future[None]]] = []  # (shard, seq, who waits for it)

    # --- following the shards ----------------------------------------------------------------

    async def follow(self, js: JetStreamContext, subjects: Subjects, stop: asyncio.Event) -> None:
        """Read every shard's events from the stream's beginning until ``stop`` is set. An ordered
        consumer: stream order (each shard's own order), recreated by the client on a missed delivery."""
        try:
            try:
                self.target = (await js.stream_info(subjects.event_stream)).state.last_seq
            except NotFoundError:
                self.target = 0
            if self.target == 0:
                self._ready()
            subscription = await js.subscribe(subjects.events("*"), stream=subjects.event_stream, cb=self._take,
                                              ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        except Exception as exc:  # subscribers are told why (STREAM_UNAVAILABLE) rather than kept waiting
            log.exception("the gateway's stream could not follow the shards' events")
            self.failure = f"cannot read {subjects.event_stream}: {exc}"
            return
        try:
            await stop.wait()
        finally:
            await subscription.unsubscribe()

    async def _take(self, message: Msg) -> None:
        if self.failure is not None:
            return
        shard = int(message.subject.rpartition(".")[2])
        stream_seq = message.metadata.sequence.stream
        try:
            self.apply(shard, decode_events(message.data), publish=self.caught_up.is_set())
        except Exception as exc:  # a message it cannot apply: stop rather than stream a wrong state
            log.exception("the gateway's stream stopped on shard %d's message %d", shard, stream_seq)
            self.failure = f"shard {shard}: {exc}"
            return
        self.position = stream_seq
        if stream_seq >= self.target and not self.caught_up.is_set():
            self._ready()

    def _follow(self, shard: int, event: ev.Event) -> None:
        """Before ``event`` is folded: a follower not yet given this shard's orders gets them now if
        this is the first event it has not been told (the orders as of its last word)."""
        for n, follower in enumerate(self.followers):
            if (n, shard) not in self._attached and event.seq > follower.told(shard):
                self._attached.add((n, shard))
                follower.attach(shard, self.shard_orders(shard))

    def _ready(self) -> None:
        # No await between the last message folded and the callbacks: they see the replicas
        # exactly as of the first message they will be given after.
        self.caught_up.set()
        for n, follower in enumerate(self.followers):
            for shard in sorted(self.replicas):
                if (n, shard) not in self._attached:  # nothing new on it since the follower's last run
                    self._attached.add((n, shard))
                    follower.attach(shard, self.shard_orders(shard))

    async def reached(self, shard: int, seq: int) -> None:
        """Once this hub has applied (and given its listeners) ``shard``'s events up to ``seq``."""
        if self.progress.get(shard, 0) >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reaching.append((shard, seq, future))
        try:
            await future
        finally:
            self._reaching = [item for item in self._reaching if item[2] is not future]

    @property
    def orders(self) -> dict[OrderId, Order]:
        """Every shard's orders as folded so far, copied, under their cluster ids."""
        return {order_id: order for shard in sorted(self.replicas) for order_id, order in self.shard_orders(shard).items()}

    def shard_orders(self, shard: int) -> dict[OrderId, Order]:
        """The shard's orders as folded so far, copied, under their cluster ids."""
        orders: dict[OrderId, Order] = {}
        replica = self.replicas.get(shard)
        for order in replica.orders.values() if replica is not None else ():
            mine = copy.deepcopy(order)
            mine.order_id = OrderId(cluster_order_id(shard, order.order_id))
            orders[mine.order_id] = mine
        return orders

    def apply(self, shard: int, events: list[ev.Event], publish: bool = True) -> None:
        """Fold one message's events (those beyond the shard's progress: a shard may send a message
        again) and, once caught up, publish what they changed."""
        done = self.progress.get(shard, 0)
        fresh = [e for e in events if e.seq > done]
        if not fresh:
            return
        if fresh[0].seq != done + 1:
            raise ValueError(f"events jump from seq {done} to {fresh[0].seq}")
        replica = self.replicas.get(shard)
        if replica is None:
            replica = self.replicas[shard] = OrderEngine(self.reference)  # no risk gate: it only folds
        for event in fresh:
            if self.followers:
                self._follow(shard, event)
            replica.apply(event)
        self.progress[shard] = fresh[-1].seq
        if publish:
            self._publish_changes(shard, replica, fresh)
        if self.followers:
            for n, follower in enumerate(self.followers):
                if (n, shard) in self._attached:
                    told = follower.told(shard)
                    new = [_with_cluster_id(shard, e) for e in fresh if e.seq > told]
                    if new:
                        follower.events(shard, new)
        for item in self._reaching:
            if item[0] == shard and item[1] <= fresh[-1].seq and not item[2].done():
                item[2].set_result(None)

    def _publish_changes(self, shard: int, replica: OrderEngine, events: list[ev.Event]) -> None:
        orders = replica.orders
        touched_orders: dict[OrderId, None] = {}
        touched_positions: dict[tuple[AccountId, Symbol], None] = {}
        for event in events:
            order_id = getattr(event, "order_id", None)
            if isinstance(event, ev.CommandRejected):
                self._rejection(shard, event)
            elif isinstance(event, RISK_EVENTS):
                # Kill switches go to every shard: each says it applied it (``shard``).
                self._publish(None, None, {"type": "risk", "shard": shard, "event": msgspec.to_builtins(event, str_keys=True)})
            if order_id is None or order_id not in orders:
                continue
            touched_orders[order_id] = None
            if isinstance(event, FILL_EVENTS):
                order = orders[order_id]
                execution = order.executions.get(event.exec_id)
                if execution is not None:
                    view = execution_view(order, execution)
                    view["order_id"] = cluster_order_id(shard, order_id)
                    self._publish(order.account, None, {"type": "execution", "execution": view})
                touched_positions[(order.account, order.symbol)] = None
        for order_id in touched_orders:
            order = orders[order_id]
            self._publish(order.account, None, {"type": "order", "order": self._order_view(shard, order)})
        for key in touched_positions:
            if key in replica.positions:
                self._publish(key[0], None, {"type": "position", "position": self._position_view(shard, key)})

    def _rejection(self, shard: int, event: ev.CommandRejected) -> None:
        order_id = cluster_order_id(shard, event.order_id) if event.order_id else None
        self._publish(event.account, event.actor.user, {"type": "rejection", "command": event.command, "order_id": order_id,
                                                        "cl_ord_id": event.cl_ord_id, "account": event.account,
                                                        "user": event.actor.user, "code": event.reason.code.value,
                                                        "message": event.reason.message, "time": iso(event.ts)})

    @staticmethod
    def _order_view(shard: int, order: Order) -> dict[str, Any]:
        view = order_view(order)
        view["order_id"] = cluster_order_id(shard, order.order_id)
        return view

    def _position_view(self, shard: int, key: tuple[AccountId, Symbol]) -> dict[str, Any]:
        # No mark: the gateway holds no market data (the shards' venues do); P&L is realized only.
        return position_view(self.replicas[shard].positions[key], self.reference.instruments[key[1]], None)

    def status(self) -> dict[str, Any]:
        """For /health: whether the stream serves, how far it has read, and its subscribers."""
        return {"serving": self.caught_up.is_set() and self.failure is None, "stream_seq": self.position,
                "subscribers": len(self.subscriptions), "failure": self.failure}

    # --- serving -----------------------------------------------------------------------------

    async def ready(self) -> None:
        if self.failure is None and not self.caught_up.is_set():
            try:
                await asyncio.wait_for(self.caught_up.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                raise StreamUnavailable(f"the gateway is still reading the shards' events (at {self.position} of "
                                        f"{self.target}); try again shortly") from None
        if self.failure is not None:
            raise StreamUnavailable(f"the gateway's stream stopped ({self.failure}); the REST API still answers")

    def snapshot(self, subscription: Subscription, max_orders: int) -> dict[str, Any]:
        """Every open order and the newest ``max_orders`` finished ones, the newest executions and
        every position the subscriber sees, over all shards, as of stream number ``seq``."""
        visible = subscription.visible

        def shown(account: str) -> bool:
            return visible is None or account in visible

        orders: list[tuple[int, Order]] = []
        finished: list[tuple[int, Order]] = []
        executions: list[tuple[int, dict[str, Any]]] = []
        kill_switches: dict[str, str] = {}
        positions: list[dict[str, Any]] = []
        for shard, replica in sorted(self.replicas.items()):
            orders.extend((shard, o) for o in replica.live.values() if shown(o.account))
            picked = 0
            for order in reversed(replica.orders.values()):
                if picked >= max_orders:
                    break
                if order.order_id not in replica.live and shown(order.account):
                    finished.append((shard, order))
                    picked += 1
            taken = 0
            for exec_id, order in reversed(replica.executions.items()):
                if taken >= SNAPSHOT_EXECUTIONS:
                    break
                if shown(order.account):
                    taken += 1
                    execution = order.executions[exec_id]
                    view = execution_view(order, execution)
                    view["order_id"] = cluster_order_id(shard, order.order_id)
                    executions.append((execution.ts, view))
            kill_switches.update(replica.kill_switches)
            positions.extend(self._position_view(shard, key) for key in sorted(replica.positions) if shown(key[0]))
        finished.sort(key=lambda pair: pair[1].created_ts)
        newest = sorted(executions, key=lambda pair: pair[0])[-SNAPSHOT_EXECUTIONS:]
        return {
            "type": "snapshot", "epoch": self.epoch, "seq": self.seq,
            "orders": [self._order_view(shard, o) for shard, o in
                       sorted([*orders, *finished[-max_orders:]], key=lambda pair: pair[1].created_ts)],
            "executions": [view for _, view in newest],
            "positions": sorted(positions, key=lambda p: (p["account"], p["symbol"])),
            "kill_switches": dict(sorted(kill_switches.items())),
            "algos": [],  # execution algorithms and staged orders are not on shards (yet)
            "staged": [],
        }


def _with_cluster_id(shard: int, event: ev.Event) -> ev.Event:
    order_id = getattr(event, "order_id", None)
    if not order_id:
        return event
    return msgspec.structs.replace(event, order_id=OrderId(cluster_order_id(shard, order_id)))  # type: ignore[call-arg]
