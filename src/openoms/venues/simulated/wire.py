"""One direction of a simulated venue's connection with a one-way delay: what is sent arrives
``delay_s`` later, in the order sent, scheduled on the event loop (no thread, no sleep).

A FIFO of (due, call) behind one loop timer, not one ``call_later`` per message: the loop's
timers are a heap that does not promise first-in first-out for equal due times, and a venue
must never see a cancel before the order it cancels."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class Wire:
    __slots__ = ("_loop", "_queue", "_timer", "delay_s")

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._queue: deque[tuple[float, Callable[[], None]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def send(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the event loop ``delay_s`` from now, after everything sent before it."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()  # the venue is driven from the loop thread
        self._queue.append((loop.time() + self.delay_s, call))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._deliver)

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def _deliver(self) -> None:
        assert self._loop is not None
        self._timer = None
        queue = self._queue
        now = self._loop.time()
        while queue and queue[0][0] <= now:
            _, call = queue.popleft()
            call()  # may send more: it queues behind, due later
        if queue and self._timer is None:
            self._timer = self._loop.call_at(queue[0][0], self._deliver)
