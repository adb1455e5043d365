"""Prometheus metrics for the running OMS, exposed at ``/metrics`` with prometheus-client.

What is counted on the engine loop is counted in plain ints (events by type with one
``Counter.update`` per batch, in C; a bisect per latency sample) and turned into Prometheus
families only when scraped: the client's own ``Counter.inc`` / ``Histogram.observe`` take a
lock each, about 1 us, which per event would cost the engine several percent of its
throughput. Everything here runs on the event loop thread (subscribers and runtime hooks), so
no lock is needed. The counts start from the replayed journal, so they cover its whole life.

Exposed (all prefixed ``oms_``):
- ``orders{status}``: orders in each status now. Open statuses come from a walk of the open
  orders at scrape time; canceled, expired and rejected are the counts of the events that end
  an order that way (each happens once per order), and filled is every other finished order.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..domain import events as ev
from ..domain.engine import OrderEngine
from ..service.runtime import EngineRuntime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COMMIT_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
SIZE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)
# The events that end an order in that status, each at most once per order (lifecycle.py).
_ENDINGS = ((ev.OrderCanceled, "canceled"), (ev.OrderExpired, "expired"), (ev.OrderRejected, "rejected"))


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
        self._refusals_seen = 0  # CommandRejected + OrderRejected counted into ``rejects`` so far
        self.ack = Buckets(ACK_BUCKETS)
        self.commit = Buckets(COMMIT_BUCKETS)
        self.commit_size = Buckets(SIZE_BUCKETS)
        self.last_commit = 0.0  # time.monotonic() of the last durable batch
        # The FIX sessions (role "client", "drop_copy" or "venue", session): set by OMS.start once they exist.
        self.fix_sessions: Callable[[], list[tuple[str, Any]]] = list
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    def attach(self) -> None:
        """Hook into the runtime: the replay (call before it) and every durable batch after it."""
        self.runtime.replay_observers.append(self.on_batch)
        self.runtime.subscribers.append(self.on_batch)
        self.runtime.ack_observer = self.ack.observe
        self.runtime.commit_observer = self.on_commit

    # --- fed by the runtime (event loop thread) ---------------------------------------------------

    def on_commit(self, seconds: float, events: int) -> None:
        self.commit.observe(seconds)
        self.commit_size.observe(events)
        self.last_commit = time.monotonic()

    def on_batch(self, events: Sequence[ev.Event]) -> None:
        counts = self.event_counts
        counts.update(map(type, events))
        refusals = counts[ev.CommandRejected] + counts[ev.OrderRejected]
        if refusals == self._refusals_seen:
            return  # the usual batch: no refusal in it, nothing more to look at
        self._refusals_seen = refusals
        for event in events:
            kind = type(event)
            if kind is ev.CommandRejected or kind is ev.OrderRejected:
                reason = event.reason  # type: ignore[attr-defined]
                rule = reason.detail.get("rule", "") if isinstance(reason.detail, dict) else ""
                source = "engine" if kind is ev.CommandRejected else "venue"
                self.rejects[source, reason.code.value, str(rule)] += 1

    # --- scraped ------------------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        runtime, engine = self.runtime, self.engine
        statuses = Counter(order.status.value for order in engine.live.values())
        finished = len(engine.orders) - len(engine.live)
        for ending, status in _ENDINGS:
            statuses[status] = self.event_counts[ending]
            finished -= statuses[status]
        # The engine may be a batch ahead of the durable events counted here: never show less than 0.
        statuses["filled"] = max(finished, 0)
        by_status = GaugeMetricFamily("oms_orders", "Orders by OrdStatus, now", labels=["status"])
        for status, count in sorted(statuses.items()):
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily("oms_orders_open", "Orders that can still trade", value=len(engine.live))
        events = CounterMetricFamily("oms_journal_events", "Journaled events by type (the whole journal)", labels=["type"])
        for name, count in sorted((k.__name__, v) for k, v in self.event_counts.items()):
            events.add_metric([name], count)
        yield events
        rejects = CounterMetricFamily("oms_rejects", "Refusals in the journal: engine/risk by code and rule, venue by code",
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
                                value=1 if runtime.running and runtime.unavailable is None else 0)
        yield GaugeMetricFamily("oms_engine_queue_depth", "Commands waiting for the engine", value=runtime.queue_depth)
        up = GaugeMetricFamily("oms_venue_up", "1 when the venue gateway is connected", labels=["venue"])
        session = GaugeMetricFamily("oms_venue_session_open", "1 while the venue's trading session is open", labels=["venue"])
        for venue_id, gateway in sorted(self.venues.items()):
            up.add_metric([venue_id], 1 if venue_connected(gateway) else 0)
            session.add_metric([venue_id], 1 if getattr(gateway, "session_open", True) else 0)
        yield up
        yield session
        logged_on = GaugeMetricFamily("oms_fix_session_logged_on", "1 while the FIX session is logged on",
                                      labels=["session", "role"])
        seq_in = GaugeMetricFamily("oms_fix_session_next_seq_in", "The next MsgSeqNum expected from the counterparty",
                                   labels=["session", "role"])
        seq_out = GaugeMetricFamily("oms_fix_session_next_seq_out", "The next MsgSeqNum this side sends", labels=["session", "role"])
        for role, fix_session in self.fix_sessions():
            labels = [fix_session.key, role]
            logged_on.add_metric(labels, 1 if fix_session.logged_on else 0)
            seq_in.add_metric(labels, fix_session.next_in)
            seq_out.add_metric(labels, fix_session.next_out)
        yield logged_on
        yield seq_in
        yield seq_out


def venue_connected(gateway: Any) -> bool:
    """A gateway may say ``connected = False`` (a FIX session down); one that does not say is in process."""
    return bool(getattr(gateway, "connected", True))
