"""The FIX 4.4 client acceptor: institutions send orders in over FIX, as REST users do over HTTP.

Each configured session (SenderCompID/TargetCompID, bound accounts and user) has one
``ClientSession``: the sans-I/O ``FixSession`` plus the mapping to the engine. Orders become
the engine's commands, posted to the runtime in arrival order; ExecutionReports come from the
engine's events, after they are durable (``runtime.subscribers``), folded into a copy of each
order the session owns so every report carries the OrdStatus/CumQty/LeavesQty/AvgPx of its
own moment even when the engine has already decided the next batch (``fix_client_session``).
FIX orders are ordinary orders: REST sees, replaces and cancels them, and the session hears
about it. This module holds the sockets (``FixConnection``) and the fan-out (``FixGateway``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Protocol

from ..config import Config, FixSessionConfig, parse_hhmm
from ..domain import events as ev
from ..domain.commands import Command
from ..domain.ids import OrderId
from ..domain.order import Order
from ..fix import codec
from ..fix import tags as t
from ..fix.codec import FixMessage, Framer, Garbled
from ..fix.schedule import Schedule, weekday
from ..fix.session import FixSession, SessionIdentity
from ..fix.store import SessionStore
from ..service.runtime import Outcome
from .fix_client_session import ClientSession

log = logging.getLogger("openoms.fix")

LOGON_TIMEOUT_S = 10.0
MAX_UNSENT_BYTES = 32 * 1024 * 1024


class CommandRuntime(Protocol):
    """What the sessions need of an engine: the in-process ``EngineRuntime``, or on a cluster
    gateway the shards reached over JetStream (cluster/fix_runtime.py)."""

    subscribers: list[Callable[[Sequence[ev.Event]], None]]  # told each durable batch of events, in order

    def post(self, command: Command, callback: Callable[[Outcome], None] | None = None) -> None: ...

    @property
    def running(self) -> bool: ...

    @property
    def unavailable(self) -> str | None: ...

    @property
    def failure(self) -> str | None: ...


class OrderBook(Protocol):
    """Where ``attach`` finds the orders there are (the engine's, or the gateway's replicas)."""

    @property
    def orders(self) -> Mapping[OrderId, Order]: ...


class FixConnection(asyncio.Protocol):
    """One TCP connection: frames in, the bound session's output out."""

    def __init__(self, gateway: FixGateway, port: int) -> None:
        self.gateway = gateway
        self.port = port
        self.framer = Framer()
        self.client: ClientSession | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._logon_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport subclasses
        self.peer = str(transport.get_extra_info("peername"))
        self.gateway.connections.add(self)
        self._logon_timer = asyncio.get_running_loop().call_later(LOGON_TIMEOUT_S, self._no_logon)

    def _no_logon(self) -> None:
        if self.client is None and self.transport is not None:
            log.warning("FIX connection from %s sent no Logon in %.0fs: closing", self.peer, LOGON_TIMEOUT_S)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.framer.feed(data)
        try:
            for frame in self.framer.frames():
                if isinstance(frame, Garbled):
                    log.warning("FIX %s: garbled input ignored (%s): %r", self.peer, frame.reason, frame.data[:80])
                    continue
                if not self._message(codec.parse(frame)):
                    break
        except Exception:  # a bug must cost this connection, never the gateway or the engine
            log.exception("FIX %s: unexpected error; closing the connection", self.peer)
            if self.transport is not None:
                self.transport.close()
        self.gateway.flush()

    def _message(self, message: FixMessage) -> bool:
        client = self.client
        if client is None:
            client = self._bind(message)
            if client is None:
                return False
        session = client.session
        for app in session.receive(message):
            client.on_message(app)
        if session.disconnect:
            self.gateway.flush()
            if self.transport is not None:
                self.transport.close()
            return False
        return True

    def _bind(self, message: FixMessage) -> ClientSession | None:
        """The first message must be a Logon from a configured session that is not connected."""
        fields = message.fields
        theirs, ours = fields.get(t.SenderCompID, ""), fields.get(t.TargetCompID, "")
        client = self.gateway.clients.get((ours, theirs))
        problem = None
        if message.msg_type != t.LOGON:
            problem = f"first message is MsgType {message.msg_type!r}, not Logon"
        elif client is None or (client.settings.port or self.gateway.config.fix_port) != self.port:
            problem = f"unknown session {theirs!r} -> {ours!r}"
        elif client.connection is not None:
            problem = f"session {client.session.key} is already connected"
        if problem is not None or client is None:
            log.warning("FIX %s: %s: closing", self.peer, problem)
            if self.transport is not None:
                self.transport.close()
            return None
        if self._logon_timer is not None:
            self._logon_timer.cancel()
        client.connection = self
        client.session.connection_made()
        self.client = client
        return client

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.connections.discard(self)
        if self._logon_timer is not None:
            self._logon_timer.cancel()
        client = self.client
        if client is not None and client.connection is self:
            client.connection = None
            client.session.connection_lost()
            log.info("FIX %s: %s disconnected", self.peer, client.session.key)
        self.transport = None


class FixGateway:
    """All FIX client sessions of one OMS: the listening sockets, the store, the report fan-out."""

    def __init__(self, config: Config, runtime: CommandRuntime, engine: OrderBook, store: SessionStore,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.runtime = runtime
        self.engine = engine
        self.store = store
        self.instance = format(time.time_ns() // 1_000_000, "x")  # report ids unique across restarts
        self.clients: dict[tuple[str, str], ClientSession] = {}
        self.by_key: dict[str, ClientSession] = {}
        self.owner: dict[OrderId, ClientSession] = {}
        self.connections: set[FixConnection] = set()
        self.drop_copies: list[ClientSession] = []
        self.copied: dict[OrderId, list[ClientSession]] = {}  # order -> the drop copy sessions following it
        self._servers: list[asyncio.Server] = []
        self._ticker: asyncio.Task[None] | None = None
        for settings in config.fix_sessions:
            identity = SessionIdentity(settings.target_comp_id, settings.sender_comp_id)
            client = ClientSession(self, settings, FixSession(identity, store, clock_ns, schedule_of(settings)))
            store.keep_sent(identity.key, settings.resend_keep)
            self.clients[(settings.target_comp_id, settings.sender_comp_id)] = client
            self.by_key[client.session.key] = client
            if settings.drop_copy:
                self.drop_copies.append(client)

    def attach(self) -> None:
        """Before the engine starts: copy the orders the sessions own, then follow every event."""
        self.take_orders(self.engine.orders)
        self.load_cl_ord_ids()
        self.runtime.subscribers.append(self.on_events)

    def take_orders(self, orders: Mapping[OrderId, Order]) -> None:
        """Copies of ``orders`` for the sessions that own or copy them (all there are, or on a
        cluster gateway one shard's), as of the last event the sessions were told."""
        for order_id, key in self.store.orders():
            client = self.by_key.get(key)
            order = orders.get(OrderId(order_id))
            if client is not None and order is not None:
                client.orders[order.order_id] = copy.deepcopy(order)
                self.owner[order.order_id] = client
        for client in self.drop_copies:
            for order in orders.values():
                if order.account in client.accounts:
                    client.orders[order.order_id] = copy.deepcopy(order)
                    self.copied.setdefault(order.order_id, []).append(client)

    def load_cl_ord_ids(self) -> None:
        for key, cl_ord_id, order_id in self.store.cl_ord_ids():
            client = self.by_key.get(key)
            if client is not None:
                client.cl_ord_ids[cl_ord_id] = OrderId(order_id)

    async def start(self) -> list[int]:
        """Listen on every configured port; returns the ports."""
        ports = sorted({s.port or self.config.fix_port for s in self.config.fix_sessions})
        loop = asyncio.get_running_loop()
        for port in ports:
            server = await loop.create_server(lambda port=port: FixConnection(self, port),  # type: ignore[misc]
                                              self.config.fix_host, port)
            self._servers.append(server)
        self._ticker = asyncio.create_task(self._tick(), name="fix-heartbeats")
        log.info("FIX acceptor listening on %s port(s) %s: %s", self.config.fix_host, ", ".join(map(str, ports)),
                 ", ".join(self.by_key))
        return ports

    @property
    def listening(self) -> bool:
        return any(server.is_serving() for server in self._servers)

    async def stop(self) -> None:
        """Log every session out (waiting briefly for the answers), close, flush the store."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for server in self._servers:
            server.close()
        for client in self.clients.values():
            client.session.logout("OpenOMS is shutting down")
        self.flush()
        for _ in range(20):
            if not self.connections:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    def close(self) -> None:
        """After the engine has drained: what it reported last is kept for the sessions' resends."""
        self.store.close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time_ns()
            for client in self.clients.values():
                client.session.timer(now)
                if client.failed is not None and (client._unanswered or client._waiting):
                    client.abandon()
            self.flush()

    def on_events(self, events: Sequence[ev.Event]) -> None:
        """Runtime subscriber: durable events -> reports for the sessions owning the orders."""
        if self.drop_copies:
            self._copy(events)
        owner = self.owner
        for event in events:
            order_id = getattr(event, "order_id", None)
            if order_id is None:
                continue
            client = owner.get(order_id)
            if client is None:
                if type(event) is ev.OrderAccepted and event.actor.source == "fix":
                    client = self.by_key.get(event.actor.session)
                    if client is not None:
                        accepted: ev.OrderAccepted = event  # type: ignore[assignment]
                        client.accepted(client.adopt(accepted), accepted)
                continue
            if type(event) is ev.CommandRejected:
                continue  # answered to whoever sent the command (see ClientSession._post)
            client.report(client.orders[order_id], event)
        self.flush()

    def _copy(self, events: Sequence[ev.Event]) -> None:
        """Drop copies: every report on the accounts each copy session follows."""
        for event in events:
            order_id = getattr(event, "order_id", None)
            if order_id is None or type(event) is ev.CommandRejected:
                continue
            if type(event) is ev.OrderAccepted:
                accepted: ev.OrderAccepted = event  # type: ignore[assignment]
                for client in self.drop_copies:
                    if accepted.account in client.accounts:
                        client.accepted(client.copy(accepted), accepted)
                        self.copied.setdefault(order_id, []).append(client)
                continue
            for client in self.copied.get(order_id, ()):
                client.report(client.orders[order_id], event)

    def flush(self) -> None:
        """Commit the store, then write what every session has to send."""
        self.store.flush()
        for client in self.clients.values():
            session = client.session
            if not session.outbox:
                continue
            connection = client.connection
            transport = connection.transport if connection is not None else None
            if transport is not None and not transport.is_closing():
                transport.writelines(session.outbox)
                if transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                    # A client that does not read must not grow our memory without end: its
                    # reports stay in the store for the ResendRequest after it logs on again.
                    log.warning("%s: more than %d bytes unread by the client: disconnecting", session.key, MAX_UNSENT_BYTES)
                    session.disconnect = True
            session.outbox.clear()
            if session.disconnect and transport is not None:
                transport.close()


def unavailable_port(config: Config) -> str | None:
    """Why the acceptor could not listen (checked before `oms serve` starts), or None."""
    if not config.fix_enabled:
        return None
    for port in sorted({s.port or config.fix_port for s in config.fix_sessions}):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.fix_host, port))
            except OSError as exc:
                return f"the FIX acceptor cannot listen on {config.fix_host}:{port}: {exc.strerror}"
    return None


def schedule_of(settings: FixSessionConfig) -> Schedule | None:
    """The session's hours (daily, or weekly with start_day/end_day) and closed dates; None: always open."""
    start, end = parse_hhmm(settings.start_utc), parse_hhmm(settings.end_utc)
    if start is None or end is None:
        return None
    start_minute, end_minute = start[0] * 60 + start[1], end[0] * 60 + end[1]
    first, last = weekday(settings.start_day), weekday(settings.end_day)
    weekly = first is not None and last is not None
    if weekly:  # minutes from Monday 00:00
        start_minute += (first or 0) * 1440
        end_minute += (last or 0) * 1440
    return Schedule(start_minute, end_minute, weekly, frozenset(date.fromisoformat(d) for d in settings.holidays),
                    settings.holiday_calendar)
