"""Audit queries: answers read from the journal, found through the audit index.

``AuditQueries`` serves both places an auditor asks from: the running server (order seqs from
the engine, the index kept current by the runtime) and ``oms audit`` on a journal file with no
server (``scan`` builds the index, order seqs included, in one pass over the journal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..domain import events as ev
from ..domain.ids import OrderId
from ..service.ports import Journal
from ..service.views import dec
from .index import AuditIndex
from .reconstruct import actor_view, event_detail, order_history
from .timefmt import iso_us

SeqsOf = Callable[[OrderId], Sequence[int] | None]
StatusOf = Callable[[OrderId], str | None]
Progress = Callable[[int], None]


def scan(journal: Journal, progress: Progress | None = None, every: int = 10_000) -> AuditIndex:
    """Build the audit index, with every order's seqs, from the whole journal: what ``oms audit``
    does when no server holds one. ``progress`` is told the seq reached every ``every`` events.
    (Skipping the decoding of routes and acks by their bytes was tried: reading raw records cost
    more than the decoding it saved.)"""
    index = AuditIndex(keep_order_seqs=True)
    chunk: list[ev.Event] = []
    for event in journal.events():
        chunk.append(event)
        if len(chunk) >= every:
            index.observe_all(chunk)
            chunk = []
            if progress is not None:
                progress(index.last_seq)
    index.observe_all(chunk)
    if progress is not None:
        progress(index.last_seq)
    return index


def event_row(event: ev.Event) -> dict[str, Any]:
    return {"seq": event.seq, "time": iso_us(event.ts), "type": type(event).__name__, "actor": actor_view(event.actor),
            "order_id": getattr(event, "order_id", None), "detail": event_detail(event)}


class AuditQueries:
    def __init__(self, journal: Journal, index: AuditIndex, seqs_of: SeqsOf | None = None,
                 status_of: StatusOf | None = None) -> None:
        self.journal = journal
        self.index = index
        self._seqs_of = seqs_of or self._indexed_seqs
        self._status_of = status_of or self._folded_status

    def _indexed_seqs(self, order_id: OrderId) -> Sequence[int] | None:
        return self.index.order_seqs.get(order_id) if self.index.order_seqs is not None else None

    def _folded_status(self, order_id: OrderId) -> str | None:
        seqs = self._indexed_seqs(order_id)
        if not seqs:
            return None
        return str(order_history(self.journal.events_at(list(seqs)))["order"]["status"])

    # --- one order ----------------------------------------------------------------------------

    def order_seqs(self, order_id: OrderId) -> list[int] | None:
        seqs = self._seqs_of(order_id)
        return list(seqs) if seqs else None

    def order(self, order_id: OrderId, seqs: Sequence[int] | None = None) -> dict[str, Any] | None:
        """The order's full reconstruction, or None for an order the journal does not have."""
        seqs = seqs if seqs is not None else self.order_seqs(order_id)
        if not seqs:
            return None
        return order_history(self.journal.events_at(list(seqs)), self.index.price_at)

    # --- compliance queries -----------------------------------------------------------------------

    def orders(self, account: str | None = None, trader: str | None = None, symbol: str | None = None,
               since: int | None = None, until: int | None = None, limit: int = 1000) -> dict[str, Any]:
        """Orders accepted in [since, until) for a trader, account and/or instrument, oldest first."""
        seqs = self.index.order_acceptances(account, trader, symbol, since, until)
        rows = []
        for event in self.journal.events_at(seqs[:limit]):
            assert isinstance(event, ev.OrderAccepted)
            rows.append({
                "order_id": event.order_id, "accepted_seq": event.seq, "accepted_at": iso_us(event.ts),
                "account": event.account, "trader": event.trader, "symbol": event.symbol, "side": event.side.value,
                "ord_type": event.ord_type.value, "quantity": str(event.quantity), "price": dec(event.price),
                "tif": event.tif.value, "cl_ord_id": event.cl_ord_id, "entered_by": actor_view(event.actor),
                "reference_price": dec(event.reference_price), "status": self._status_of(event.order_id),
            })
        return {"orders": rows, "count": len(rows), "matched": len(seqs), "truncated": len(seqs) > limit}

    def actions(self, user: str, since: int | None = None, until: int | None = None, limit: int = 1000) -> dict[str, Any]:
        """Every journaled event a user caused (orders, replaces, cancels, refusals, busts, limit and
        kill-switch changes), oldest first. Venue reports are the venue's, not the user's; the routing
        that follows each acceptance is part of the order's history, not a separate action."""
        seqs = self.index.actions_of(user, since, until)
        rows = [event_row(e) for e in self.journal.events_at(seqs[:limit])]
        return {"user": user, "events": rows, "count": len(rows), "matched": len(seqs), "truncated": len(seqs) > limit}

    def controls(self, since: int | None = None, until: int | None = None, limit: int = 1000) -> dict[str, Any]:
        """Every limit change, restricted-list change, kill switch engaged or released, and every refused
        attempt at one, oldest first, with who and why."""
        seqs = self.index.control_changes(since, until)
        rows = [event_row(e) for e in self.journal.events_at(seqs[:limit])]
        return {"events": rows, "count": len(rows), "matched": len(seqs), "truncated": len(seqs) > limit}
