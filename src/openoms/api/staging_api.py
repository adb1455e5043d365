"""REST endpoints of staged orders: a portfolio manager stages an order, a trader picks it up and
releases it to the market. Every step is an engine command, journaled with its user; the release
is an ordinary new order (every check; its ClOrdID is the staged id) that the engine accepts only
as the release of the trader who picked it up, with the staged terms (staging/desk.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..access.policy import Principal
from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain.ids import AccountId, ClientOrderId, Symbol
from ..domain.values import OrdType, Side, TimeInForce
from ..service.views import order_view, staged_view
from ..staging import commands as sc
from ..staging.desk import OPEN, PICKED_UP, StagedOrder
from . import schemas
from .rest import actor_of, decode_body, error_response, json_response, reject_response, visible_accounts


class StageRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account: schemas.Id
    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    side: Side
    quantity: Decimal
    ord_type: OrdType = OrdType.LIMIT
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    for_trader: Annotated[str, msgspec.Meta(max_length=64)] = ""  # only this trader may pick it up ("" any)
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ReleaseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    route: Annotated[str, msgspec.Meta(max_length=64)] = ""  # "" routing rules, "sor", or a venue id


class CancelStagedRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


def register(app: FastAPI, oms: OMS) -> None:
    desk = oms.staging
    if desk is None:
        return
    runtime, engine = oms.runtime, oms.engine

    def principal(request: Request) -> Principal | None:
        found = request.scope.get("state", {}).get("principal")
        return found if isinstance(found, Principal) and not found.trusted else None

    def find(request: Request, staged_id: str, trading: bool) -> StagedOrder | Response:
        """The staged order if the caller sees it (else 404, as if absent) and, to pick up or
        release, trades its account (else 403)."""
        order = desk.orders.get(staged_id)
        caller = principal(request)
        if order is None or (caller is not None and not caller.sees(order.staged.account)):
            return error_response(404, "UNKNOWN_STAGED_ORDER", f"unknown staged order {staged_id!r}", {"staged_id": staged_id})
        if trading and caller is not None and not caller.trades(order.staged.account):
            return error_response(403, "NOT_ENTITLED", f"{caller.user!r} may not trade account {order.staged.account!r}",
                                  {"user": caller.user, "account": order.staged.account})
        return order

    async def run(command: cmd.Command, staged_id: str | None, status: int = 200) -> Response:
        outcome = await runtime.execute(command)
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)
        made = next((e for e in outcome.events if type(e).__name__ == "OrderStaged"), None)
        key = getattr(made, "staged_id", None) or staged_id or ""
        return json_response({"staged": staged_view(desk.orders[key])}, status)

    @app.post("/api/v1/staged", status_code=201, tags=["staging"], summary="Stage an order for a trader (portfolio manager)",
              openapi_extra=schemas.schema_of(StageRequest))
    async def stage(request: Request) -> Response:
        body = decode_body(await request.body(), StageRequest)
        caller = principal(request)
        if caller is not None and not caller.sees(body.account):
            return error_response(403, "NOT_ENTITLED", f"{caller.user!r} may not stage orders for account {body.account!r}",
                                  {"user": caller.user, "account": body.account})
        return await run(sc.StageOrder(actor=actor_of(request, oms), account=AccountId(body.account), symbol=Symbol(body.symbol),
                                       side=body.side, quantity=body.quantity, ord_type=body.ord_type, price=body.price,
                                       stop_price=body.stop_price, tif=body.tif, for_trader=body.for_trader.strip(),
                                       note=body.note.strip()), None, 201)

    @app.get("/api/v1/staged", tags=["staging"], summary="Staged orders, newest first (open ones unless all=true)")
    async def list_staged(request: Request, all: bool = False) -> Response:
        await runtime.wait_durable(engine.seq)
        visible = visible_accounts(request)
        rows = [staged_view(o) for o in reversed(desk.orders.values())
                if (all or o.status in OPEN) and (visible is None or o.staged.account in visible)]
        return json_response({"staged": rows})

    @app.post("/api/v1/staged/{staged_id}/pick-up", tags=["staging"], summary="Take a staged order to work it (trader)")
    async def pick_up(staged_id: str, request: Request) -> Response:
        found = find(request, staged_id, trading=True)
        if isinstance(found, Response):
            return found
        return await run(sc.PickUpStagedOrder(actor=actor_of(request, oms), staged_id=staged_id), staged_id)

    @app.post("/api/v1/staged/{staged_id}/release", status_code=201, tags=["staging"],
              summary="Send a picked-up staged order to the market as a new order (the trader who picked it up)")
    async def release(staged_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), ReleaseRequest, optional=True)
        found = find(request, staged_id, trading=True)
        if isinstance(found, Response):
            return found
        actor = actor_of(request, oms)
        # A quick answer for the plain case; the decision is the engine's (StagingDesk.vet_new_order,
        # in the step that accepts the order), so a withdrawal queued ahead of the release still wins.
        if found.status != PICKED_UP or found.trader != actor.user:
            owner = f"picked up by {found.trader}" if found.status == PICKED_UP else found.status
            return error_response(409, "NOT_PICKED_UP", f"staged order {staged_id} is {owner}: pick it up before releasing it",
                                  {"staged_id": staged_id, "status": found.status, "trader": found.trader})
        staged = found.staged
        outcome = await runtime.execute(cmd.SubmitOrder(
            actor=actor, account=staged.account, cl_ord_id=ClientOrderId(staged.staged_id), symbol=staged.symbol,
            side=staged.side, quantity=staged.quantity, ord_type=staged.ord_type, price=staged.price,
            stop_price=staged.stop_price, tif=staged.tif, route=body.route))
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)  # still picked up: release again, or cancel it
        order = engine.orders.get(found.order_id) if found.order_id else None  # type: ignore[call-overload]
        return json_response({"staged": staged_view(found), "order": order_view(order) if order is not None else outcome.order}, 201)

    @app.post("/api/v1/staged/{staged_id}/cancel", tags=["staging"], summary="Withdraw a staged order (portfolio manager)")
    async def cancel(staged_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), CancelStagedRequest, optional=True)
        found = find(request, staged_id, trading=False)
        if isinstance(found, Response):
            return found
        return await run(sc.CancelStagedOrder(actor=actor_of(request, oms), staged_id=staged_id, reason=body.reason.strip()),
                         staged_id)
