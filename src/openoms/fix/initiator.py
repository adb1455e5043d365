"""The connection side of a FIX session OpenOMS initiates (a FIX venue, a FIX market-data feed):
connect, reconnect every ``reconnect_s`` while not stopping, frame and parse what arrives, drive
the session's timer, write what the session queued, and log out cleanly on stop.

What the session is for lives in the subclass: ``_on_message`` for each application message,
and the optional hooks ``_connected`` (before the Logon goes out), ``_received`` (before a batch
of input is parsed), ``_disconnected`` and ``tick`` (once every ``tick_s``; by default the
session's heartbeat and test-request timer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from . import codec
from .codec import FixMessage, Framer, Garbled
from .session import FixSession
from .store import SessionStore

log = logging.getLogger("openoms.fix")


class FixInitiator:
    def __init__(self, session: FixSession, store: SessionStore, host: str, port: int, *, label: str,
                 reconnect_s: float, heartbeat_s: int, reset_on_logon: bool, tick_s: float = 1.0,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.session = session
        self.store = store
        self.host, self.port = host, port
        self.label = label  # "FIX venue X", "FIX market data Y": what the logs call it
        self.reconnect_s = reconnect_s
        self.heartbeat_s = heartbeat_s
        self.reset_on_logon = reset_on_logon
        self.tick_s = tick_s
        self.clock_ns = clock_ns
        self._transport: asyncio.Transport | None = None
        self._framer = Framer()
        self._task: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[None] | None = None
        self._stopping = False

    # --- hooks -----------------------------------------------------------------------------------

    def _on_message(self, message: FixMessage) -> None:
        raise NotImplementedError

    def _connected_hook(self) -> None:
        """A connection is up; the Logon goes out next."""

    def _received(self) -> None:
        """Input arrived (before it is parsed)."""

    def _disconnected(self, was_logged_on: bool) -> None:
        """The connection is gone (the session already knows)."""

    def tick(self) -> None:
        self.session.timer(self.clock_ns())
        self._flush()

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def logged_on(self) -> bool:
        return self.session.logged_on and self._transport is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.label)

    async def stop(self) -> None:
        self._stopping = True
        if self.logged_on:
            self.session.logout("OpenOMS is shutting down")
            self._flush()
            if self._connected is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._connected), 1.0)
        if self._transport is not None:
            self._transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._connected = loop.create_future()
            try:
                await loop.create_connection(lambda: _InitiatorProtocol(self), self.host, self.port)
                await self._connected  # until the connection is lost
            except OSError as exc:
                log.info("%s: cannot connect to %s:%d (%s); retrying", self.label, self.host, self.port, exc)
            await asyncio.sleep(self.reconnect_s)

    # --- transport ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._framer = Framer()
        self._connected_hook()
        self.session.connection_made()
        self.session.initiate_logon(self.heartbeat_s, self.reset_on_logon)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._framer.feed(data)
        self._received()
        try:
            for frame in self._framer.frames():
                if isinstance(frame, Garbled):
                    log.warning("%s: garbled input ignored (%s)", self.label, frame.reason)
                    continue
                for message in self.session.receive(codec.parse(frame)):
                    self._on_message(message)
                if self.session.disconnect:
                    break
        except Exception:  # a bug must cost the connection, never the OMS
            log.exception("%s: unexpected error; reconnecting", self.label)
            self.session.disconnect = True
        self._flush()

    def connection_lost(self) -> None:
        was_logged_on = self.session.logged_on
        self._transport = None
        self.session.connection_lost()
        self.store.flush()
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(None)
        self._disconnected(was_logged_on)

    def _flush(self) -> None:
        self.store.flush()
        session = self.session
        if session.outbox and self._transport is not None and not self._transport.is_closing():
            self._transport.writelines(session.outbox)
        session.outbox.clear()
        if session.disconnect and self._transport is not None:
            self._transport.close()


class _InitiatorProtocol(asyncio.Protocol):
    def __init__(self, owner: FixInitiator) -> None:
        self.owner = owner
        self._ticker: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner.connection_made(transport)  # type: ignore[arg-type]  # uvloop transports are not asyncio.Transport
        self._schedule()

    def _schedule(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(self.owner.tick_s, self._tick)

    def _tick(self) -> None:
        self.owner.tick()
        self._schedule()

    def data_received(self, data: bytes) -> None:
        self.owner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.owner.connection_lost()
