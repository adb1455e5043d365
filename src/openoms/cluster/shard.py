"""An engine shard: one OMS (engine, journal, venues: single writer as ever) that owns the
accounts ``shard_of`` gives it and takes their commands from the JetStream command stream.

A command is acknowledged to JetStream only after its events are durable in the shard's
journal, so a shard killed at any moment gets every unfinished command again when it restarts.
A command that was journaled but not yet acknowledged comes twice: the engine gives it no
second effect (a new order's ClOrdID is refused as a duplicate for its account and the shard
answers with the order it already has; a second cancel or replace is refused as already
pending or too late), which is the exactly-once effect per command. Commands of one account
are taken in stream order, and ``execute`` queues them in that order, so per-account order holds.

Journaled events go out on the event stream (``<prefix>.evt.<shard>``) for projections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ..bootstrap import OMS
from ..domain import events as ev
from ..domain.commands import CancelOrder, ReplaceOrder, SubmitOrder
from ..domain.rejects import RejectCode
from ..journal.codec import encode
from ..service.runtime import EngineUnavailable, Outcome
from ..service.views import order_view
from .partition import Subjects, cluster_order_id, shard_of
from .wire import REPLY_HEADER, decode_command, encode_reply, ensure_streams

log = logging.getLogger("openoms.cluster")

MAX_IN_FLIGHT = 4096  # commands delivered but not yet durable and acknowledged
# How long JetStream waits for a shard's ack before giving the command out again: what a shard
# killed mid-batch costs its restart. A batch commits in milliseconds; a redelivery to a slow
# but living shard is harmless (no second effect, see above).
ACK_WAIT_S = 5.0


class EngineShard:
    def __init__(self, oms: OMS, nats_url: str, shard: int, shards: int, subjects: Subjects | None = None) -> None:
        self.oms = oms
        self.nats_url = nats_url
        self.shard = shard
        self.shards = shards
        self.subjects = subjects or Subjects()
        self.handled = 0
        self._nc: Client | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume this shard's commands until ``stop`` is set or the engine fails (the OMS must
        be started). Unacknowledged commands stay in the stream for the next run."""
        nc = self._nc = await nats.connect(self.nats_url, name=f"openoms-engine-{self.shard}")
        try:
            js = nc.jetstream()
            await ensure_streams(js, self.subjects)
            self.oms.runtime.subscribers.append(self._publish_events)
            in_flight: set[asyncio.Task[None]] = set()

            async def take(message: Msg) -> None:
                # Called for each command in stream order, one at a time. It only starts the task:
                # tasks start in creation order and each queues its command on its first step, so
                # the engine sees stream order, and decides whatever has arrived as one group commit.
                task = asyncio.create_task(self._handle(message))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

            # A push consumer: JetStream sends commands as they come (at most MAX_IN_FLIGHT
            # unacknowledged), with no pull round trip between batches.
            subscription = await js.subscribe(
                self.subjects.commands(self.shard), durable=self.subjects.consumer(self.shard), stream=self.subjects.command_stream,
                cb=take, manual_ack=True, pending_msgs_limit=MAX_IN_FLIGHT * 2,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_ack_pending=MAX_IN_FLIGHT,
                                      deliver_policy=DeliverPolicy.ALL),
            )
            log.info("engine shard %d/%d consuming %s", self.shard, self.shards, self.subjects.commands(self.shard))
            while not stop.is_set() and self.oms.runtime.failure is None:
                # A failed engine stops here: the process exits and a supervisor restarts it (replay).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            await subscription.unsubscribe()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        finally:
            # flush + close: nats-py's drain can wait forever on a JetStream subscription.
            with contextlib.suppress(Exception):
                await nc.flush(timeout=2)
            await nc.close()

    async def _handle(self, message: Msg) -> None:
        reply_to = (message.headers or {}).get(REPLY_HEADER)
        try:
            command = decode_command(message.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._reply(reply_to, {"error": {"code": "MALFORMED_COMMAND", "message": str(exc)}})
            await message.term()  # never valid: do not redeliver
            return
        account = getattr(command, "account", None)
        if isinstance(command, SubmitOrder) and shard_of(account or "", self.shards) != self.shard:
            await self._reply(reply_to, {"error": {"code": "WRONG_SHARD", "message": f"account {account} is not on shard {self.shard}"}})
            await message.term()
            return
        try:
            outcome = await self.oms.runtime.execute(command)
        except EngineUnavailable as exc:
            # Not acknowledged: the command stays in the stream for the restarted shard.
            log.error("shard %d cannot take commands: %s", self.shard, exc)
            return
        await self._reply(reply_to, self._reply_body(command, outcome))
        await message.ack()
        self.handled += 1

    def _reply_body(self, command: SubmitOrder | CancelOrder | ReplaceOrder, outcome: Outcome) -> dict[str, Any]:
        order = outcome.order
        rejected = outcome.rejected
        if (isinstance(command, SubmitOrder) and rejected is not None and rejected.code is RejectCode.DUPLICATE_CL_ORD_ID
                and order is None):
            # Redelivered after a crash (or re-sent): answer with the order the first delivery made.
            existing = next((o for o in reversed(self.oms.engine.orders.values())
                             if o.account == command.account and o.cl_ord_id == command.cl_ord_id), None)
            if existing is not None:
                order, rejected = order_view(existing), None
        body: dict[str, Any] = {"shard": self.shard, "order": None, "rejected": None}
        if order is not None:
            body["order"] = {**order, "order_id": cluster_order_id(self.shard, str(order["order_id"]))}
        if rejected is not None:
            body["rejected"] = msgspec.to_builtins(rejected)
        return body

    async def _reply(self, reply_to: str | None, body: dict[str, Any]) -> None:
        if reply_to and self._nc is not None:
            await self._nc.publish(reply_to, encode_reply(body))

    def _publish_events(self, events: Sequence[ev.Event]) -> None:
        """Runtime subscriber: each durable batch goes out as one message (msgpack events)."""
        if self._nc is None:
            return
        data = msgspec.msgpack.encode([encode(event) for event in events])
        asyncio.get_running_loop().create_task(self._nc.publish(self.subjects.events(self.shard), data))
