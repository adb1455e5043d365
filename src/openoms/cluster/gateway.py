"""The gateway side: send a command to the shard that owns it over JetStream and wait for the
shard's answer (given once the command's events are durable in that shard's journal).

New orders go to ``shard_of(account)``; cancels and replaces to the shard named in the cluster
order id (``S<shard>-O<n>``). Each command is published with a ``Nats-Msg-Id`` naming the
command and this attempt, so JetStream stores one copy however often the client library sends
it. A caller that sends again after a timeout makes a new attempt, answered like any other:
its effect is de-duplicated by the engine (a new order's ClOrdID is refused as a duplicate and
the shard answers with the order it has). If the shard is down the command waits in the
stream; the answer comes when the shard is back (or the caller's timeout passes first: the
command is still executed later).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ..access.policy import Principal
from ..domain.commands import CancelOrder, ClientCommand, ReplaceOrder, SubmitOrder
from ..domain.ids import OrderId
from .partition import ShardError, Subjects, shard_of, split_order_id
from .wire import (
    PRINCIPAL_HEADER,
    REPLY_HEADER,
    REPLY_ID_HEADER,
    SEQ_HEADER,
    BroadcastCommand,
    decode_reply,
    encode_command,
    encode_principal,
    ensure_streams,
)


class ClusterGateway:
    def __init__(self, nats_url: str, shards: int, subjects: Subjects | None = None) -> None:
        self.nats_url = nats_url
        self.shards = shards
        self.subjects = subjects or Subjects()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._inbox = ""
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}  # reply id -> its caller
        self._numbers = itertools.count(1)

    async def connect(self) -> None:
        self._nc = await nats.connect(self.nats_url, name="openoms-gateway")
        self._js = self._nc.jetstream()
        await ensure_streams(self._js, self.subjects)
        # One subject for every answer: a shard sends the answers of one group commit as one list.
        self._inbox = f"_INBOX.oms.{secrets.token_hex(8)}"
        await self._nc.subscribe(self._inbox, cb=self._answered)

    async def shard_status(self) -> dict[int, dict[str, Any]]:
        """Per shard, from JetStream: whether a shard process is taking its commands, how many
        wait (sent, not yet acknowledged), and the journal seq of its last event in the stream."""
        assert self._js is not None, "connect() first"
        status: dict[int, dict[str, Any]] = {}
        for shard in range(self.shards):
            try:
                consumer = await self._js.consumer_info(self.subjects.command_stream, self.subjects.consumer(shard))
                consuming, waiting = bool(consumer.push_bound), (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            except NotFoundError:
                consuming, waiting = False, None  # never started
            try:
                last = await self._js.get_last_msg(self.subjects.event_stream, self.subjects.events(shard))
                journaled = int((last.headers or {}).get(SEQ_HEADER, "0-0").rpartition("-")[2])
            except NotFoundError:
                journaled = 0
            status[shard] = {"consuming": consuming, "commands_waiting": waiting, "journaled_seq": journaled}
        return status

    @property
    def jetstream(self) -> JetStreamContext:
        assert self._js is not None, "connect() first"
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.flush(timeout=2)
            await self._nc.close()

    async def _answered(self, message: Msg) -> None:
        for reply_id, body in decode_reply(message.data):
            future = self._waiting.pop(reply_id, None)
            if future is not None and not future.done():
                future.set_result(body)

    def route(self, command: ClientCommand) -> tuple[int, ClientCommand, str]:
        """The shard, the command as that shard knows it, and its message id (for de-duplication)."""
        if isinstance(command, SubmitOrder):
            return shard_of(command.account, self.shards), command, f"new:{command.account}:{command.cl_ord_id}"
        located = split_order_id(command.order_id)
        if located is None or located[0] >= self.shards:
            raise ShardError(f"unknown order {command.order_id!r} (cluster order ids look like S0-O1)")
        shard, local = located
        local_command = msgspec.structs.replace(command, order_id=OrderId(local))
        kind = "cancel" if isinstance(command, CancelOrder) else "replace"
        return shard, local_command, f"{kind}:{command.order_id}:{command.cl_ord_id or secrets.token_hex(8)}"

    async def execute(self, command: SubmitOrder | CancelOrder | ReplaceOrder, timeout: float | None = 30.0,
                      principal: Principal | None = None) -> dict[str, Any]:
        """Send and wait for the owning shard's answer: ``{"shard", "order", "events", "rejected"}`` (or
        ``{"error"}`` for a command the shard cannot take). ``principal``: the user this gateway
        authenticated, whose roles and accounts the shard's engine then judges with. ``timeout``
        None: wait for the shard however long it is away."""
        shard, local, message_id = self.route(command)
        return await self._send(shard, local, message_id, timeout, principal)

    async def broadcast(self, command: BroadcastCommand, timeout: float = 30.0,
                        principal: Principal | None = None) -> dict[int, dict[str, Any] | None]:
        """Send to every shard; each shard's answer, or None where none came within ``timeout``
        (that shard still runs it when it is back)."""
        kind = type(command).__name__
        token = secrets.token_hex(8)

        async def one(shard: int) -> dict[str, Any] | None:
            try:
                return await self._send(shard, command, f"{kind}:{token}:{shard}", timeout, principal)
            except TimeoutError:
                return None

        answers = await asyncio.gather(*(one(shard) for shard in range(self.shards)))
        return dict(enumerate(answers))

    async def _send(self, shard: int, local: ClientCommand | BroadcastCommand, message_id: str, timeout: float | None,
                    principal: Principal | None) -> dict[str, Any]:
        assert self._nc is not None and self._js is not None, "connect() first"
        reply_id = str(next(self._numbers))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[reply_id] = future
        headers = {"Nats-Msg-Id": f"{message_id}:{self._inbox}.{reply_id}", REPLY_HEADER: self._inbox, REPLY_ID_HEADER: reply_id}
        if principal is not None and not principal.trusted:
            headers[PRINCIPAL_HEADER] = encode_principal(principal)
        try:
            # A plain publish into the stream's subject: JetStream stores it (and drops a repeat of
            # the same Nats-Msg-Id); the shard's answer is the acknowledgement that counts, so the
            # PubAck round trip would only add latency.
            await self._nc.publish(self.subjects.commands(shard), encode_command(local), headers=headers)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(reply_id, None)
