"""The gateway side: send a command to the shard that owns it over JetStream and wait for the
shard's answer (given once the command's events are durable in that shard's journal).

New orders go to ``shard_of(account)``; cancels and replaces to the shard named in the cluster
order id (``S<shard>-O<n>``). Each command is published with a ``Nats-Msg-Id`` (a new order's
is its account and ClOrdID), so a gateway that re-publishes after a timeout does not create a
second command. If the shard is down the command waits in the stream; the answer comes when
the shard is back (or the caller's timeout passes first: the command is still executed later).
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

from ..domain.commands import CancelOrder, ClientCommand, ReplaceOrder, SubmitOrder
from ..domain.ids import OrderId
from .partition import ShardError, Subjects, shard_of, split_order_id
from .wire import REPLY_HEADER, decode_reply, encode_command, ensure_streams


class ClusterGateway:
    def __init__(self, nats_url: str, shards: int, subjects: Subjects | None = None) -> None:
        self.nats_url = nats_url
        self.shards = shards
        self.subjects = subjects or Subjects()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._inbox = ""
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)

    async def connect(self) -> None:
        self._nc = await nats.connect(self.nats_url, name="openoms-gateway")
        self._js = self._nc.jetstream()
        await ensure_streams(self._js, self.subjects)
        # One subscription for every answer; each request waits on its own subject under it.
        self._inbox = f"_INBOX.oms.{secrets.token_hex(8)}"
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._answered)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.flush(timeout=2)
            await self._nc.close()

    async def _answered(self, message: Msg) -> None:
        future = self._waiting.pop(message.subject, None)
        if future is not None and not future.done():
            future.set_result(decode_reply(message.data))

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

    async def execute(self, command: SubmitOrder | CancelOrder | ReplaceOrder, timeout: float = 30.0) -> dict[str, Any]:
        """Send and wait for the owning shard's answer: ``{"shard", "order", "rejected"}``."""
        assert self._nc is not None and self._js is not None, "connect() first"
        shard, local, message_id = self.route(command)
        reply_to = f"{self._inbox}.{next(self._numbers)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[reply_to] = future
        try:
            # A plain publish into the stream's subject: JetStream stores it (and drops a repeat of
            # the same Nats-Msg-Id); the shard's answer is the acknowledgement that counts, so the
            # PubAck round trip would only add latency.
            await self._nc.publish(self.subjects.commands(shard), encode_command(local),
                                   headers={"Nats-Msg-Id": message_id, REPLY_HEADER: reply_to})
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(reply_to, None)
