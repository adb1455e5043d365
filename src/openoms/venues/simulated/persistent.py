"""A simulated venue that outlives the OMS process, as an exchange does.

``SimulatedVenue`` lives inside ``oms serve`` and dies with it, so a restart ``restore``s its
books from the journal. An exchange does not die with the OMS: it goes on matching while the
OMS is down, and the OMS must ask what happened. This venue models that: ``disconnect()`` (the
OMS crashed or lost its session) keeps every report it could not deliver, as a FIX venue keeps
messages for resend; ``connect(sink)`` binds the restarted OMS; ``request_status(routes, done)``
(the ``StatusRequests`` port) delivers what was kept, answers UNKNOWN_ORDER for any asked-about
route it never received, then calls ``done``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...domain.commands import VenueRejected, VenueReport
from ...domain.rejects import Reject, RejectCode
from ...service.ports import ReportSink, RouteRequest
from .venue import SimulatedVenue


class PersistentSimulatedVenue(SimulatedVenue):
    """Implements ``VenueGateway`` and ``StatusRequests``."""

    outbox: list[VenueReport]

    def disconnect(self) -> None:
        """The OMS is gone: keep the reports for it (matching goes on)."""
        self.outbox = []
        self._report = self.outbox.append

    def connect(self, report: ReportSink) -> None:
        """A (restarted) OMS is here. What was kept waits for its status request."""
        if not hasattr(self, "outbox"):
            self.outbox = []
        self._report = report

    def request_status(self, routes: Sequence[RouteRequest], done: Callable[[], None]) -> None:
        kept, self.outbox = getattr(self, "outbox", []), []
        for report in kept:
            self._report(report)
        answered = {getattr(report, "route_id", None) for report in kept}
        for route in routes:
            if route.route_id not in answered and self._book_for(route.route_id) is None:
                self._report(VenueRejected(actor=self._actor, route_id=route.route_id, reason=Reject(
                    RejectCode.UNKNOWN_ORDER, f"{self.venue_id} never received route {route.route_id}",
                    {"route_id": route.route_id, "venue": self.venue_id})))
        done()
