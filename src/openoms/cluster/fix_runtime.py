"""The FIX acceptor on a cluster gateway: the single server's acceptor (api/fix_acceptor.py, its
sessions, store and report code, unchanged) over the shards instead of an in-process engine.

``ClusterFixRuntime`` is what the acceptor posts commands to and hears events from. A command
goes to its owning shard through ``ClusterGateway`` (new orders by account, cancels and replaces
by the cluster order id); events come from the gateway's stream hub, which follows every shard's
event subject, with order ids in the cluster's form (``S<shard>-O<n>``), each shard's in journal
order. A command counts as done for the session only once the hub has passed on the events its
shard journaled for it: the acceptor's promise that a request waiting behind an order ("cancel
before ack") finds it holds here as in one process, although the shard's answer and its events
travel on different subjects.

A command waits for its shard as long as it takes (a shard that is down runs it when it is
back): FIX has no request timeout, and refusing a command that may still run would be wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import nats

from ..api.fix_acceptor import FixGateway
from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.ids import OrderId
from ..domain.order import Order
from ..domain.rejects import Reject, RejectCode
from ..service.runtime import Outcome
from .gateway import ClusterGateway
from .partition import ShardError
from .stream_feed import ClusterStreamHub

log = logging.getLogger("openoms.cluster.fix")

# A shard's refusal before the engine (shard.py) as the engine's reject code.
_ERROR_CODES = {"UNKNOWN_ORDER": RejectCode.UNKNOWN_ORDER, "NOT_ENTITLED": RejectCode.NOT_PERMITTED}


class ClusterFixRuntime:
    def __init__(self, gateway: ClusterGateway, hub: ClusterStreamHub, after: Callable[[], None]) -> None:
        """``after``: called once a command's answer is given (the acceptor's flush: reports out)."""
        self.gateway = gateway
        self.hub = hub
        self.after = after
        # Unused: the acceptor hears events through ``FixFollower`` (per shard, resumable), not
        # by subscribing as it does to an in-process engine.
        self.subscribers: list[Callable[[Sequence[ev.Event]], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self.gateway.connected and self.hub.caught_up.is_set()

    @property
    def failure(self) -> str | None:
        """The hub stopped: what was posted will never be reported."""
        return f"the gateway's event feed stopped ({self.hub.failure})" if self.hub.failure is not None else None

    @property
    def unavailable(self) -> str | None:
        if self.failure is not None:
            return self.failure
        return None if self.gateway.connected else "the gateway is not connected to NATS"

    def post(self, command: cmd.Command, callback: Callable[[Outcome], None] | None = None) -> None:
        if not isinstance(command, cmd.SubmitOrder | cmd.CancelOrder | cmd.ReplaceOrder):
            raise TypeError(f"a FIX session sends orders, cancels and replaces, not {type(command).__name__}")
        task = asyncio.create_task(self._execute(command, callback))
        self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, command: cmd.SubmitOrder | cmd.CancelOrder | cmd.ReplaceOrder,
                       callback: Callable[[Outcome], None] | None) -> None:
        try:
            answer = await self.gateway.execute(command, timeout=None)
            outcome = await self._outcome(answer)
        except ShardError as exc:
            outcome = Outcome([], None, Reject(RejectCode.UNKNOWN_ORDER, str(exc)))
        except nats.errors.Error as exc:  # not sent: nothing will run it
            log.warning("FIX command not sent to its shard: %s", exc)
            outcome = Outcome([], None, Reject(RejectCode.ENGINE_UNAVAILABLE, f"the gateway cannot reach NATS: {exc}"))
        if callback is not None:
            callback(outcome)
        self.after()

    async def _outcome(self, answer: dict[str, Any]) -> Outcome:
        error = answer.get("error")
        if error is not None:
            code = _ERROR_CODES.get(error["code"], RejectCode.ENGINE_UNAVAILABLE)  # WRONG_SHARD, MALFORMED_COMMAND: a fault here
            return Outcome([], None, Reject(code, f"{error['code']}: {error['message']}"))
        seqs = [int(event["seq"]) for event in answer.get("events", [])]
        if seqs:
            # Its events reach the sessions (the order adopted, its reports) before it counts as done.
            await self.hub.reached(int(answer["shard"]), max(seqs))
        rejected = answer.get("rejected")
        if rejected is not None:
            return Outcome([], answer.get("order"), Reject(RejectCode(rejected["code"]), rejected["message"],
                                                           rejected.get("detail") or {}))
        return Outcome([], answer.get("order"))



class FixFollower:
    """The acceptor's sessions as a follower of the hub: each shard's events from the last one
    they were told (kept in the session store, committed with the reports those events made),
    so reports of events journaled while this gateway was down go out when it is back, and a
    session that logs on again gets them by ResendRequest: gap-free across gateway restarts."""

    def __init__(self, acceptor: FixGateway) -> None:
        self.acceptor = acceptor
        self._told = acceptor.store.told()
        acceptor.load_cl_ord_ids()

    def told(self, shard: int) -> int:
        return self._told.get(shard, 0)

    def attach(self, shard: int, orders: dict[OrderId, Order]) -> None:
        self.acceptor.take_orders(orders)

    def events(self, shard: int, events: list[ev.Event]) -> None:
        self._told[shard] = events[-1].seq
        self.acceptor.store.set_told(shard, events[-1].seq)
        self.acceptor.on_events(events)  # its flush commits the reports and the seq together
