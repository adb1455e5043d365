"""The gateway role's HTTP API (``oms serve --role gateway``): the same order routes as a
single-process ``oms serve``, with the same users, sign-in and access rules, but no engine.

Submit, replace and cancel go to the owning shard over JetStream (gateway.py); the answer is the
shard's, once the command's events are durable in that shard's journal. Reads (orders, one
order with its history, executions, positions) come from the read models the projector keeps
(read_models.py): they trail the shards by the projector's lag, typically milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from .. import __version__
from ..access.policy import Principal
from ..api import schemas
from ..api.access import ROUTE_ACTIONS, AccessControl, AccessMiddleware
from ..api.auth_routes import register_auth_routes
from ..api.fix_acceptor import FixGateway
from ..api.rest import (
    STATUS_OF,
    BadRequest,
    accounts_view,
    actor_of,
    decode_body,
    error_response,
    instruments_view,
    json_response,
    new_order_command,
    to_ns,
    visible_accounts,
)
from ..api.stream import serve_stream
from ..api.web import declare_bearer_auth, serve_blotter, user_store
from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain.ids import ClientOrderId, OrderId
from ..domain.lifecycle import OrdStatus
from ..domain.rejects import RejectCode
from ..journal.codec import decode, to_builtins
from ..service.views import iso
from .fix_runtime import ClusterFixRuntime, FixFollower
from .gateway import ClusterGateway
from .partition import ShardError
from .read_models import ReadModels, ReadModelsUnavailable
from .stream_feed import ClusterStreamHub
from .wire import BroadcastCommand

log = logging.getLogger("openoms.cluster.gateway")

ANSWER_TIMEOUT_S = 10.0  # a shard down longer than this: the caller is told, the command still runs later


_SINGLE_SERVER_ROUTES = [(method, template, compile_path(template)[0]) for method, template in ROUTE_ACTIONS]


def single_server_route(method: str, path: str) -> str | None:
    """``"METHOD /template"`` when a single ``oms serve`` answers ``method path`` (its access
    table names every route it has), else None."""
    for route_method, template, pattern in _SINGLE_SERVER_ROUTES:
        if route_method == method and pattern.match(path):
            return f"{method} {template}"
    return None


def create_gateway_app(oms: OMS, gateway: ClusterGateway, read_models: ReadModels, trusted_header: bool = False,
                       answer_timeout: float = ANSWER_TIMEOUT_S, serve_fix: bool = False) -> FastAPI:
    """``oms`` is built but never started: it lends its configuration, reference data and user
    store; ``gateway`` is connected and closed with the app. ``serve_fix``: run the FIX acceptor
    of ``oms.config``'s sessions (client and drop copy) over the shards."""

    # The live stream follows the shards' events itself (stream_feed.py says why not the read models).
    hub = ClusterStreamHub(oms.reference, buffer_size=oms.config.stream_buffer)
    fix: FixGateway | None = None
    if serve_fix:
        fix_runtime = ClusterFixRuntime(gateway, hub, lambda: fix.flush() if fix is not None else None)
        fix = FixGateway(oms.config, fix_runtime, hub, oms.session_store())
        hub.followers.append(FixFollower(fix))  # each shard's orders and events from where it left off

    def fix_status() -> dict[str, Any] | None:
        """For /health: each FIX session, whether it is logged on, and its sequence numbers."""
        if fix is None:
            return None
        return {"listening": bool(fix.listening), "sessions": {
            key: {"drop_copy": client.drop_copy, "logged_on": client.session.logged_on,
                  "next_out": client.session.next_out, "next_in": client.session.next_in}
            for key, client in fix.by_key.items()}}

    async def serve_fix_when_ready(acceptor: FixGateway) -> None:
        await hub.caught_up.wait()
        await acceptor.start()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.connect()
        stop = asyncio.Event()
        following = asyncio.create_task(hub.follow(gateway.jetstream, gateway.subjects, stop), name="gateway-stream")
        fix_start = asyncio.create_task(serve_fix_when_ready(fix), name="gateway-fix") if fix is not None else None
        log.info("OpenOMS %s gateway ready: %d shards under prefix %r, read models %s", __version__, gateway.shards,
                 gateway.subjects.prefix, read_models.path)
        try:
            yield
        finally:
            if fix is not None and fix_start is not None:
                fix_start.cancel()
                with contextlib.suppress(BaseException):
                    await fix_start
                await fix.stop()
            stop.set()
            with contextlib.suppress(Exception):
                await following
            await gateway.close()
            if fix is not None:
                fix.close()

    app = FastAPI(lifespan=lifespan, title="OpenOMS gateway", version=__version__,
                  description="Order management over engine shards: submit, replace and cancel orders; follow executions and positions.")
    started = time.time()

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
        return error_response(422, "INVALID_FIELD", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405) and (route := single_server_route(request.method, request.url.path)) is not None:
            # A route of a single ``oms serve`` the gateway does not serve yet: say so, rather than
            # a bare 404 that reads as a typo (the blotter shows this message where the feature is).
            return error_response(501, "NOT_IN_CLUSTER", f"{route} is served by a single `oms serve`, not yet by a "
                                  "cluster gateway (README: Scale-out on NATS JetStream)", {"route": route})
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ReadModelsUnavailable)
    async def _read_models_away(request: Request, exc: ReadModelsUnavailable) -> Response:
        # The database restarts or fails over: try again shortly (the next read reconnects).
        return error_response(503, "READ_MODELS_UNAVAILABLE", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "INTERNAL_ERROR", "unexpected server error; it has been logged")

    def principal_of(request: Request) -> Principal | None:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        return principal

    def unknown(order_id: str) -> Response:
        return error_response(404, RejectCode.UNKNOWN_ORDER.value, f"unknown order {order_id!r}", {"order_id": order_id})

    def refusal(order_id: str, request: Request) -> Response | None:
        """The access rules for an order named in the path, judged on its projected account
        (the single-process middleware judges on the engine's; the gateway has none)."""
        principal = principal_of(request)
        if principal is None or principal.trusted:
            return None
        account = read_models.order_account(order_id)
        if account is None:
            return None  # not projected yet: the shard judges (the user's accounts travel with the command)
        if not principal.sees(account):
            return unknown(order_id)
        if not principal.trades(account):
            return error_response(403, "NOT_ENTITLED", f"{principal.user!r} may not act on account {account!r}",
                                  {"user": principal.user, "account": account})
        return None

    async def send(command: cmd.SubmitOrder | cmd.CancelOrder | cmd.ReplaceOrder, request: Request, status: int) -> Response:
        try:
            answer = await gateway.execute(command, answer_timeout, principal_of(request))
        except ShardError as exc:
            return error_response(404, RejectCode.UNKNOWN_ORDER.value, str(exc), {"order_id": getattr(command, "order_id", None)})
        except TimeoutError:
            return error_response(504, "SHARD_TIMEOUT", f"no answer from the owning shard within {answer_timeout:g}s; the "
                                  "command is kept in the stream and runs when the shard is back (sending it again with the "
                                  "same cl_ord_id is safe)")
        if "error" in answer:
            error = answer["error"]
            return error_response(int(error.get("status", 422)), error["code"], error["message"])
        rejected = answer["rejected"]
        if rejected is not None:
            code = RejectCode(rejected["code"])
            return error_response(STATUS_OF.get(code, 422), code.value, rejected["message"], rejected.get("detail"))
        # The single-process answer (order and the command's events: the SDK's OrderAck), plus its shard.
        return json_response({"order": answer["order"], "events": answer.get("events", []), "shard": answer["shard"]}, status)

    # --- orders -----------------------------------------------------------------------------

    @app.post("/api/v1/orders", status_code=201, tags=["orders"], summary="Submit a new order (to its account's shard)",
              openapi_extra=schemas.schema_of(schemas.NewOrderRequest))
    async def submit_order(request: Request) -> Response:
        command = new_order_command(decode_body(await request.body(), schemas.NewOrderRequest), actor_of(request, oms))
        return await send(command, request, 201)

    @app.get("/api/v1/orders", tags=["orders"], summary="List orders of every shard, newest first")
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
        orders = read_models.orders(status=status.value if status else None, account=account, symbol=symbol,
                                    since_ns=to_ns(since, "since") if since else None,
                                    until_ns=to_ns(until, "until") if until else None,
                                    open_only=open_only, visible=visible_accounts(request), limit=limit)
        return json_response({"orders": orders, "count": len(orders)})

    @app.get("/api/v1/orders/{order_id}", tags=["orders"], summary="One order with its full event history")
    async def get_order(order_id: str, request: Request) -> Response:
        found = read_models.order(order_id)
        visible = visible_accounts(request)
        if found is None or (visible is not None and found[0]["account"] not in visible):
            return unknown(order_id)
        view, shard, seqs = found
        history: list[dict[str, Any]] = []
        for data in read_models.order_events(shard, seqs):
            item = to_builtins(decode(data))
            item["time"] = iso(int(item["ts"]))  # type: ignore[call-overload]
            history.append(item)
        return json_response({"order": view, "events": history})

    @app.post("/api/v1/orders/{order_id}/replace", status_code=202, tags=["orders"],
              summary="Replace quantity and/or price (answered PendingReplace; the venue confirms)",
              openapi_extra=schemas.schema_of(schemas.ReplaceRequest))
    async def replace_order(order_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.ReplaceRequest)
        if body.quantity is None and body.price is None and body.stop_price is None:
            raise BadRequest(422, "INVALID_FIELD", "a replace needs at least one of quantity, price, stop_price")
        refused = refusal(order_id, request)
        if refused is not None:
            return refused
        command = cmd.ReplaceOrder(actor=actor_of(request, oms), order_id=OrderId(order_id),
                                   cl_ord_id=ClientOrderId(body.cl_ord_id or f"REST-{uuid.uuid4().hex[:16]}"),
                                   quantity=body.quantity, price=body.price, stop_price=body.stop_price)
        return await send(command, request, 202)

    @app.post("/api/v1/orders/{order_id}/cancel", status_code=202, tags=["orders"],
              summary="Cancel an order (answered PendingCancel; the venue confirms)")
    async def cancel_order(order_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.CancelRequest, optional=True)
        refused = refusal(order_id, request)
        if refused is not None:
            return refused
        command = cmd.CancelOrder(actor=actor_of(request, oms), order_id=OrderId(order_id),
                                  cl_ord_id=ClientOrderId(body.cl_ord_id) if body.cl_ord_id else None)
        return await send(command, request, 202)

    # --- executions and positions -------------------------------------------------------------

    @app.get("/api/v1/executions", tags=["post-trade"], summary="Executions (fills) of every shard, newest first")
    async def list_executions(request: Request, account: str | None = None, symbol: str | None = None,
                              order_id: str | None = None, limit: int = Query(1000, ge=1, le=100_000)) -> Response:
        rows = read_models.executions(account=account, symbol=symbol, order_id=order_id, visible=visible_accounts(request),
                                      limit=limit)
        return json_response({"executions": rows, "count": len(rows)})

    @app.get("/api/v1/positions", tags=["post-trade"], summary="Positions with realized P&L (no mark: the gateway has no market data)")
    async def list_positions(request: Request, account: str | None = None, symbol: str | None = None) -> Response:
        rows = read_models.positions(account=account, symbol=symbol, visible=visible_accounts(request))
        return json_response({"positions": rows, "count": len(rows)})

    # --- cluster-wide: the trading day and kill switches, sent to every shard ---------------------

    async def broadcast(command: BroadcastCommand, request: Request) -> Response | list[dict[str, Any]]:
        answers = await gateway.broadcast(command, answer_timeout, principal_of(request))
        missing = sorted(shard for shard, answer in answers.items() if answer is None)
        if missing:
            return error_response(504, "SHARD_TIMEOUT", f"no answer within {answer_timeout:g}s from shard(s) "
                                  f"{', '.join(map(str, missing))}; the command is kept in the stream and runs there when "
                                  "they are back (the others have run it)", {"shards": missing})
        done = [answer for answer in answers.values() if answer is not None]
        for answer in done:
            if "error" in answer:
                return error_response(int(answer["error"].get("status", 422)), answer["error"]["code"], answer["error"]["message"])
            if answer["rejected"] is not None:  # the same rule refuses it on every shard (roles, scope)
                code = RejectCode(answer["rejected"]["code"])
                return error_response(STATUS_OF.get(code, 422), code.value, answer["rejected"]["message"], answer["rejected"].get("detail"))
        return done

    @app.post("/api/v1/admin/end-of-day", status_code=202, tags=["operations"],
              summary="Close the day on every shard: DAY orders expire, GTC/GTD become DoneForDay")
    async def end_of_day(request: Request) -> Response:
        done = await broadcast(cmd.EndOfDay(actor=actor_of(request, oms)), request)
        if isinstance(done, Response):
            return done
        return json_response({"events": sum(a["events"] for a in done), "shards": len(done)}, 202)

    @app.post("/api/v1/admin/start-of-day", status_code=202, tags=["operations"],
              summary="Open a new day on every shard: DoneForDay orders are restated")
    async def start_of_day(request: Request) -> Response:
        done = await broadcast(cmd.StartOfDay(actor=actor_of(request, oms)), request)
        if isinstance(done, Response):
            return done
        return json_response({"events": sum(a["events"] for a in done), "shards": len(done)}, 202)

    @app.post("/api/v1/risk/kill-switch", status_code=202, tags=["risk"],
              summary="Engage a kill switch on every shard: cancel working orders in scope, admit only risk-reducing orders",
              openapi_extra=schemas.schema_of(schemas.KillSwitchRequest))
    async def engage_kill_switch(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.KillSwitchRequest)
        done = await broadcast(cmd.EngageKillSwitch(actor=actor_of(request, oms), scope=body.scope, reason=body.reason), request)
        if isinstance(done, Response):
            return done
        canceling = [order_id for answer in done for order_id in answer["canceling"]]
        return json_response({"scope": body.scope, "engaged": True, "canceling": canceling}, 202)

    @app.post("/api/v1/risk/kill-switch/release", tags=["risk"], summary="Release a kill switch on every shard (risk officer)",
              openapi_extra=schemas.schema_of(schemas.KillSwitchRequest))
    async def release_kill_switch(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.KillSwitchRequest)
        done = await broadcast(cmd.ReleaseKillSwitch(actor=actor_of(request, oms), scope=body.scope, reason=body.reason), request)
        if isinstance(done, Response):
            return done
        return json_response({"scope": body.scope, "engaged": False})

    # --- reference data (the files every shard loads) -----------------------------------------

    @app.get("/api/v1/instruments", tags=["reference"], summary="Tradable instruments")
    async def list_instruments() -> Response:
        return json_response({"instruments": instruments_view(oms.reference)})

    @app.get("/api/v1/accounts", tags=["reference"], summary="Accounts with their desk and firm")
    async def list_accounts() -> Response:
        return json_response({"accounts": accounts_view(oms.reference)})

    @app.get("/health", tags=["operations"], summary="The gateway's NATS connection, each shard's state, the projector's lag")
    async def health() -> Response:
        connected = gateway.connected
        shards: dict[str, Any] = {}
        if connected:
            projected = read_models.progress()
            for shard, state in (await gateway.shard_status()).items():
                seq = projected.get(shard, 0)
                shards[str(shard)] = {**state, "projected_seq": seq, "projector_lag_events": max(0, state["journaled_seq"] - seq)}
        # 200 while commands can be taken: a shard that is down only delays its own accounts (see "shards").
        body = {"status": "ok" if connected else "unavailable", "version": __version__, "role": "gateway",
                "nats": {"connected": connected, "prefix": gateway.subjects.prefix}, "shards": shards, "stream": hub.status(),
                "fix": fix_status(),
                "uptime_seconds": round(time.time() - started, 1)}
        return json_response(body, 200 if connected else 503)

    control = AccessControl(oms, user_store(oms), trusted_header)
    app.state.access = control
    register_auth_routes(app, control)
    serve_stream(app, hub, control)
    app.add_middleware(AccessMiddleware, control=control, fastapi_app=app)
    declare_bearer_auth(app)
    serve_blotter(app)  # orders, executions, positions and kill switches live; the rest says NOT_IN_CLUSTER
    return app
