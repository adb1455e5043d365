"""CAT-style order lifecycle events, one JSON object per line (schema: docs/schemas/cat-event.schema.json).

Modelled on the FINRA CAT Industry Member event types, reduced to what an OMS that routes to
venues reports: new order (MENO), route (MEOR), modification (MEOM), cancel (MEOC) and trade
(MEOT), and a route that ended unfilled while the order went on (MECR, route cancelled).
Each route names the routing decision that sent it (``routingRule``, ``routingReason``: the
rule or smart-router strategy, the allocation and why). Records link through ``orderID`` / ``orderKeyDate`` (the order), ``routedOrderID``
(the route) and ``tradeID`` (the execution); a trade bust or correction, and a venue refusing a
route, are a ``DEL`` / ``COR`` record whose ``refFirmROEID`` names the record it amends.
Timestamps are UTC with milliseconds. Keys are written in a fixed order and Decimals as their
exact text, so the same journal always gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..audit.timefmt import iso_ms
from ..domain import events as ev
from ..domain.accounts import ReferenceData
from ..domain.values import OrdType, Side
from .day import DayEvent, firm_designated_id, firm_of, plain, record_id, routing_of

SIDE = {Side.BUY: "B", Side.SELL: "SL", Side.SELL_SHORT: "SS", Side.SELL_SHORT_EXEMPT: "SX"}
ORDER_TYPE = {OrdType.LIMIT: "LMT", OrdType.MARKET: "MKT", OrdType.STOP: "MKT", OrdType.STOP_LIMIT: "LMT"}


def cat_records(day_events: Iterator[DayEvent], reference: ReferenceData) -> Iterator[dict[str, Any]]:
    for item in day_events:
        record = _record(item, reference)
        if record is not None:
            yield record


def _record(item: DayEvent, reference: ReferenceData) -> dict[str, Any] | None:
    event, order, accepted, after = item.event, item.order, item.accepted, item.after
    kind = type(event)
    firm = firm_of(reference, accepted.account)
    head: dict[str, Any] = {
        "type": "", "actionType": "NEW", "firmROEID": record_id(event.ts, event.seq), "CATReporterIMID": firm,
        "eventTimestamp": iso_ms(event.ts), "orderKeyDate": iso_ms(accepted.ts), "orderID": accepted.order_id,
        "symbol": accepted.symbol,
    }
    terms = {"side": SIDE[accepted.side], "orderType": ORDER_TYPE[accepted.ord_type], "timeInForce": accepted.tif.value.upper()}
    if kind is ev.OrderAccepted:
        return {**head, "type": "MENO", "clientOrderID": accepted.cl_ord_id, **terms,
                "price": plain(accepted.price), "stopPrice": plain(accepted.stop_price), "quantity": plain(accepted.quantity),
                "expireTimestamp": iso_ms(accepted.expire_at) if accepted.expire_at else None, "tradingSession": "REG",
                "firmDesignatedID": firm_designated_id(firm, accepted.account), "accountHolderType": "A",
                "deptType": "A", "representativeInd": "N", "manualFlag": False,
                "enteredBy": event.actor.user, "channel": event.actor.source}
    if kind is ev.OrderRouted:
        routed: ev.OrderRouted = event  # type: ignore[assignment]
        rule, why = routing_of(order)
        return {**head, "type": "MEOR", "routedOrderID": routed.route_id, "destination": routed.venue,
                "destinationType": "E", **terms, "price": plain(routed.price), "stopPrice": plain(accepted.stop_price),
                "quantity": plain(routed.quantity), "routeRejectedFlag": False, "routingRule": rule, "routingReason": why}
    if kind is ev.RouteEnded:
        ended: ev.RouteEnded = event  # type: ignore[assignment]
        route = order.routes[ended.route_id]
        return {**head, "type": "MECR", "routedOrderID": ended.route_id, "destination": route.venue, "destinationType": "E",
                "cancelQty": plain(route.quantity - route.cum_qty), "cancelReason": ended.reason}
    if kind is ev.OrderRejected:
        rejected: ev.OrderRejected = event  # type: ignore[assignment]
        route = order.routes[rejected.route_id]
        routed_seq, routed_ts = item.route_records.get(rejected.route_id, (event.seq, event.ts))
        return {**head, "type": "MEOR", "actionType": "COR", "refFirmROEID": record_id(routed_ts, routed_seq),
                "routedOrderID": rejected.route_id, "destination": route.venue, "destinationType": "E", **terms,
                "price": plain(route.price), "stopPrice": plain(accepted.stop_price), "quantity": plain(route.quantity),
                "routeRejectedFlag": True, "rejectReason": rejected.reason.code.value}
    if kind is ev.OrderReplaced:
        return {**head, "type": "MEOM", "priorOrderKeyDate": head["orderKeyDate"], "priorOrderID": accepted.order_id,
                "clientOrderID": after.cl_ord_id, "priorClientOrderID": after.orig_cl_ord_id, **terms,
                "price": plain(after.price), "stopPrice": plain(after.stop_price), "quantity": plain(after.quantity),
                "leavesQty": plain(after.leaves_qty), "initiator": "C",
                "firmDesignatedID": firm_designated_id(firm, accepted.account)}
    if kind is ev.OrderCanceled or kind is ev.OrderExpired:
        reason: str = event.reason  # type: ignore[attr-defined]
        before = item.before
        assert before is not None
        # The customer asked (a cancel request, whoever relayed it) or the firm/venue ended it.
        initiator = "C" if kind is ev.OrderCanceled and reason == "requested" else "F"
        return {**head, "type": "MEOC", "cancelQty": plain(before.leaves_qty), "leavesQty": plain(after.leaves_qty),
                "initiator": initiator, "cancelReason": "expired" if kind is ev.OrderExpired else reason}
    if kind is ev.OrderFilled:
        filled: ev.OrderFilled = event  # type: ignore[assignment]
        return {**head, "type": "MEOT", "tradeID": filled.exec_id, "routedOrderID": filled.route_id,
                "destination": order.routes[filled.route_id].venue, "side": SIDE[accepted.side],
                "price": plain(filled.last_px), "quantity": plain(filled.last_qty), "capacity": "A",
                "liquidity": filled.liquidity.value}
    if kind is ev.TradeBusted or kind is ev.TradeCorrected:
        exec_id = event.exec_id  # type: ignore[attr-defined]
        execution = order.executions[exec_id]
        corrected = kind is ev.TradeCorrected
        return {**head, "type": "MEOT", "actionType": "COR" if corrected else "DEL",
                "refFirmROEID": record_id(execution.ts, execution.seq), "tradeID": exec_id,
                "routedOrderID": execution.route_id, "destination": order.routes[execution.route_id].venue,
                "side": SIDE[accepted.side], "price": plain(event.last_px) if corrected else None,  # type: ignore[attr-defined]
                "quantity": plain(event.last_qty) if corrected else None, "capacity": "A",  # type: ignore[attr-defined]
                "liquidity": execution.liquidity.value}
    return None  # acks, requests, done-for-day and restatements are not CAT events


def encode_line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
