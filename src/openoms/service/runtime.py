"""The engine runtime: one writer, group commit, acknowledge only after the journal is durable.

Commands queue in arrival order. The engine loop takes whatever is queued (up to
``max_batch``), decides each command (state moves on in memory at once), and hands the
batch's events to the journal writer thread, then goes on with the next batch while the
first one is being fsynced (a pipeline of at most ``max_inflight`` batches). When a batch is
durable the writer wakes the loop, which then, in journal order: answers the callers,
sends the batch's venue actions (new, cancel, replace), and tells subscribers. Nothing leaves
the process (reply, venue message, stream update) before its events are on disk.

If the journal fails, memory is ahead of disk: the runtime fails closed. Every waiting and
later command is answered ENGINE_UNAVAILABLE and the process must restart (replay).

One failure is survived without a restart: a networked journal (PostgreSQL) whose server went
away (``JournalUnavailable``). Then the runtime is *suspended*: new commands from clients are
refused ENGINE_UNAVAILABLE (/ready and /health say why), while the writer thread reconnects with
bounded backoff. The batch whose commit failed is still in memory with its seqs and hashes;
once connected, the server's tail tells what happened to it: at the batch's start (not written:
it is written now) or at its end with the hash the batch chains to (written, only the answer
was lost). Anything else is a fork, and the runtime fails closed. Its callers, and everything
decided behind it, wait and are answered once durable: nothing acknowledged is lost, nothing is
written twice, nothing refused takes effect. After ``reconnect_timeout`` seconds it gives up
and fails closed as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.engine import OrderEngine
from ..domain.ids import RouteId, VenueId
from ..domain.lifecycle import Pending
from ..domain.order import Order
from ..domain.rejects import Reject, RejectCode
from ..journal.chain import GENESIS, link
from ..journal.codec import decode, encode
from ..journal.errors import JournalError, JournalUnavailable
from .ports import Journal, RouteRequest, VenueGateway
from .views import order_view

log = logging.getLogger("openoms.runtime")

Subscriber = Callable[[Sequence[ev.Event]], None]
ReplayObserver = Callable[[Sequence[ev.Event]], None]
REPLAY_CHUNK = 4096  # events handed to replay observers at once
ENGINE = cmd.Actor("engine", "engine")


PARALLEL_VERIFY_FROM = 200_000  # below this, starting a second process costs more than it saves
RECONNECT_FIRST_S = 0.05  # the first retry after a lost journal connection; doubling up to...
RECONNECT_MAX_S = 2.0  # ...this between attempts
PROBE_IDLE_S = 1.0  # probe the journal's server only after this long without a write (writes notice by themselves)


class EngineUnavailable(RuntimeError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reject = Reject(RejectCode.ENGINE_UNAVAILABLE, reason)


class JournalCorrupt(RuntimeError):
    """Replay found a record that breaks the hash chain or does not decode."""


@dataclass(slots=True)
class Outcome:
    """What a command led to, as of the moment it was decided (and now durable)."""

    events: list[ev.Event]
    order: dict[str, Any] | None = None
    rejected: Reject | None = None


@dataclass(slots=True)
class _Batch:
    events: list[ev.Event] = field(default_factory=list)
    replies: list[tuple[asyncio.Future[Outcome] | Callable[[Outcome], None], Outcome]] = field(default_factory=list)
    error: BaseException | None = None
    commit_seconds: float = 0.0
    probe: bool = False  # no events: only check that the journal's server is still there (``probe()``)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    events: int
    seconds: float
    last_seq: int


class EngineRuntime:
    def __init__(
        self,
        engine: OrderEngine,
        journal: Journal,
        venues: dict[VenueId, VenueGateway],
        clock: Callable[[], int] = time.time_ns,
        max_batch: int = 2048,
        max_inflight: int = 4,
        reconnect_timeout: float = 60.0,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.venues = venues
        self.clock = clock
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self.subscribers: list[Subscriber] = []
        # Read models that must also see the replayed journal (the audit index): told in chunks, in order.
        self.replay_observers: list[ReplayObserver] = []
        # Operations hooks (metrics): ack latency of ``execute`` callers, and each journal commit.
        self.ack_observer: Callable[[float], None] | None = None
        self.commit_observer: Callable[[float, int], None] | None = None
        self.writing_since = 0.0  # perf_counter() when the journal write in progress began; 0.0 when none is
        self.failure: str | None = None  # failed closed: nothing more until a restart
        self.suspended: str | None = None  # the journal's server is gone: refusing commands while reconnecting
        self.reconnect_timeout = reconnect_timeout
        self.reconnects = 0  # times the journal came back after a lost connection (metrics, tests)
        self._probing = False  # a probe is queued for the writer thread
        self._last_write = 0.0  # time.monotonic() of the writer's last append
        self.running = False
        self.committed_seq = engine.seq
        self.stats = {"batches": 0, "events": 0, "commands": 0}
        self._inbox: deque[tuple[cmd.Command, asyncio.Future[Outcome] | Callable[[Outcome], None] | None]] = deque()
        self._last_ts = 0
        self._inflight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer_queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._idle: asyncio.Event | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self.reconciling: set[VenueId] = set()  # venues asked for order status, not yet answered

    @property
    def unavailable(self) -> str | None:
        """Why commands are refused now (failed closed, or suspended while the journal reconnects)."""
        return self.failure or self.suspended

    # --- start-up --------------------------------------------------------------------------

    def replay(self, verify: bool = True) -> ReplayReport:
        """Rebuild state from the journal. With ``verify`` every record's hash link is checked."""
        started = time.perf_counter()
        # Replay allocates millions of long-lived objects; cyclic-GC passes over them are pure
        # waste here (they took 40% of replay time), so collection pauses until it is done.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._replay(verify, started)
        finally:
            if collecting:
                gc.enable()

    def _replay(self, verify: bool, started: float) -> ReplayReport:
        engine = self.engine
        apply = engine.apply
        head_seq, _ = self.journal.head()
        path = getattr(self.journal, "location", None)  # a SQLite file path or a PostgreSQL URL
        # A large journal's hash chain is checked by a second process while this one rebuilds
        # state (the check costs as much as a third of replay, and there are two cores).
        checker: subprocess.Popen[str] | None = None
        if verify and path is not None and head_seq >= PARALLEL_VERIFY_FROM:
            # A database URL (it may hold a password) goes by environment, not on a command line.
            url = getattr(self.journal, "url", None)
            checker = subprocess.Popen(
                [sys.executable, "-m", "openoms.journal.check", "-" if url else str(path), str(head_seq)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "OMS_CHECK_TARGET": url} if url else None,
            )
        inline = verify and checker is None
        count = 0
        try:
            if inline:
                count = self._replay_checking_links()
            else:
                # Payloads only, decoded by the journal: the chain is checked by the other process.
                observers = self.replay_observers
                chunk: list[ev.Event] = []
                try:
                    for event in self.journal.events():
                        apply(event)
                        count += 1
                        if observers:
                            chunk.append(event)
                            if len(chunk) >= REPLAY_CHUNK:
                                self._tell_observers(chunk)
                                chunk = []
                except Exception as exc:
                    raise JournalCorrupt(f"journal record seq {engine.seq + 1} cannot be replayed: {exc!r}") from exc
                self._tell_observers(chunk)
            if checker is not None:
                out, err = checker.communicate()
                lines = out.strip().splitlines()
                if checker.returncode != 0 or not lines:
                    raise JournalCorrupt(f"the journal check could not run (exit {checker.returncode}): {err.strip()[-500:]}")
                report = json.loads(lines[-1])
                if not report["ok"]:
                    raise JournalCorrupt(
                        f"journal record seq {report['first_bad_seq']} breaks the hash chain: {report['problem']}; "
                        "run `oms audit verify` for details"
                    )
        finally:
            if checker is not None and checker.poll() is None:
                checker.kill()
                checker.wait()
        if engine.seq != head_seq or count != head_seq:
            raise JournalCorrupt(
                f"replay ended at seq {engine.seq} after {count} records, but the journal head is seq {head_seq}: "
                "a record is missing; run `oms audit verify` for details"
            )
        self.committed_seq = engine.seq
        return ReplayReport(count, time.perf_counter() - started, engine.seq)

    def _tell_observers(self, events: list[ev.Event]) -> None:
        if events:
            for observe in self.replay_observers:
                observe(events)

    def _replay_checking_links(self) -> int:
        apply = self.engine.apply
        observers = self.replay_observers
        chunk: list[ev.Event] = []
        prev = GENESIS
        expected = 1
        for record in self.journal.records():
            if record.seq != expected or record.prev_hash != prev or link(prev, record.payload) != record.hash:
                raise JournalCorrupt(
                    f"journal record seq {record.seq} breaks the hash chain (expected seq {expected}); "
                    "run `oms audit verify` for details"
                )
            prev = record.hash
            expected += 1
            try:
                event = decode(record.payload)
                apply(event)
            except Exception as exc:
                raise JournalCorrupt(f"journal record seq {record.seq} cannot be replayed: {exc!r}") from exc
            if observers:
                chunk.append(event)
                if len(chunk) >= REPLAY_CHUNK:
                    self._tell_observers(chunk)
                    chunk = []
        self._tell_observers(chunk)
        return expected - 1

    def restore_venues(self) -> int:
        """Put every open route back at its venue after a restart (the simulated venues keep no
        state), or, for a venue that kept its state (``StatusRequests``), ask it for their status:
        then ``wait_reconciled`` before accepting new orders."""
        restored = 0
        by_venue: dict[VenueId, list[RouteRequest]] = {}
        for order in self.engine.live.values():
            for route in order.routes.values():
                if not route.done:
                    by_venue.setdefault(route.venue, []).append(route_request(order, route.route_id, route.quantity, route.price, route.cum_qty))
        for venue_id, venue in self.venues.items():
            # The trading-day state is part of the journal: a restart after the close stays closed.
            venue.set_session_open(self.engine.session_open)
            routes = by_venue.get(venue_id, [])
            request_status = getattr(venue, "request_status", None)
            if request_status is not None:
                self.reconciling.add(venue_id)
                request_status(routes, lambda venue_id=venue_id: self.reconciling.discard(venue_id))
                restored += len(routes)
            elif routes:
                venue.restore(routes)
                restored += len(routes)
        # Requests that were journaled (and acknowledged) but whose answer was not: ask again,
        # or the order would stay PendingCancel/PendingReplace for good.
        for order in self.engine.live.values():
            open_route = order.open_route()
            if open_route is None or order.pending is None:
                continue
            if order.pending is Pending.CANCEL:
                self._send_cancels(order, open_route.route_id)
            elif order.replace_cancels:
                for child in order.replace_cancels:
                    if not order.routes[child].done:
                        self._send_cancel(order, child)
            elif order.pending_replace is not None:
                self._send_replace(order, open_route.route_id, *order.pending_replace)
        return restored

    async def wait_reconciled(self, timeout: float) -> None:
        """Wait until every venue asked for order status has answered and what it reported is
        journaled (fills made while the OMS was down are booked before anything new is taken).
        A venue that does not answer in time fails the engine closed: its orders' state is unknown."""
        deadline = time.monotonic() + timeout
        while self.reconciling:
            if time.monotonic() > deadline:
                self._fail(f"venue(s) {', '.join(sorted(self.reconciling))} did not answer the order status request "
                           f"within {timeout:g}s after the restart")
                raise EngineUnavailable(self.failure or "venue reconciliation timed out")
            await asyncio.sleep(0.01)  # ``done`` may come from a venue's own thread: poll, do not share an Event
        await self.drain()
        if self.failure is not None:
            raise EngineUnavailable(self.failure)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._room.set()
        self._writer = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
        self._writer.start()
        self.running = True
        self._task = asyncio.create_task(self._run(), name="engine")
        self._task.add_done_callback(self._engine_task_ended)

    def _engine_task_ended(self, task: asyncio.Task[None]) -> None:
        """The engine loop must never end on its own; if it does, say so and refuse work."""
        if task.cancelled() or not self.running:
            return
        exc = task.exception()
        if exc is not None:
            log.critical("engine loop crashed", exc_info=exc)
        if self.failure is None:
            self._fail(f"engine loop ended unexpectedly: {exc!r}")

    async def wait_durable(self, seq: int) -> None:
        """Wait until every event up to ``seq`` is in the journal (for readers of engine state,
        which may run a batch ahead of the disk). Raises EngineUnavailable if that will not happen."""
        if seq <= self.committed_seq:
            return
        if self.failure is not None:
            raise EngineUnavailable(self.failure)
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._waiters, (seq, id(future), future))
        await future

    def _release_waiters(self, error: BaseException | None = None) -> None:
        waiters = self._waiters
        while waiters and (error is not None or waiters[0][0] <= self.committed_seq):
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def stop(self) -> None:
        """Drain what is queued, wait for the last commit, close the journal."""
        if not self.running:
            return
        await self.drain()
        self.running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer_queue.put(None)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        self.journal.close()

    async def drain(self) -> None:
        """Wait until nothing is queued or being written."""
        assert self._idle is not None
        while (self._inbox or self._inflight) and self.failure is None:
            self._idle.clear()
            if self._wake is not None:
                self._wake.set()
            await self._idle.wait()

    @property
    def queue_depth(self) -> int:
        """Commands waiting for the engine loop."""
        return len(self._inbox)

    # --- entry points ----------------------------------------------------------------------

    async def execute(self, command: cmd.Command) -> Outcome:
        """Queue a command and wait until its events are durable."""
        if self.failure is not None or self.suspended is not None or not self.running:
            raise EngineUnavailable(self.failure or self.suspended or "engine is not running")
        assert self._loop is not None and self._wake is not None
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._inbox.append((command, future))
        self._wake.set()
        if self.ack_observer is None:
            return await future
        started = time.perf_counter()
        outcome = await future
        self.ack_observer(time.perf_counter() - started)
        return outcome

    def post(self, command: cmd.Command, callback: Callable[[Outcome], None] | None = None) -> None:
        """Queue a command without waiting (venue reports, timers, in-process load). Loop thread only."""
        if self.failure is not None:
            return
        self._inbox.append((command, callback))
        if self._wake is not None:
            self._wake.set()

    # --- the engine loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None and self._room is not None and self._idle is not None
        inbox = self._inbox
        engine = self.engine
        clock = self.clock
        while True:
            if not inbox:
                self._wake.clear()
                if not self._inflight:
                    self._idle.set()
                await self._wake.wait()
                continue
            if self._inflight >= self.max_inflight:
                self._room.clear()
                await self._room.wait()
                continue
            if self.failure is not None:
                return
            batch = _Batch()
            out = batch.events
            replies = batch.replies
            for _ in range(min(len(inbox), self.max_batch)):
                command, reply = inbox.popleft()
                now = clock()
                if now <= self._last_ts:  # journal time never runs backwards
                    now = self._last_ts + 1
                self._last_ts = now
                try:
                    events = engine.handle(command, now)
                    outcome = self._outcome(events, isinstance(reply, asyncio.Future)) if reply is not None else None
                except Exception as exc:  # a bug: state may be half-changed, so stop rather than guess
                    log.exception("engine failed on %r", command)
                    self._fail(f"engine error on {type(command).__name__}: {exc!r}")
                    # Nobody in this batch may wait forever: it will never be journaled.
                    self._fail_batch(batch, extra=reply)
                    return
                out.extend(events)
                if reply is not None:
                    assert outcome is not None
                    replies.append((reply, outcome))
            self.stats["commands"] += len(replies)
            if not out:
                self._finish(batch)
                continue
            self._inflight += 1
            self._writer_queue.put(batch)
            # Let the loop serve I/O (HTTP, venue sockets) between batches.
            await asyncio.sleep(0)

    def _outcome(self, events: list[ev.Event], with_view: bool) -> Outcome:
        """The reply to a command. Callers that wait (``execute``) get the order as it stood right
        after the command, rendered now, because later batches may change it before the reply is
        released; in-process callers (``post``) read the engine themselves and skip that cost."""
        rejected = None
        order: Order | None = None
        for event in events:
            if type(event) is ev.CommandRejected:
                rejected = event.reason  # type: ignore[attr-defined]
            if with_view and order is None:
                order_id = getattr(event, "order_id", None)
                if order_id is not None:
                    order = self.engine.orders.get(order_id)
        return Outcome(events, order_view(order) if order is not None else None, rejected)

    def _write_loop(self) -> None:
        """Journal writer thread: commits batches in order, then wakes the loop."""
        assert self._loop is not None
        while True:
            batch = self._writer_queue.get()
            if batch is None:
                return
            if batch.probe:
                self._probe_journal()
                continue
            started = self.writing_since = time.perf_counter()
            before = self.journal.head()
            self._last_write = time.monotonic()
            try:
                self.journal.append(batch.events)
            except JournalUnavailable as exc:
                batch.error = self._write_after_reconnect(batch, before, exc)
            except BaseException as exc:  # noqa: BLE001 - any failure must fail the engine closed
                batch.error = exc
            self.writing_since = 0.0
            batch.commit_seconds = time.perf_counter() - started
            try:
                self._loop.call_soon_threadsafe(self._committed, batch)
            except RuntimeError:  # the loop is closed: the process is going away
                return

    def _write_after_reconnect(self, batch: _Batch, before: tuple[int, bytes], lost: JournalUnavailable) -> BaseException | None:
        """Writer thread, after the journal's server went away during ``batch``'s commit: suspend,
        reconnect with backoff, settle the batch by the server's tail, resume. Returns None once the
        batch is durable, or the error that fails the engine closed."""
        assert self._loop is not None
        reconnect = getattr(self.journal, "reconnect", None)
        if reconnect is None or self.reconnect_timeout <= 0 or self.failure is not None:
            return lost
        self._loop.call_soon_threadsafe(self._suspend, f"journal unavailable, reconnecting: {lost}")
        first, last_seq = before[0] + 1, before[0] + len(batch.events)
        deadline = time.monotonic() + self.reconnect_timeout
        delay, problem = RECONNECT_FIRST_S, lost
        while self.running and self.failure is None:
            try:
                tail = reconnect()
                # How much of the batch the server has: none (the usual case), all of it (only the
                # answer was lost), or, with a commit per event (durability "event"), a prefix.
                landed = tail[0] - before[0]
                if not 0 <= landed <= len(batch.events) or tail[1] != self._chained(before[1], batch.events[:landed]):
                    # someone else wrote, or acknowledged rows are gone: never guess, stop
                    return JournalError(f"journal tail after reconnecting is seq {tail[0]}, which is not seq {before[0]} "
                                        f"to {last_seq} with the hashes this batch chains to: refusing to continue")
                if landed:
                    log.warning("journal seq %d-%d was committed before the connection dropped", first, tail[0])
                if landed < len(batch.events):
                    self.journal.append(batch.events[landed:])
                self.reconnects += 1
                self._loop.call_soon_threadsafe(self._resume)
                return None
            except JournalUnavailable as exc:
                problem = exc
            except BaseException as exc:  # noqa: BLE001 - anything but the server's absence fails closed
                return exc
            if time.monotonic() + delay > deadline:
                return JournalError(f"journal not back within {self.reconnect_timeout:g}s: {problem}")
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
        return lost

    def probe(self) -> None:
        """Loop thread, about once a second (the OMS timer): while nothing is being written, ask a
        networked journal whether its server is still there, so a connection lost while idle is
        noticed (suspend, /ready says why, reconnect) before the next order needs it."""
        if self._probing or self._inflight or not self.running or self.unavailable is not None:
            return
        if time.monotonic() - self._last_write < PROBE_IDLE_S:
            return
        if getattr(self.journal, "ping", None) is None:
            return
        self._probing = True
        self._writer_queue.put(_Batch(probe=True))

    def _probe_journal(self) -> None:
        """Writer thread: the probe. A lost server is handled as for a batch with no events."""
        assert self._loop is not None
        try:
            self.journal.ping()  # type: ignore[attr-defined]
        except JournalUnavailable as exc:
            error = self._write_after_reconnect(_Batch(), self.journal.head(), exc)
            if error is not None:
                self._loop.call_soon_threadsafe(self._fail, f"journal unavailable: {error}")
        except BaseException as exc:  # noqa: BLE001 - a journal that cannot answer fails the engine closed
            self._loop.call_soon_threadsafe(self._fail, f"journal check failed: {exc}")
        finally:
            self._probing = False

    @staticmethod
    def _chained(previous: bytes, events: Sequence[ev.Event]) -> bytes:
        """The hash the journal's chain reaches after ``events`` appended to ``previous``."""
        digest = previous
        for event in events:
            digest = link(digest, encode(event))
        return digest

    def _suspend(self, reason: str) -> None:
        if self.failure is None and self.suspended is None:
            self.suspended = reason
            log.error("engine stopped accepting commands until the journal is back: %s", reason)

    def _resume(self) -> None:
        if self.suspended is not None:
            self.suspended = None
            log.warning("journal reconnected after a lost connection; accepting commands again")

    def _committed(self, batch: _Batch) -> None:
        assert self._room is not None and self._idle is not None
        self._inflight -= 1
        self._room.set()
        if batch.error is not None:
            self._fail(f"journal write failed: {batch.error}")
            self._fail_batch(batch)
            return
        if self.failure is not None:  # an earlier batch failed: this one must not be acknowledged either
            self._fail_batch(batch)
            return
        self.committed_seq = batch.events[-1].seq
        self.stats["batches"] += 1
        self.stats["events"] += len(batch.events)
        if self.commit_observer is not None:
            self.commit_observer(batch.commit_seconds, len(batch.events))
        self._finish(batch)
        self._release_waiters()
        self._dispatch(batch.events)
        for subscriber in self.subscribers:
            try:
                subscriber(batch.events)
            except Exception:  # a broken read model must not stop trading; it is logged loudly
                log.exception("subscriber %r failed", subscriber)
        if not self._inbox and not self._inflight:
            self._idle.set()

    def _finish(self, batch: _Batch) -> None:
        for reply, outcome in batch.replies:
            if isinstance(reply, asyncio.Future):
                if not reply.done():
                    reply.set_result(outcome)
            else:
                reply(outcome)

    def _fail(self, reason: str) -> None:
        self.suspended = None
        if self.failure is None:
            self.failure = reason
            log.critical("engine stopped accepting commands: %s", reason)
        error = EngineUnavailable(self.failure)
        while self._inbox:
            _, reply = self._inbox.popleft()
            if isinstance(reply, asyncio.Future) and not reply.done():
                reply.set_exception(error)
        self._release_waiters(error)
        if self._idle is not None:
            self._idle.set()
        if self._wake is not None:
            self._wake.set()

    def _fail_batch(self, batch: _Batch, extra: asyncio.Future[Outcome] | Callable[[Outcome], None] | None = None) -> None:
        error = EngineUnavailable(self.failure or "journal unavailable")
        replies = [reply for reply, _ in batch.replies]
        if extra is not None:
            replies.append(extra)
        for reply in replies:
            if isinstance(reply, asyncio.Future) and not reply.done():
                reply.set_exception(error)
        self._release_waiters(error)

    # --- effects after commit -----------------------------------------------------------------

    def _dispatch(self, events: Sequence[ev.Event]) -> None:
        """Send the venue actions of durable events. Venue answers come back through ``post``.
        A gateway that raises is answered for: the route is rejected, the request refused."""
        orders = self.engine.orders
        for event in events:
            kind = type(event)
            if kind is ev.OrderRouted:  # the hot path: inline, no closure
                routed: ev.OrderRouted = event  # type: ignore[assignment]
                venue = self.venues.get(routed.venue)
                if venue is not None:
                    try:
                        venue.new_order(route_request(orders[routed.order_id], routed.route_id, routed.quantity, routed.price))
                        continue
                    except Exception as exc:  # a broken gateway must not stop the engine: answer for it
                        log.exception("venue %s failed on new_order for %s", routed.venue, routed.route_id)
                        problem = f"venue {routed.venue} failed: {exc!r}"
                else:
                    problem = f"venue {routed.venue} is not connected"
                self._venue_unavailable(routed.venue, routed.route_id, "new_order", problem)
            elif kind is ev.CancelRequested:
                cancel: ev.CancelRequested = event  # type: ignore[assignment]
                if cancel.route_id:
                    self._send_cancels(orders[cancel.order_id], cancel.route_id)
            elif kind is ev.ReplaceRequested:
                replace: ev.ReplaceRequested = event  # type: ignore[assignment]
                if replace.route_id:
                    self._send_replace(orders[replace.order_id], replace.route_id, replace.quantity, replace.price,
                                       replace.stop_price)
                for child in replace.cancel_routes:  # a split order is replaced by canceling children
                    self._send_cancel(orders[replace.order_id], child)
            elif kind is ev.OrderExpired:
                expired: ev.OrderExpired = event  # type: ignore[assignment]
                for route in orders[expired.order_id].routes.values():
                    self._to_venue(route.venue, route.route_id, "expire", lambda v, rid=route.route_id: v.expire(rid))  # type: ignore[misc]
            elif kind is ev.DayEnded or kind is ev.DayStarted:
                for venue_id in self.venues:
                    self._to_venue(venue_id, RouteId(""), "session",
                                   lambda v, is_open=kind is ev.DayStarted: v.set_session_open(is_open))  # type: ignore[misc]

    def _send_cancels(self, order: Order, route_id: RouteId) -> None:
        """Cancel the order at its venue, and at every other venue it was split to."""
        self._send_cancel(order, route_id)
        if len(order.routes) > 1:
            for route in order.routes.values():
                if not route.done and route.route_id != route_id:
                    self._send_cancel(order, route.route_id)

    def _send_cancel(self, order: Order, route_id: RouteId) -> None:
        self._to_venue(order.routes[route_id].venue, route_id, "cancel", lambda v: v.cancel(route_id))

    def _send_replace(self, order: Order, route_id: RouteId, quantity: Decimal, price: Decimal | None,
                      stop_price: Decimal | None) -> None:
        self._to_venue(order.routes[route_id].venue, route_id, "replace",
                       lambda v: v.replace(route_id, quantity, price, stop_price))

    def _to_venue(self, venue_id: VenueId, route_id: RouteId, action: str, call: Callable[[VenueGateway], None]) -> None:
        venue = self.venues.get(venue_id)
        problem = f"venue {venue_id} is not connected"
        if venue is not None:
            try:
                call(venue)
                return
            except Exception as exc:  # a broken gateway must not stop the engine: answer for it
                log.exception("venue %s failed on %s for %s", venue_id, action, route_id)
                problem = f"venue {venue_id} failed: {exc!r}"
        self._venue_unavailable(venue_id, route_id, action, problem)

    def _venue_unavailable(self, venue_id: VenueId, route_id: RouteId, action: str, problem: str) -> None:
        """What a venue could not be told is answered as the venue would have: reject or refuse."""
        reason = Reject(RejectCode.VENUE_REJECT, problem, {"venue": venue_id})
        if action == "new_order":
            self.post(cmd.VenueRejected(actor=ENGINE, route_id=route_id, reason=reason))
        elif action == "cancel":
            self.post(cmd.VenueCancelRejected(actor=ENGINE, route_id=route_id, reason=reason))
        elif action == "replace":
            self.post(cmd.VenueReplaceRejected(actor=ENGINE, route_id=route_id, reason=reason))
        else:
            log.error("%s: %s not delivered for %s", problem, action, route_id or "all routes")


def route_request(
    order: Order, route_id: RouteId, quantity: Decimal, price: Decimal | None, cum_qty: Decimal = Decimal(0)
) -> RouteRequest:
    return RouteRequest(
        route_id=route_id, order_id=order.order_id, account=order.account, symbol=order.symbol, side=order.side,
        quantity=quantity, ord_type=order.ord_type, price=price, stop_price=order.stop_price, tif=order.tif,
        cum_qty=cum_qty,
    )
