"""REST API (FastAPI). Parses, calls the engine runtime, renders; no business rules here.

Every error is JSON ``{"error": {"code", "message", "detail"}}`` with a 4xx status; only an
engine that cannot journal answers 503. Request bodies are decoded with msgspec from the raw
bytes so numbers become Decimal without passing through a float.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..access.users import UserStoreUnavailable
from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain.accounts import ReferenceData
from ..domain.ids import AccountId, ClientOrderId, ExecId, OrderId, Symbol, VenueId
from ..domain.lifecycle import OrdStatus
from ..domain.rejects import Reject, RejectCode
from ..journal.codec import to_builtins
from ..ops.metrics import venue_connected
from ..service.runtime import EngineUnavailable, Outcome
from ..service.views import dec, iso, order_view, position_view
from . import schemas

log = logging.getLogger("openoms.api")
T = TypeVar("T")

STATUS_OF = {
    RejectCode.UNKNOWN_ORDER: 404,
    RejectCode.DUPLICATE_CL_ORD_ID: 409,
    RejectCode.TOO_LATE: 409,
    RejectCode.ALREADY_PENDING: 409,
    RejectCode.NOT_PERMITTED: 403,
    RejectCode.UNKNOWN_TRADER: 403,
    RejectCode.ENGINE_UNAVAILABLE: 503,
    RejectCode.KILL_SWITCH: 403,
    RejectCode.UNKNOWN_ALGO: 404,
}

_json = msgspec.json.Encoder(decimal_format="string")


def json_response(content: Any, status: int = 200) -> Response:
    return Response(_json.encode(content), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str, detail: Any = None) -> Response:
    return json_response({"error": {"code": code, "message": message, "detail": detail or {}}}, status)


def reject_response(reason: Reject) -> Response:
    return error_response(STATUS_OF.get(reason.code, 422), reason.code.value, reason.message, reason.detail)


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def decode_body(body: bytes, kind: type[T], optional: bool = False) -> T:
    if not body.strip():
        if optional:
            return kind()
        raise BadRequest(400, "MALFORMED_JSON", "request body is empty; a JSON object is required")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(422, "INVALID_FIELD", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(400, "MALFORMED_JSON", f"request body is not valid JSON: {exc}") from None


def actor_of(request: Request, oms: OMS) -> cmd.Actor:
    # The user the access middleware authenticated (api/access.py); in trusted-header mode, the header's.
    principal = request.scope.get("state", {}).get("principal")
    user = principal.user if principal is not None else request.headers.get("x-oms-user") or oms.config.default_user
    client = request.client
    return cmd.Actor(user, "rest", f"{client.host}:{client.port}" if client else "")


def visible_accounts(request: Request) -> frozenset[str] | None:
    """The accounts the caller may see (its entitlements), or None for all."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.visible() if principal is not None else None


def to_ns(moment: datetime, field: str) -> int:
    if moment.tzinfo is None:
        raise BadRequest(422, "INVALID_FIELD", f"{field} needs a timezone (for example 2026-11-26T21:00:00Z)")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def instruments_view(reference: ReferenceData) -> list[dict[str, Any]]:
    return [{
        "symbol": i.symbol, "description": i.description, "asset_class": i.asset_class.value,
        "currency": i.currency, "tick_size": str(i.tick_size), "lot_size": str(i.lot_size),
        "multiplier": str(i.multiplier), "quotation": i.quotation.value,
        "settlement_days": i.settlement_days, "venues": list(i.venues), "underlying": i.underlying,
        "expiry": i.expiry, "strike": dec(i.strike), "put_call": i.put_call,
    } for i in reference.instruments.values()]


def accounts_view(reference: ReferenceData) -> list[dict[str, Any]]:
    items = []
    for a in reference.accounts.values():
        desk = reference.desks[a.desk_id]
        items.append({
            "account": a.account_id, "name": a.name, "currency": a.currency, "desk": desk.desk_id, "firm": desk.firm_id,
            "traders": [t.trader_id for t in reference.traders.values() if a.account_id in t.accounts],
        })
    return items


def new_order_command(body: schemas.NewOrderRequest, actor: cmd.Actor) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(
        actor=actor,
        account=AccountId(body.account),
        cl_ord_id=ClientOrderId(body.cl_ord_id or f"REST-{uuid.uuid4().hex[:16]}"),
        symbol=Symbol(body.symbol),
        side=body.side,
        quantity=body.quantity,
        ord_type=body.ord_type,
        price=body.price,
        stop_price=body.stop_price,
        tif=body.tif,
        expire_at=to_ns(body.expire_at, "expire_at") if body.expire_at else None,
        route=body.route,
    )


def create_app(oms: OMS, manage_lifecycle: bool = False, trusted_header: bool = False) -> FastAPI:
    """The FastAPI app. With ``manage_lifecycle`` the app starts and stops the OMS itself
    (``oms serve``); tests that drive the OMS directly leave it off. Every /api/ call needs a
    session token or API key, unless ``trusted_header`` (embedded use and tests only): then the
    ``X-OMS-User`` header names the user with no credential (see api/access.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await oms.start()
            log.info("OpenOMS %s ready (journal %s, %s)", __version__, oms.journal_location, oms.config.durability)
        try:
            yield
        finally:
            if manage_lifecycle:
                await oms.stop()
                log.info("OpenOMS stopped; journal flushed and closed")

    app = FastAPI(
        lifespan=lifespan,
        title="OpenOMS",
        version=__version__,
        description="Order management: submit, replace and cancel orders; follow executions and positions.",
    )
    app.state.oms = oms
    runtime = oms.runtime
    engine = oms.engine

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")} for err in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return error_response(422, "INVALID_FIELD", message, {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(EngineUnavailable)
    async def _unavailable(request: Request, exc: EngineUnavailable) -> Response:
        return reject_response(exc.reject)

    @app.exception_handler(UserStoreUnavailable)
    async def _users_unavailable(request: Request, exc: UserStoreUnavailable) -> Response:
        return error_response(503, "USER_STORE_UNAVAILABLE", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "INTERNAL_ERROR", "unexpected server error; it has been logged")

    def submit_command(body: schemas.NewOrderRequest, request: Request) -> cmd.SubmitOrder:
        return new_order_command(body, actor_of(request, oms))

    async def run(command: cmd.Command, status: int) -> Response:
        outcome: Outcome = await runtime.execute(command)
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)
        return json_response({"order": outcome.order, "events": [to_builtins(e) for e in outcome.events]}, status)

    # --- orders ---------------------------------------------------------------------------

    @app.post("/api/v1/orders", status_code=201, tags=["orders"], summary="Submit a new order",
              openapi_extra=schemas.schema_of(schemas.NewOrderRequest))
    async def submit_order(request: Request) -> Response:
        command = submit_command(decode_body(await request.body(), schemas.NewOrderRequest), request)
        return await run(command, 201)

    @app.get("/api/v1/orders", tags=["orders"], summary="List orders, newest first")
    async def list_orders(
        request: Request,
        status: OrdStatus | None = None,
        account: str | None = None,
        symbol: str | None = None,
        since: datetime | None = Query(None, description="created at or after (ISO 8601 with timezone)"),
        until: datetime | None = Query(None, description="created before (ISO 8601 with timezone)"),
        open_only: bool = Query(False, alias="open", description="only orders that can still trade"),
        limit: int = Query(500, ge=1, le=10_000),
    ) -> Response:
        since_ns = to_ns(since, "since") if since else None
        until_ns = to_ns(until, "until") if until else None
        source = engine.live.values() if open_only else engine.orders.values()
        result = []
        durable = runtime.committed_seq
        shown_seq = 0
        visible = visible_accounts(request)
        for order in reversed(list(source)):
            if order.seqs[0] > durable:
                continue  # accepted in memory, not yet journaled: not an order yet for anyone outside
            if visible is not None and order.account not in visible:
                continue
            if status is not None and order.status is not status:
                continue
            if account is not None and order.account != account:
                continue
            if symbol is not None and order.symbol != symbol:
                continue
            if since_ns is not None and order.created_ts < since_ns:
                continue
            if until_ns is not None and order.created_ts >= until_ns:
                continue
            result.append(order_view(order))
            shown_seq = max(shown_seq, order.last_seq)
            if len(result) >= limit:
                break
        await runtime.wait_durable(shown_seq)  # what is shown is what a restart would rebuild
        return json_response({"orders": result, "count": len(result)})

    @app.get("/api/v1/orders/{order_id}", tags=["orders"], summary="One order with its full event history")
    async def get_order(order_id: str) -> Response:
        order = engine.orders.get(OrderId(order_id))
        if order is None or order.seqs[0] > runtime.committed_seq:
            return error_response(404, RejectCode.UNKNOWN_ORDER.value, f"unknown order {order_id!r}", {"order_id": order_id})
        view = order_view(order)
        seqs = list(order.seqs)
        await runtime.wait_durable(seqs[-1])
        history = [to_builtins(e) for e in oms.journal.events_at(seqs)]
        for item in history:
            item["time"] = iso(int(item["ts"]))  # type: ignore[call-overload]
        return json_response({"order": view, "events": history})

    @app.post("/api/v1/orders/{order_id}/replace", status_code=202, tags=["orders"],
              summary="Replace quantity and/or price (answered PendingReplace; the venue confirms)",
              openapi_extra=schemas.schema_of(schemas.ReplaceRequest))
    async def replace_order(order_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.ReplaceRequest)
        if body.quantity is None and body.price is None and body.stop_price is None:
            raise BadRequest(422, "INVALID_FIELD", "a replace needs at least one of quantity, price, stop_price")
        command = cmd.ReplaceOrder(
            actor=actor_of(request, oms), order_id=OrderId(order_id),
            cl_ord_id=ClientOrderId(body.cl_ord_id or f"REST-{uuid.uuid4().hex[:16]}"),
            quantity=body.quantity, price=body.price, stop_price=body.stop_price,
        )
        return await run(command, 202)

    @app.post("/api/v1/orders/{order_id}/cancel", status_code=202, tags=["orders"],
              summary="Cancel an order (answered PendingCancel; the venue confirms)")
    async def cancel_order(order_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.CancelRequest, optional=True)
        command = cmd.CancelOrder(
            actor=actor_of(request, oms), order_id=OrderId(order_id),
            cl_ord_id=ClientOrderId(body.cl_ord_id) if body.cl_ord_id else None,
        )
        return await run(command, 202)

    # --- executions and positions ---------------------------------------------------------

    @app.get("/api/v1/executions", tags=["post-trade"], summary="Executions (fills), newest first")
    async def list_executions(
        request: Request, account: str | None = None, symbol: str | None = None, order_id: str | None = None,
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> Response:
        result = []
        durable = runtime.committed_seq
        shown_seq = 0
        visible = visible_accounts(request)
        for exec_id, order in reversed(list(engine.executions.items())):
            if account is not None and order.account != account:
                continue
            if visible is not None and order.account not in visible:
                continue
            if symbol is not None and order.symbol != symbol:
                continue
            if order_id is not None and order.order_id != order_id:
                continue
            execution = order.executions[exec_id]
            if execution.seq > durable:
                continue
            shown_seq = max(shown_seq, order.last_seq)
            result.append({
                "exec_id": exec_id, "order_id": order.order_id, "route_id": execution.route_id,
                "account": order.account, "symbol": order.symbol, "side": order.side.value,
                "quantity": str(execution.quantity), "price": str(execution.price),
                "liquidity": execution.liquidity.value, "busted": execution.busted, "time": iso(execution.ts),
            })
            if len(result) >= limit:
                break
        await runtime.wait_durable(shown_seq)
        return json_response({"executions": result, "count": len(result)})

    @app.post("/api/v1/executions/{exec_id}/bust", status_code=202, tags=["post-trade"],
              summary="Bust a trade (operations; as if the venue had busted it)")
    async def bust_trade(exec_id: str, request: Request) -> Response:
        return await run(cmd.VenueTradeBusted(actor=actor_of(request, oms), exec_id=ExecId(exec_id)), 202)

    @app.post("/api/v1/executions/{exec_id}/correct", status_code=202, tags=["post-trade"],
              summary="Correct a trade's quantity and price (operations)",
              openapi_extra=schemas.schema_of(schemas.CorrectionRequest))
    async def correct_trade(exec_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.CorrectionRequest)
        command = cmd.VenueTradeCorrected(actor=actor_of(request, oms), exec_id=ExecId(exec_id),
                                          last_qty=body.last_qty, last_px=body.last_px)
        return await run(command, 202)

    @app.get("/api/v1/positions", tags=["post-trade"], summary="Positions with realized and unrealized P&L")
    async def list_positions(request: Request, account: str | None = None, symbol: str | None = None) -> Response:
        result = []
        visible = visible_accounts(request)
        for (acct, sym), position in engine.positions.items():
            if (account is not None and acct != account) or (symbol is not None and sym != symbol):
                continue
            if visible is not None and acct not in visible:
                continue
            quote = oms.quotes.get(sym)
            mark = quote.last if quote is not None else None
            result.append(position_view(position, oms.reference.instruments[sym], mark))
        await runtime.wait_durable(engine.seq)  # positions fold fills of many orders: wait for all shown
        return json_response({"positions": result, "count": len(result)})

    from . import risk_api  # here, not at the top: it uses this module's helpers

    risk_api.register(app, oms, submit_command)

    from . import routing_api

    routing_api.register(app, oms)

    from . import algo_api

    algo_api.register(app, oms)

    # --- reference and market data ---------------------------------------------------------

    @app.get("/api/v1/instruments", tags=["reference"], summary="Tradable instruments")
    async def list_instruments() -> Response:
        return json_response({"instruments": instruments_view(oms.reference)})

    @app.get("/api/v1/accounts", tags=["reference"], summary="Accounts with their desk and firm")
    async def list_accounts() -> Response:
        return json_response({"accounts": accounts_view(oms.reference)})

    @app.get("/api/v1/marketdata/{symbol}", tags=["market data"], summary="Bid, ask and last of an instrument")
    async def market_data(symbol: str) -> Response:
        if symbol not in oms.reference.instruments:
            return error_response(404, RejectCode.UNKNOWN_INSTRUMENT.value, f"unknown instrument {symbol!r}", {"symbol": symbol})
        quote = oms.quotes.get(Symbol(symbol))
        if quote is None:
            return error_response(404, "NO_MARKET_DATA", f"no market data for {symbol} yet", {"symbol": symbol})
        return json_response({
            "symbol": symbol, "bid": str(quote.bid), "bid_size": str(quote.bid_size), "ask": str(quote.ask),
            "ask_size": str(quote.ask_size), "last": str(quote.last), "last_size": str(quote.last_size),
            "volume": str(quote.volume), "halted": quote.halted, "time": iso(quote.ts),
        })

    # --- trading day and health -------------------------------------------------------------

    @app.post("/api/v1/admin/end-of-day", status_code=202, tags=["operations"],
              summary="Close the day: DAY orders expire, GTC/GTD become DoneForDay")
    async def end_of_day(request: Request) -> Response:
        outcome = await runtime.execute(cmd.EndOfDay(actor=actor_of(request, oms)))
        return json_response({"events": len(outcome.events)}, 202)

    @app.post("/api/v1/admin/start-of-day", status_code=202, tags=["operations"],
              summary="Open a new day: DoneForDay orders are restated")
    async def start_of_day(request: Request) -> Response:
        outcome = await runtime.execute(cmd.StartOfDay(actor=actor_of(request, oms)))
        return json_response({"events": len(outcome.events)}, 202)

    @app.get("/health", tags=["operations"], summary="Liveness and readiness of the engine and journal")
    async def health() -> Response:
        healthy = runtime.unavailable is None and runtime.running
        body = {
            "status": "ok" if healthy else "unavailable",
            "version": __version__,
            "engine": {"running": runtime.running, "failure": runtime.unavailable, "last_seq": engine.seq,
                       "committed_seq": runtime.committed_seq, "orders": len(engine.orders),
                       "open_orders": len(engine.live)},
            "journal": {"path": oms.journal_location, "durability": oms.journal.durability},
            # up / degraded / down: the gateway's connection, and the state operators set (routing follows it)
            "venues": {v: oms.router.state(VenueId(v)).value if oms.router is not None
                       else "up" if venue_connected(gateway) else "down" for v, gateway in runtime.venues.items()},
            "replay": {"events": oms.replay_report.events, "seconds": round(oms.replay_report.seconds, 3)}
            if oms.replay_report else None,
            "open_orders_by_status": dict(sorted(Counter(o.status.value for o in engine.live.values()).items())),
            "kill_switches": dict(sorted(engine.kill_switches.items())),
            "uptime_seconds": round(time.time() - oms.started_at, 1) if oms.started_at else None,
        }
        return json_response(body, 200 if healthy else 503)

    # Imported here: these modules use this one's helpers (json_response, to_ns...).
    from .audit_routes import register_audit_routes
    from .ops_routes import register_ops_routes

    register_audit_routes(app, oms)
    from . import posttrade_api  # post-trade (issue 7): trades, positions, allocations, settlement

    posttrade_api.register(app, oms)
    from . import staging_api  # orders staged by portfolio managers for traders (issue 8)

    staging_api.register(app, oms)
    register_ops_routes(app, oms)
    from .web import install_interfaces

    install_interfaces(app, oms, trusted_header)
    return app

