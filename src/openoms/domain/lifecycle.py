"""The order state machine, in two tables: the one home of the lifecycle rules.

An order has a *working* status (what its fills and the venue made of it) and at most one
*pending* request (a cancel or replace the venue has not answered yet). The OrdStatus a
client sees follows FIX 4.4 precedence: PendingCancel > PendingReplace > the working status.

``WORKING[(status, event type)]`` gives the next working status; ``BY_QUANTITY`` means
New / PartiallyFilled / Filled by comparing CumQty with OrderQty, ``KEEP`` leaves it.
``PENDING[(pending, event type)]`` gives the next pending request. A pair missing from
``WORKING`` is an event that cannot happen in that status; the engine never emits it.
"""

from __future__ import annotations

from enum import Enum

from . import events as ev


class OrdStatus(str, Enum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


class Target(str, Enum):
    BY_QUANTITY = "by_quantity"
    KEEP = "keep"


S = OrdStatus
BY_QUANTITY = Target.BY_QUANTITY
KEEP = Target.KEEP

# Filled is final for the client's order except through a bust or correction.
TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
LIVE = (S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED)
WORKING_ON_BOOK = (S.NEW, S.PARTIALLY_FILLED)

WORKING: dict[tuple[OrdStatus, type[ev.Event]], OrdStatus | Target] = {
    (S.PENDING_NEW, ev.OrderRouted): KEEP,
    (S.PENDING_NEW, ev.OrderAcknowledged): S.NEW,
    # An order split across venues: each route is acknowledged, and an unfilled remainder is
    # routed again while the order works.
    (S.NEW, ev.OrderAcknowledged): KEEP,
    (S.NEW, ev.OrderRouted): KEEP,
    (S.PARTIALLY_FILLED, ev.OrderRouted): KEEP,
    # A late ack (the venue filled or canceled first) changes nothing but the route.
    (S.PARTIALLY_FILLED, ev.OrderAcknowledged): KEEP,
    (S.FILLED, ev.OrderAcknowledged): KEEP,
    (S.CANCELED, ev.OrderAcknowledged): KEEP,
    (S.PENDING_NEW, ev.OrderRejected): S.REJECTED,
    # Some venues fill before (or instead of) an explicit ack.
    (S.PENDING_NEW, ev.OrderFilled): BY_QUANTITY,
    (S.NEW, ev.OrderFilled): BY_QUANTITY,
    (S.PARTIALLY_FILLED, ev.OrderFilled): BY_QUANTITY,
    # A venue's execution is booked even when it reaches an order the OMS already finished
    # (a fill racing an end-of-day expiry or a cancel, an overfill): the trade happened, and
    # positions must show it. The status stays.
    (S.FILLED, ev.OrderFilled): KEEP,
    (S.CANCELED, ev.OrderFilled): KEEP,
    (S.EXPIRED, ev.OrderFilled): KEEP,
    (S.DONE_FOR_DAY, ev.OrderFilled): KEEP,
    # Cancels: by request, IOC/FOK remainder, or the venue's own decision.
    (S.PENDING_NEW, ev.OrderCanceled): S.CANCELED,
    (S.NEW, ev.OrderCanceled): S.CANCELED,
    (S.PARTIALLY_FILLED, ev.OrderCanceled): S.CANCELED,
    (S.DONE_FOR_DAY, ev.OrderCanceled): S.CANCELED,
    # A confirmed replace can leave the order Filled (new quantity at or below CumQty).
    (S.PENDING_NEW, ev.OrderReplaced): BY_QUANTITY,  # a venue may confirm a replace before its ack
    (S.NEW, ev.OrderReplaced): BY_QUANTITY,
    (S.PARTIALLY_FILLED, ev.OrderReplaced): BY_QUANTITY,
    (S.DONE_FOR_DAY, ev.OrderReplaced): KEEP,
    (S.PENDING_NEW, ev.OrderExpired): S.EXPIRED,
    (S.NEW, ev.OrderExpired): S.EXPIRED,
    (S.PARTIALLY_FILLED, ev.OrderExpired): S.EXPIRED,
    (S.DONE_FOR_DAY, ev.OrderExpired): S.EXPIRED,
    (S.NEW, ev.OrderDoneForDay): S.DONE_FOR_DAY,
    (S.PARTIALLY_FILLED, ev.OrderDoneForDay): S.DONE_FOR_DAY,
    (S.DONE_FOR_DAY, ev.OrderRestated): BY_QUANTITY,
    # Busts and corrections move CumQty; a finished order (Canceled, Expired) stays finished.
    (S.PARTIALLY_FILLED, ev.TradeBusted): BY_QUANTITY,
    (S.FILLED, ev.TradeBusted): BY_QUANTITY,
    (S.CANCELED, ev.TradeBusted): KEEP,
    (S.EXPIRED, ev.TradeBusted): KEEP,
    (S.DONE_FOR_DAY, ev.TradeBusted): KEEP,
    (S.PARTIALLY_FILLED, ev.TradeCorrected): BY_QUANTITY,
    (S.FILLED, ev.TradeCorrected): BY_QUANTITY,
    (S.CANCELED, ev.TradeCorrected): KEEP,
    (S.EXPIRED, ev.TradeCorrected): KEEP,
    (S.DONE_FOR_DAY, ev.TradeCorrected): KEEP,
}

# Events that may arrive in any working status without changing it (requests and their answers
# are tracked by the PENDING table; the working status is untouched by them).
NEUTRAL: frozenset[type[ev.Event]] = frozenset(
    {ev.CancelRequested, ev.CancelRejected, ev.ReplaceRequested, ev.ReplaceRejected, ev.RoutingDecided, ev.RouteEnded}
)


class Pending(str, Enum):
    CANCEL = "pending_cancel"
    REPLACE = "pending_replace"


PENDING: dict[tuple[Pending | None, type[ev.Event]], Pending | None] = {
    (None, ev.CancelRequested): Pending.CANCEL,
    (None, ev.ReplaceRequested): Pending.REPLACE,
    (Pending.CANCEL, ev.CancelRejected): None,
    (Pending.CANCEL, ev.OrderCanceled): None,
    (Pending.CANCEL, ev.OrderExpired): None,
    (Pending.REPLACE, ev.ReplaceRejected): None,
    (Pending.REPLACE, ev.OrderReplaced): None,
    # A replace cannot happen to an order that is gone: show Canceled/Expired, not PendingReplace.
    (Pending.REPLACE, ev.OrderCanceled): None,
    (Pending.REPLACE, ev.OrderExpired): None,
}


def next_working(status: OrdStatus, event_type: type[ev.Event]) -> OrdStatus | Target | None:
    """The working-status rule for an event, KEEP for neutral ones, None if it cannot happen."""
    if event_type in NEUTRAL:
        return KEEP
    return WORKING.get((status, event_type))


def next_pending(pending: Pending | None, event_type: type[ev.Event]) -> Pending | None:
    """The pending request after an event; unchanged unless the PENDING table says otherwise."""
    return PENDING.get((pending, event_type), pending)


def reported_status(working: OrdStatus, pending: Pending | None) -> OrdStatus:
    """FIX precedence: PendingCancel > PendingReplace > the working status."""
    if pending is Pending.CANCEL:
        return OrdStatus.PENDING_CANCEL
    if pending is Pending.REPLACE:
        return OrdStatus.PENDING_REPLACE
    return working
