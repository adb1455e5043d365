"""REST endpoints of execution algorithms: start a parent (TWAP, VWAP, POV, iceberg), follow it
with its children, and pause, resume, modify or cancel it (cascading to its children). Every
action goes through the engine as a command and is journaled."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain.algos import AlgoParent
from ..domain.ids import AccountId, Symbol
from ..domain.values import Side
from ..service.views import algo_view, iso, order_view
from .rest import actor_of, decode_body, error_response, json_response, reject_response, to_ns

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AlgoRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account: Id
    symbol: Id
    side: Side
    quantity: Decimal
    kind: str  # twap, vwap, pov, iceberg
    limit_price: Decimal | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    interval_s: int = 60
    participation_pct: Decimal | None = None
    min_participation_pct: Decimal | None = None
    max_participation_pct: Decimal | None = None
    display_qty: Decimal | None = None
    profile: list[Decimal] = []
    route: Annotated[str, msgspec.Meta(max_length=64)] = ""
    cl_ord_id: Id | None = None


class ModifyRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    end_at: datetime | None = None
    participation_pct: Decimal | None = None


class ReasonRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str = ""


def register(app: FastAPI, oms: OMS) -> None:
    runtime, engine = oms.runtime, oms.engine

    def view(algo: AlgoParent) -> dict[str, Any]:
        return {**algo_view(engine, algo), "children": [order_view(engine.orders[c]) for c in algo.children]}

    async def run(command: cmd.Command, algo_id: str | None, status: int = 200) -> Response:
        outcome = await runtime.execute(command)
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)
        started = next((e for e in outcome.events if type(e).__name__ == "AlgoStarted"), None)
        algo = engine.algos[started.algo_id if started is not None else algo_id or ""]  # type: ignore[attr-defined]
        return json_response({"algo": view(algo)}, status)

    @app.post("/api/v1/algos", status_code=201, tags=["algos"], summary="Start an execution algorithm (parent order)")
    async def start_algo(request: Request) -> Response:
        body = decode_body(await request.body(), AlgoRequest)
        quote = oms.quotes.get(body.symbol)
        command = cmd.StartAlgo(
            actor=actor_of(request, oms), account=AccountId(body.account),
            cl_ord_id=body.cl_ord_id or f"ALGO-{engine.seq + 1}", symbol=Symbol(body.symbol), side=body.side,
            quantity=body.quantity, kind=body.kind, limit_price=body.limit_price,
            start_at=to_ns(body.start_at, "start_at") if body.start_at else None,
            end_at=to_ns(body.end_at, "end_at") if body.end_at else None, interval_s=body.interval_s,
            participation_pct=body.participation_pct, min_participation_pct=body.min_participation_pct,
            max_participation_pct=body.max_participation_pct, display_qty=body.display_qty, profile=tuple(body.profile),
            route=body.route, market_volume=quote.volume if quote is not None else Decimal(0))
        return await run(command, None, 201)

    @app.get("/api/v1/algos", tags=["algos"], summary="Execution algorithms, newest first")
    async def list_algos() -> Response:
        await runtime.wait_durable(engine.seq)
        return json_response({"algos": [view(a) for a in reversed(engine.algos.values())]})

    @app.get("/api/v1/algos/{algo_id}", tags=["algos"], summary="One execution algorithm with its children")
    async def get_algo(algo_id: str) -> Response:
        algo = engine.algos.get(algo_id)
        if algo is None:
            return error_response(404, "UNKNOWN_ALGO", f"unknown algorithm {algo_id!r}", {"algo_id": algo_id})
        await runtime.wait_durable(engine.seq)
        return json_response({"algo": view(algo), "started_at": iso(engine.algos[algo_id].params.start_at)})

    @app.post("/api/v1/algos/{algo_id}/pause", tags=["algos"], summary="Pause: no new children; working ones are canceled")
    async def pause(algo_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), ReasonRequest, optional=True)
        return await run(cmd.PauseAlgo(actor=actor_of(request, oms), algo_id=algo_id, reason=body.reason), algo_id)

    @app.post("/api/v1/algos/{algo_id}/resume", tags=["algos"], summary="Resume a paused algorithm")
    async def resume(algo_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), ReasonRequest, optional=True)
        return await run(cmd.ResumeAlgo(actor=actor_of(request, oms), algo_id=algo_id, reason=body.reason), algo_id)

    @app.post("/api/v1/algos/{algo_id}/cancel", tags=["algos"], summary="Cancel the parent and every working child")
    async def cancel(algo_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), ReasonRequest, optional=True)
        return await run(cmd.CancelAlgo(actor=actor_of(request, oms), algo_id=algo_id, reason=body.reason), algo_id)

    @app.post("/api/v1/algos/{algo_id}/modify", tags=["algos"],
              summary="New quantity, limit, end time or participation; working children are re-sliced on them")
    async def modify(algo_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), ModifyRequest)
        return await run(cmd.ModifyAlgo(actor=actor_of(request, oms), algo_id=algo_id, quantity=body.quantity,
                                        limit_price=body.limit_price,
                                        end_at=to_ns(body.end_at, "end_at") if body.end_at else None,
                                        participation_pct=body.participation_pct), algo_id)
