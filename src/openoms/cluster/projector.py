"""The projector: consumes every shard's event stream (``<prefix>.evt.*``) and keeps the
cluster's read models (read_models.py) that gateways serve.

Per shard it folds the events into an engine replica (``OrderEngine.apply``, the code replay
uses, so a projected order is exactly what its shard holds) and writes the orders, executions
and positions the message touched. A message's events are applied once: events at or below the
shard's stored progress are skipped.

Where it has got to is durable in the read models themselves: the stream sequence of the last
message applied, committed with that message's rows. A restarted projector rebuilds its
replicas from the events it stored and reads the stream again from the next sequence, in
stream order, with an ordered consumer (JetStream recreates it on any missed delivery). A
durable consumer's acknowledgements would be a second record of progress, committed apart from
the rows, and its redeliveries come after newer messages, out of each shard's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.engine import OrderEngine
from ..domain.ids import AccountId, Symbol
from ..journal.codec import decode, encode
from ..service.views import iso, order_view, position_view
from .partition import Subjects, cluster_order_id
from .read_models import ReadModels
from .wire import decode_events, ensure_streams

log = logging.getLogger("openoms.cluster.projector")

FILL_EVENTS = (ev.OrderFilled, ev.TradeBusted, ev.TradeCorrected)


class GapError(RuntimeError):
    """A shard's events skipped a seq: something between the journal and here lost a message."""


class Projector:
    def __init__(self, store: ReadModels, reference: ReferenceData, nats_url: str, subjects: Subjects | None = None,
                 name: str = "projector") -> None:  # name: for logs and the NATS connection
        self.store = store
        self.reference = reference
        self.nats_url = nats_url
        self.subjects = subjects or Subjects()
        self.name = name
        self.replicas: dict[int, OrderEngine] = {}
        self.progress = store.progress()
        self.position = store.position()
        self.applied = 0  # events applied since start (for logs and tests)
        self.failure: str | None = None

    def rebuild(self) -> int:
        """Each shard's replica from the events stored: the state the stored read models came from."""
        count = 0
        for shard in sorted(self.progress):
            replica = self._replica(shard)
            for data in self.store.events(shard):
                replica.apply(decode(data))
                count += 1
        return count

    def _replica(self, shard: int) -> OrderEngine:
        replica = self.replicas.get(shard)
        if replica is None:
            # No risk gate: limit events are no part of orders, executions or positions.
            replica = self.replicas[shard] = OrderEngine(self.reference)
        return replica

    def apply(self, stream_seq: int, shard: int, events: list[ev.Event]) -> int:
        """Fold one message's events (those beyond the shard's progress) and store what changed."""
        done = self.progress.get(shard, 0)
        fresh = [e for e in events if e.seq > done]
        if not fresh:
            return 0  # sent again by its shard (a retry after a lost store acknowledgement): already applied
        if fresh[0].seq != done + 1:
            raise GapError(f"shard {shard}: events jump from seq {done} to {fresh[0].seq}")
        replica = self._replica(shard)
        touched_orders: dict[str, None] = {}
        touched_positions: dict[tuple[AccountId, Symbol], None] = {}
        executions: list[dict[str, Any]] = []
        for event in fresh:
            replica.apply(event)
            order_id = getattr(event, "order_id", None)
            if order_id is None or order_id not in replica.orders:
                continue
            touched_orders[order_id] = None
            if isinstance(event, FILL_EVENTS):
                order = replica.orders[order_id]
                touched_positions[(order.account, order.symbol)] = None
                executions.append(self._execution(shard, order_id, str(event.exec_id), replica))  # type: ignore[attr-defined]
        orders = []
        for order_id in touched_orders:
            order = replica.orders[order_id]  # type: ignore[index]
            view = order_view(order)
            view["order_id"] = cluster_order_id(shard, order_id)
            orders.append({"view": view, "local_id": order_id, "open": order_id in replica.live, "created_ts": order.created_ts,
                           "seqs": list(order.seqs)})
        positions = [position_view(replica.positions[key], self.reference.instruments[key[1]], None)
                     for key in touched_positions if key in replica.positions]
        self.store.write(stream_seq, shard, fresh[-1].seq, [(e.seq, encode(e)) for e in fresh], orders, executions, positions)
        self.progress[shard] = fresh[-1].seq
        self.position = stream_seq
        self.applied += len(fresh)
        return len(fresh)

    @staticmethod
    def _execution(shard: int, order_id: str, exec_id: str, replica: OrderEngine) -> dict[str, Any]:
        order = replica.orders[order_id]  # type: ignore[index]
        execution = order.executions[exec_id]  # type: ignore[index]
        return {"exec_id": exec_id, "order_id": cluster_order_id(shard, order_id), "route_id": execution.route_id,
                "account": order.account, "symbol": order.symbol, "side": order.side.value,
                "quantity": str(execution.quantity), "price": str(execution.price), "liquidity": execution.liquidity.value,
                "busted": execution.busted, "time": iso(execution.ts), "seq": execution.seq, "shard": shard}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, or a message cannot be applied (then ``failure`` says why
        and the projector stops there: a restart reads that message again)."""
        rebuilt = self.rebuild()
        log.info("projector %s: %d stored events replayed into %d shard replicas; resuming after stream seq %d",
                 self.name, rebuilt, len(self.replicas), self.position)
        nc = await nats.connect(self.nats_url, name=f"openoms-{self.name}")
        try:
            js = nc.jetstream()
            await ensure_streams(js, self.subjects)
            failed = asyncio.Event()

            async def take(message: Msg) -> None:
                if self.failure is not None:
                    return
                shard = int(message.subject.rpartition(".")[2])
                try:
                    self.apply(message.metadata.sequence.stream, shard, decode_events(message.data))
                except Exception as exc:  # a message it cannot apply: stop rather than skip it
                    log.exception("projector %s stopped on shard %d's message", self.name, shard)
                    self.failure = f"shard {shard}: {exc}"
                    failed.set()

            start = (ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.position + 1)
                     if self.position else ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            subscription = await js.subscribe(self.subjects.events("*"), stream=self.subjects.event_stream, cb=take,
                                              ordered_consumer=True, config=start)
            stopping = asyncio.ensure_future(stop.wait())
            failing = asyncio.ensure_future(failed.wait())
            await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            failing.cancel()
            await subscription.unsubscribe()
        finally:
            with contextlib.suppress(Exception):
                await nc.flush(timeout=2)
            await nc.close()
