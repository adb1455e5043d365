"""REST routes for audit and compliance: order reconstruction and queries over the journal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import FastAPI, Query
from fastapi.responses import Response

from ..audit.queries import AuditQueries
from ..bootstrap import OMS
from ..domain.ids import OrderId
from ..domain.rejects import RejectCode
from .rest import error_response, json_response, to_ns

WINDOW = {"since": "at or after (ISO 8601 with timezone)", "until": "before (ISO 8601 with timezone)"}


def register_audit_routes(app: FastAPI, oms: OMS) -> None:
    engine = oms.engine
    runtime = oms.runtime

    def durable_seqs(order_id: OrderId) -> Sequence[int] | None:
        order = engine.orders.get(order_id)
        if order is None or order.seqs[0] > runtime.committed_seq:
            return None
        return [seq for seq in order.seqs if seq <= runtime.committed_seq]

    def status_of(order_id: OrderId) -> str | None:
        order = engine.orders.get(order_id)
        return order.status.value if order is not None else None

    queries = AuditQueries(oms.journal, oms.audit, seqs_of=durable_seqs, status_of=status_of)

    def window(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
        return (to_ns(since, "since") if since else None, to_ns(until, "until") if until else None)

    @app.get("/api/v1/audit/orders/{order_id}", tags=["audit"],
             summary="Reconstruct an order: every event with who, from where, when, state before/after and market price")
    async def audit_order(order_id: str) -> Response:
        order = engine.orders.get(OrderId(order_id))
        if order is None or order.seqs[0] > runtime.committed_seq:
            return error_response(404, RejectCode.UNKNOWN_ORDER.value, f"unknown order {order_id!r}", {"order_id": order_id})
        seqs = list(order.seqs)
        await runtime.wait_durable(seqs[-1])  # the history shown is what a restart would rebuild
        return json_response(queries.order(OrderId(order_id), seqs))

    @app.get("/api/v1/audit/orders", tags=["audit"],
             summary="Orders accepted in a time window for a trader, account and/or instrument, oldest first")
    async def audit_orders(
        trader: str | None = None, account: str | None = None, symbol: str | None = None,
        since: datetime | None = Query(None, description=WINDOW["since"]),
        until: datetime | None = Query(None, description=WINDOW["until"]),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> Response:
        start, end = window(since, until)
        return json_response(queries.orders(account, trader, symbol, start, end, limit))

    @app.get("/api/v1/audit/actions", tags=["audit"], summary="Everything a user did (journaled events they caused), oldest first")
    async def audit_actions(
        user: str,
        since: datetime | None = Query(None, description=WINDOW["since"]),
        until: datetime | None = Query(None, description=WINDOW["until"]),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> Response:
        start, end = window(since, until)
        return json_response(queries.actions(user, start, end, limit))

    @app.get("/api/v1/audit/controls", tags=["audit"],
             summary="Limit and restricted-list changes, kill switches engaged and released, refused attempts at them")
    async def audit_controls(
        since: datetime | None = Query(None, description=WINDOW["since"]),
        until: datetime | None = Query(None, description=WINDOW["until"]),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> Response:
        start, end = window(since, until)
        return json_response(queries.controls(start, end, limit))
