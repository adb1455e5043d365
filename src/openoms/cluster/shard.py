"""An engine shard: one OMS (engine, journal, venues: single writer as ever) that owns the
accounts ``shard_of`` gives it and takes their commands from the JetStream command stream.

Commands are acknowledged to JetStream only once their events are durable in the shard's
journal, so a shard killed at any moment gets every unfinished command again when it restarts.
A command that was journaled but not yet acknowledged comes twice: the engine gives it no
second effect (a new order's ClOrdID is refused as a duplicate for its account, a second cancel
or replace as already pending, too late or a duplicate ClOrdID), which is the exactly-once effect
per command; when the refused command is the one that took effect (same terms, same ClOrdID) the
shard answers with the order, as the first time; a different command reusing a ClOrdID keeps its
refusal. Commands of one account are taken in stream order, and ``execute`` queues them in that
order (while the runtime is suspended they wait for it in that order), so per-account order holds.

On start the shard's consumer is made anew from what the stream still holds (a work queue: only
unacknowledged commands), so after a crash the commands the dead process had taken come first,
in stream order, at once (not after an ack timeout, and not after newer commands).

Per group commit, not per command: the answers for one gateway go out as one message, and the
acknowledgements of the commit's commands in one write, after the answers.

Journaled events go out on the event stream (``<prefix>.evt.<shard>``) for projectors, each
message numbered by the journal seqs it holds. On start the shard first sends what its journal
has beyond the last event in the stream (events journaled just before a crash, or while NATS
was away), so the event stream is the journal, complete and in order.
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
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ..access.engine_feed import feed_reference
from ..bootstrap import OMS
from ..domain import events as ev
from ..domain.commands import CancelOrder, Command, ReplaceOrder, SubmitOrder
from ..domain.engine import trade_date_of
from ..domain.lifecycle import OrdStatus, Pending
from ..domain.order import Order
from ..domain.rejects import RejectCode
from ..journal.codec import to_builtins
from ..service.runtime import EngineUnavailable, Outcome
from ..service.views import order_view
from .partition import Subjects, cluster_order_id, shard_of
from .wire import (
    BROADCAST,
    PRINCIPAL_HEADER,
    REPLY_HEADER,
    REPLY_ID_HEADER,
    SEQ_HEADER,
    decode_command,
    decode_events,
    decode_principal,
    encode_events,
    encode_reply,
    ensure_streams,
)

log = logging.getLogger("openoms.cluster")

# The refusals a command that already took effect gets when it comes again (after a crash).
AMEND_REFUSALS = frozenset({RejectCode.ALREADY_PENDING, RejectCode.TOO_LATE, RejectCode.DUPLICATE_CL_ORD_ID})
MAX_IN_FLIGHT = 4096  # commands delivered but not yet durable and acknowledged
# How long JetStream waits for a shard's ack before giving the command out again. A batch
# commits in milliseconds; a redelivery to a slow but living shard is harmless (no second
# effect, see above); a restarted shard does not wait for it (its consumer is made anew).
ACK_WAIT_S = 5.0
RESUME_POLL_S = 0.05  # how often a suspended runtime is looked at: commands wait for it to resume
EVENTS_PER_MESSAGE = 500  # well under JetStream's 1 MB message limit


class EngineShard:
    def __init__(self, oms: OMS, nats_url: str, shard: int, shards: int, subjects: Subjects | None = None) -> None:
        self.oms = oms
        self.nats_url = nats_url
        self.shard = shard
        self.shards = shards
        self.subjects = subjects or Subjects()
        self.handled = 0
        self._nc: Client | None = None
        self._done: list[Msg] = []  # durable (or refused) since the last flush: to acknowledge
        self._answers: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # gateway inbox -> (reply id, answer)
        self._flush_soon = False
        self._flushes: set[asyncio.Task[None]] = set()
        self._flushing = asyncio.Lock()  # one flush at a time: answers before the ack that covers them
        self._events: list[ev.Event] = []
        self._events_ready = asyncio.Event()
        self._publisher_idle = False
        self._publisher: asyncio.Task[None] | None = None
        self._stopping = False
        self._resumed: asyncio.Event | None = None  # set when the suspended runtime takes commands again
        self._resume_watch: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume this shard's commands until ``stop`` is set or the engine fails (the OMS must
        be started). Unacknowledged commands stay in the stream for the next run. Then stop the
        OMS and call ``close``: what it journals while stopping goes out on the event stream."""
        nc = self._nc = await nats.connect(self.nats_url, name=f"openoms-engine-{self.shard}")
        try:
            js = nc.jetstream()
            await ensure_streams(js, self.subjects)
            self._publisher = asyncio.create_task(self._publish_events(js, await self._last_published(js)))
            in_flight: set[asyncio.Task[None]] = set()

            async def take(message: Msg) -> None:
                # Called for each command in stream order, one at a time. It only starts the task:
                # tasks start in creation order and each queues its command on its first step, so
                # the engine sees stream order, and decides whatever has arrived as one group commit.
                task = asyncio.create_task(self._handle(message))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

            # The consumer of a previous run holds that run's deliveries until their ack wait
            # passes, and would give newer commands first: made anew, it starts from the oldest
            # command not yet acknowledged. (One process per shard: the shard is single-writer.)
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(self.subjects.command_stream, self.subjects.consumer(self.shard))
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
            self._stopping = True  # commands waiting for a suspended runtime stay for the next run
            await subscription.unsubscribe()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self._flush()
        except BaseException:
            await self.close()
            raise

    async def close(self, timeout: float = 5.0) -> None:
        """Send the events still to go (within ``timeout``: a restart sends whatever is left), then
        let go of NATS."""
        await self._drain_events(timeout)
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        if self._nc is not None:
            # flush + close: nats-py's drain can wait forever on a JetStream subscription.
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)
            await self._nc.close()
            self._nc = None

    # --- commands ---------------------------------------------------------------------------

    async def _handle(self, message: Msg) -> None:
        headers = message.headers or {}
        try:
            command = decode_command(message.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._answer(headers, {"error": {"code": "MALFORMED_COMMAND", "message": str(exc)}}, message)
            return  # never valid: acknowledged so it is not given out again
        account = getattr(command, "account", None)
        if isinstance(command, SubmitOrder) and shard_of(account or "", self.shards) != self.shard:
            self._answer(headers, {"error": {"code": "WRONG_SHARD", "message": f"account {account} is not on shard {self.shard}"}}, message)
            return
        principal_text = headers.get(PRINCIPAL_HEADER)
        if principal_text:
            # The gateway authenticated this user: the engine judges with their roles and accounts.
            principal = decode_principal(principal_text)
            feed_reference(self.oms.reference, principal)
            if isinstance(command, CancelOrder | ReplaceOrder):
                # The access rule a single server's middleware applies, here where the order's
                # account is known for sure (the gateway's read models may not have it yet).
                order = self.oms.engine.orders.get(command.order_id)
                if order is not None and not principal.trades(order.account):
                    seen = principal.sees(order.account)
                    self._answer(headers, {"error": {
                        "code": "NOT_ENTITLED" if seen else "UNKNOWN_ORDER", "status": 403 if seen else 404,
                        "message": f"{principal.user!r} may not act on account {order.account!r}" if seen
                        else f"unknown order {cluster_order_id(self.shard, command.order_id)!r}"}}, message)
                    return
        try:
            outcome = await self._execute(command)
        except EngineUnavailable as exc:
            # Not acknowledged: the command stays for the restarted shard.
            log.error("shard %d cannot take commands: %s", self.shard, exc)
            return
        body = self._broadcast_body(outcome) if isinstance(command, BROADCAST) else self._reply_body(command, outcome)
        self._answer(headers, body, message)
        self.handled += 1

    async def _execute(self, command: Command) -> Outcome:
        """The runtime's ``execute``, except while it is suspended (its journal reconnecting): then
        the command waits for it to resume, behind those that came before it, and is executed in
        place. Left unacknowledged, it would be given out again only after ``ACK_WAIT_S``, behind
        newer commands of its account: per-account order would not hold."""
        runtime = self.oms.runtime
        while not self._stopping and (runtime.suspended is not None or self._resumed is not None):
            if self._resumed is None:
                log.warning("shard %d: commands wait until the engine takes them again: %s", self.shard, runtime.suspended)
                self._resumed = asyncio.Event()
                self._resume_watch = asyncio.create_task(self._watch_resume(self._resumed))
            # Woken in the order they began to wait (asyncio.Event), each queues its command then.
            await self._resumed.wait()
        return await runtime.execute(command)

    async def _watch_resume(self, resumed: asyncio.Event) -> None:
        runtime = self.oms.runtime
        while runtime.suspended is not None and runtime.failure is None and not self._stopping:
            await asyncio.sleep(RESUME_POLL_S)
        self._resumed = None
        resumed.set()

    def _answer(self, headers: dict[str, str], body: dict[str, Any], message: Msg) -> None:
        """Queue the answer and the acknowledgement; everything queued in this turn of the loop
        (the whole group commit: its futures are released together) goes out in one flush."""
        self._done.append(message)
        reply_to = headers.get(REPLY_HEADER)
        if reply_to:
            self._answers.setdefault(reply_to, []).append((headers.get(REPLY_ID_HEADER, ""), body))
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        task = asyncio.create_task(self._flush())
        self._flushes.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        self._flush_soon = False
        nc = self._nc
        if nc is None:
            return
        async with self._flushing:
            answers, self._answers = self._answers, {}
            done, self._done = self._done, []
            for reply_to, items in answers.items():
                if items[0][0]:  # a gateway that takes answers in lists
                    await nc.publish(reply_to, encode_reply([[reply_id, body] for reply_id, body in items]))
                else:
                    for _, body in items:
                        await nc.publish(reply_to, encode_reply(body))
            # Answers go first: a command acknowledged is never redelivered, so never answered again.
            # The client library buffers: these are one socket write, not a round trip each.
            for message in done:
                await message.ack()

    def _broadcast_body(self, outcome: Outcome) -> dict[str, Any]:
        """The answer to a cluster-wide command: how many events, and the orders it asked to cancel."""
        canceling = [cluster_order_id(self.shard, e.order_id) for e in outcome.events if isinstance(e, ev.CancelRequested)]
        rejected = msgspec.to_builtins(outcome.rejected) if outcome.rejected is not None else None
        return {"shard": self.shard, "order": None, "rejected": rejected, "events": len(outcome.events), "canceling": canceling}

    def _reply_body(self, command: SubmitOrder | CancelOrder | ReplaceOrder, outcome: Outcome) -> dict[str, Any]:
        order = outcome.order
        rejected = outcome.rejected
        events = outcome.events
        if rejected is not None and rejected.code in AMEND_REFUSALS:
            existing = self._already_done(command, rejected.code, events)
            if existing is not None:
                # Redelivered after a crash (or re-sent): the command took effect the first time, so
                # the answer is the order, and the events are the first delivery's (answered then).
                order, rejected, events = order_view(existing), None, []
        # The answer a single `oms serve` gives (the SDK's OrderAck): the order and the command's
        # journaled events, order ids in the cluster's form as everywhere outside the shard.
        body: dict[str, Any] = {"shard": self.shard, "order": None, "rejected": None,
                                "events": [self._event_view(event) for event in events]}
        if order is not None:
            body["order"] = {**order, "order_id": cluster_order_id(self.shard, str(order["order_id"]))}
        if rejected is not None:
            body["rejected"] = msgspec.to_builtins(rejected)
        return body

    def _already_done(self, command: SubmitOrder | CancelOrder | ReplaceOrder, code: RejectCode,
                      events: Sequence[ev.Event]) -> Order | None:
        """The order a refused command already made or amended, when it is the same command
        delivered again; None when the refusal stands (a different command reusing a ClOrdID)."""
        if isinstance(command, SubmitOrder):
            if code is not RejectCode.DUPLICATE_CL_ORD_ID:
                return None
            # The engine scopes ClOrdIDs by account and trade date: the day the refusal was decided.
            day = next((trade_date_of(e.ts) for e in events if isinstance(e, ev.CommandRejected)), None)
            existing = next((o for o in reversed(self.oms.engine.orders.values())
                             if o.account == command.account and o.cl_ord_id == command.cl_ord_id), None)
            if existing is None or existing.trade_date != day:
                return None
            # Found by its ClOrdID, it was not replaced since: its terms are still the submitted ones.
            same = (existing.symbol == command.symbol and existing.side is command.side and existing.quantity == command.quantity
                    and existing.ord_type is command.ord_type and existing.price == command.price
                    and existing.stop_price == command.stop_price and existing.tif is command.tif
                    and existing.expire_at == command.expire_at)
            return existing if same else None
        order = self.oms.engine.orders.get(command.order_id)
        if order is None or command.cl_ord_id is None:
            return None  # a cancel without a ClOrdID cannot be told from a second one
        kind = Pending.CANCEL if isinstance(command, CancelOrder) else Pending.REPLACE
        if order.pending is kind and order.pending_cl_ord_id == command.cl_ord_id:
            asked = order.pending_replace
        elif order.cl_ord_id == command.cl_ord_id and order.orig_cl_ord_id is not None:
            # Completed: the cancel or replace gave the order its ClOrdID.
            if isinstance(command, CancelOrder):
                return order if order.working is OrdStatus.CANCELED else None
            asked = (order.quantity, order.price, order.stop_price)
        else:
            return None
        # The same replace: every term it names is what the pending or completed replace holds.
        if isinstance(command, ReplaceOrder) and (asked is None or any(
                mine is not None and mine != theirs
                for mine, theirs in zip((command.quantity, command.price, command.stop_price), asked, strict=True))):
            return None
        return order

    def _event_view(self, event: ev.Event) -> dict[str, object]:
        view = to_builtins(event)
        if view.get("order_id"):
            view["order_id"] = cluster_order_id(self.shard, str(view["order_id"]))
        return view

    # --- events -----------------------------------------------------------------------------

    async def _last_published(self, js: JetStreamContext) -> int:
        """The journal seq of the last event of this shard in the event stream (0: none yet)."""
        try:
            last = await js.get_last_msg(self.subjects.event_stream, self.subjects.events(self.shard))
        except NotFoundError:
            return 0
        span = (last.headers or {}).get(SEQ_HEADER)
        if span:
            return int(span.rpartition("-")[2])
        events = decode_events(last.data or b"")
        return events[-1].seq if events else 0

    async def _publish_events(self, js: JetStreamContext, published: int) -> None:
        """One task sends every journaled event, in journal order: first what the journal holds
        beyond ``published``, then each group commit as the runtime makes it durable."""
        runtime = self.oms.runtime
        # No await from here to the subscription: nothing is committed in between, so the journal
        # read up to committed_seq and the batches the subscriber gets meet without gap or overlap.
        upto = runtime.committed_seq
        backlog = [e for e in self.oms.journal.events(after_seq=published) if e.seq <= upto]
        runtime.subscribers.append(self._journaled)
        if backlog:
            log.info("shard %d: sending %d journaled events the event stream lacks (after seq %d)", self.shard, len(backlog), published)
        pending = backlog
        while True:
            for start in range(0, len(pending), EVENTS_PER_MESSAGE):
                await self._send_events(js, pending[start:start + EVENTS_PER_MESSAGE])
            self._events_ready.clear()
            if not self._events:
                self._publisher_idle = True
                await self._events_ready.wait()
                self._publisher_idle = False
            pending, self._events = self._events, []

    async def _send_events(self, js: JetStreamContext, chunk: list[ev.Event]) -> None:
        span = f"{chunk[0].seq}-{chunk[-1].seq}"
        headers = {"Nats-Msg-Id": f"{self.subjects.prefix}.evt.{self.shard}.{span}", SEQ_HEADER: span}
        data = encode_events(chunk)
        while True:
            # Stored before the next: a projector never sees a gap. Retried with the same id
            # (JetStream drops a repeat) while NATS is unreachable.
            try:
                await js.publish(self.subjects.events(self.shard), data, headers=headers, timeout=5)
                return
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("shard %d: events %s not stored yet (%s); retrying", self.shard, span, exc)
                await asyncio.sleep(0.5)

    def _journaled(self, events: Sequence[ev.Event]) -> None:
        """Runtime subscriber: each durable batch, handed to the publishing task."""
        self._events.extend(events)
        self._events_ready.set()

    async def _drain_events(self, timeout: float) -> None:
        """On a clean stop: let the publisher send what is queued (a restart would send it anyway)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (self._publisher is not None and not self._publisher.done() and (self._events or not self._publisher_idle)
               and asyncio.get_running_loop().time() < deadline):
            await asyncio.sleep(0.01)
