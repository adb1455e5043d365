"""Prometheus metrics for the running OMS, exposed at ``/metrics`` with prometheus-client.

What is counted on the engine loop is counted in plain ints (a dict increment per event, a
bisect per latency sample) and turned into Prometheus families only when scraped: the
client's own ``Counter.inc`` / ``Histogram.observe`` take a lock each, about 1 us, which per
event would cost the engine several percent of its throughput. Everything here runs on the
event loop thread (subscribers and runtime hooks), so no lock is needed.

Exposed (all prefixed ``oms_``):
- ``orders{status}``: orders in each open status now (a walk of the live orders at scrape time);
  ``orders_finished_total{status}``: orders that reached filled / canceled / rejected / expired
  since this process started; ``orders_known``: orders in memory.
- ``journal_events_total{type}``: journaled events by type.
- ``rejects_total{source,code,rule}``: refusals by the engine and risk (``source="engine"``, with the
  risk rule) and by venues (``source="venue"``).
- ``ack_latency_seconds``: from a command queued by an API caller to its durable acknowledgement.
- ``journal_commit_seconds``, ``journal_commit_events``: each group commit's time and size.
- ``journal_last_seq``, ``journal_committed_seq``, ``engine_up``, ``engine_queue_depth``.
- ``venue_up{venue}``, ``venue_session_open{venue}``: a gateway counts as up unless it reports
  ``connected = False`` (the simulated venue is in process and always up). FIX sessions get their
  gauges with the FIX gateway (issue 6).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..domain import events as ev
from ..domain.engine import OrderEngine
from ..domain.ids import OrderId
from ..domain.lifecycle import TERMINAL
from ..service.runtime import EngineRuntime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COMMIT_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
SIZE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)
# Events after which an order may have become final (or, for a bust, open again).
_MAY_FINISH = frozenset({ev.OrderFilled, ev.OrderCanceled, ev.OrderRejected, ev.OrderExpired, ev.OrderReplaced,
                         ev.TradeBusted, ev.TradeCorrected})


class Buckets:
    """A histogram kept as plain counts (loop thread only), rendered at scrape time."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            cumulative.append((_le(bound), running))
        running += self.counts[-1]
        cumulative.append(("+Inf", running))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=self.total)


def _le(bound: float) -> str:
    return repr(float(bound))


class OmsMetrics:
    """Counts what the runtime does; ``render()`` is the ``/metrics`` body."""

    def __init__(self, runtime: EngineRuntime, engine: OrderEngine, venues: Mapping[str, Any]) -> None:
        self.runtime = runtime
        self.engine = engine
        self.venues = venues
        self.event_counts: Counter[type] = Counter()
        self.rejects: Counter[tuple[str, str, str]] = Counter()
        self.finished: Counter[str] = Counter()
        self.ack = Buckets(ACK_BUCKETS)
        self.commit = Buckets(COMMIT_BUCKETS)
        self.commit_size = Buckets(SIZE_BUCKETS)
        self.last_commit = 0.0  # time.monotonic() of the last durable batch
        self._open: set[OrderId] = set()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    def attach(self) -> None:
        """Hook into the runtime; call after replay (the open orders are taken from the engine)."""
        self._open = set(self.engine.live)
        self.runtime.subscribers.append(self.on_batch)
        self.runtime.ack_observer = self.ack.observe
        self.runtime.commit_observer = self.on_commit

    # --- fed by the runtime (event loop thread) ---------------------------------------------------

    def on_commit(self, seconds: float, events: int) -> None:
        self.commit.observe(seconds)
        self.commit_size.observe(events)
        self.last_commit = time.monotonic()

    def on_batch(self, events: Sequence[ev.Event]) -> None:
        self.event_counts.update(map(type, events))
        orders = self.engine.orders
        for event in events:
            kind = type(event)
            if kind is ev.OrderAccepted:
                self._open.add(event.order_id)  # type: ignore[attr-defined]
            elif kind in _MAY_FINISH:
                order_id: OrderId = event.order_id  # type: ignore[attr-defined]
                order = orders.get(order_id)
                if order is None:
                    continue
                # The engine may be a batch ahead of what is durable: an order counts once, when the
                # first durable event finds it final; a bust that reopens it makes it open again.
                if order.working in TERMINAL:
                    if order_id in self._open:
                        self._open.discard(order_id)
                        self.finished[order.working.value] += 1
                else:
                    self._open.add(order_id)
                if kind is ev.OrderRejected:
                    reason = event.reason  # type: ignore[attr-defined]
                    self.rejects["venue", reason.code.value, ""] += 1
            elif kind is ev.CommandRejected:
                reason = event.reason  # type: ignore[attr-defined]
                rule = reason.detail.get("rule", "") if isinstance(reason.detail, dict) else ""
                self.rejects["engine", reason.code.value, str(rule)] += 1

    # --- scraped ------------------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        runtime, engine = self.runtime, self.engine
        by_status = GaugeMetricFamily("oms_orders", "Open orders by OrdStatus, now", labels=["status"])
        for status, count in sorted(Counter(order.status.value for order in engine.live.values()).items()):
            by_status.add_metric([status], count)
        yield by_status
        finished = CounterMetricFamily("oms_orders_finished", "Orders that became final since start, by status",
                                       labels=["status"])
        for status, count in sorted(self.finished.items()):
            finished.add_metric([status], count)
        yield finished
        yield GaugeMetricFamily("oms_orders_known", "Orders held in memory (replayed and new)", value=len(engine.orders))
        events = CounterMetricFamily("oms_journal_events", "Journaled events since start, by type", labels=["type"])
        for kind, count in sorted((k.__name__, v) for k, v in self.event_counts.items()):
            events.add_metric([kind], count)
        yield events
        rejects = CounterMetricFamily("oms_rejects", "Refusals since start: engine/risk by code and rule, venue by code",
                                      labels=["source", "code", "rule"])
        for (source, code, rule), count in sorted(self.rejects.items()):
            rejects.add_metric([source, code, rule], count)
        yield rejects
        yield self.ack.family("oms_ack_latency_seconds", "Command queued by an API caller until its durable acknowledgement")
        yield self.commit.family("oms_journal_commit_seconds", "Time of one journal group commit (write and fsync)")
        yield self.commit_size.family("oms_journal_commit_events", "Events per journal group commit")
        yield GaugeMetricFamily("oms_journal_last_seq", "Seq of the last event decided", value=engine.seq)
        yield GaugeMetricFamily("oms_journal_committed_seq", "Seq of the last durable event", value=runtime.committed_seq)
        yield GaugeMetricFamily("oms_engine_up", "1 while the engine accepts commands",
                                value=1 if runtime.running and runtime.failure is None else 0)
        yield GaugeMetricFamily("oms_engine_queue_depth", "Commands waiting for the engine", value=runtime.queue_depth)
        up = GaugeMetricFamily("oms_venue_up", "1 when the venue gateway is connected", labels=["venue"])
        session = GaugeMetricFamily("oms_venue_session_open", "1 while the venue's trading session is open", labels=["venue"])
        for venue_id, gateway in sorted(self.venues.items()):
            up.add_metric([venue_id], 1 if venue_connected(gateway) else 0)
            session.add_metric([venue_id], 1 if getattr(gateway, "session_open", True) else 0)
        yield up
        yield session


def venue_connected(gateway: Any) -> bool:
    """A gateway may say ``connected = False`` (a FIX session down); one that does not say is in process."""
    return bool(getattr(gateway, "connected", True))
