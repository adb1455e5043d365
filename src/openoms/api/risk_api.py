"""REST endpoints of pre-trade risk: limits, overrides, restricted and watch lists, locates,
kill switches, what-if (an order or a basket) and live limit usage. Every change goes through
the engine as a command, so it is journaled with its user and reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.gate import OrderFacts
from ..domain.ids import AccountId, Symbol, TraderId
from ..domain.rejects import Reject
from ..domain.values import OrdType, Side
from ..service.views import iso
from . import schemas
from .rest import actor_of, decode_body, error_response, json_response, reject_response, to_ns, visible_accounts


def limit_text(values: dict[str, str | int | bool | list[str]]) -> dict[str, str]:
    """JSON limit values as the text the journal keeps (lists comma-joined, booleans lower case)."""
    def text(value: str | int | bool | list[str]) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(value)
        return str(value)

    return {key: text(value) for key, value in values.items()}


def check_rows(results: list[tuple[str, Reject | None]]) -> list[dict[str, Any]]:
    return [{"check": name, "passed": reject is None,
             **({"code": reject.code.value, "message": reject.message, "detail": reject.detail} if reject else {})}
            for name, reject in results]


def register(app: FastAPI, oms: OMS, submit_command: Callable[[schemas.NewOrderRequest, Request], cmd.SubmitOrder]) -> None:
    runtime, engine, gate = oms.runtime, oms.engine, oms.gate

    async def execute(command: cmd.Command) -> Response | list[ev.Event]:
        outcome = await runtime.execute(command)
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)
        return outcome.events

    @app.get("/api/v1/risk/limits", tags=["risk"], summary="Limits, overrides, restricted and watch lists in force, per scope")
    async def get_limits() -> Response:
        await runtime.wait_durable(engine.seq)
        return json_response({
            "limits": {scope: limit_set.as_text() for scope, limit_set in sorted(gate.limits.items())},
            "overrides": {scope: {"limits": limits, "expires_at": iso(expires_at)}
                          for scope, (limits, expires_at) in sorted(gate.overrides.items())},
            "restricted": {scope: sorted(symbols) for scope, symbols in sorted(gate.restricted.items())},
            "watch": {scope: sorted(symbols) for scope, symbols in sorted(gate.watch.items())},
            "fx_rates": gate.fx.as_text(),
            "reference_max_age_ms": gate.max_age_ns // 1_000_000,
            "kill_switches": dict(sorted(engine.kill_switches.items())),
        })

    @app.post("/api/v1/risk/what-if", tags=["risk"], summary="Run a proposed order through every check; nothing is sent",
              openapi_extra=schemas.schema_of(schemas.NewOrderRequest))
    async def what_if(request: Request) -> Response:
        command = submit_command(decode_body(await request.body(), schemas.NewOrderRequest), request)
        checks = check_rows(engine.what_if(command, time.time_ns()))
        return json_response({"would_be_accepted": all(c["passed"] for c in checks), "checks": checks})

    @app.post("/api/v1/risk/what-if/basket", tags=["risk"],
              summary="Run a basket through every check: each order on its own, and the basket's buys against credit",
              openapi_extra=schemas.schema_of(schemas.BasketRequest))
    async def what_if_basket(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.BasketRequest)
        now = time.time_ns()
        results = []
        for index, order in enumerate(body.orders):
            command = submit_command(order, request)
            checks = check_rows(engine.what_if(command, now))
            results.append({"index": index, "account": order.account, "symbol": order.symbol, "side": order.side.value,
                            "quantity": str(order.quantity), "would_be_accepted": all(c["passed"] for c in checks),
                            "checks": checks})
        # Each order above is judged alone; together, the basket's buys must also fit each account's credit.
        totals = basket_credit(body.orders, now, actor_of(request, oms).user)
        accepted = all(r["would_be_accepted"] for r in results) and all(t["fits"] for t in totals.values())
        return json_response({"would_be_accepted": accepted, "orders": results, "credit": totals})

    def basket_credit(orders: list[schemas.NewOrderRequest], now: int, user: str) -> dict[str, dict[str, Any]]:
        added: dict[str, Decimal] = {}
        problems: dict[str, str] = {}
        for order in orders:
            instrument = oms.reference.instruments.get(Symbol(order.symbol))
            account = oms.reference.accounts.get(AccountId(order.account))
            if not order.side.is_buy or instrument is None or account is None:
                continue
            price = order.price or order.stop_price
            if price is None:
                quote = oms.quotes.get(instrument.symbol)
                price = quote.ask if quote is not None else None
            converted = None if price is None else gate.fx.convert(instrument.notional(order.quantity, price),
                                                                   instrument.currency, account.currency)
            if converted is None:
                problems[order.account] = f"no price or FX rate to count the {order.symbol} buy"
                continue
            added[order.account] = added.get(order.account, Decimal(0)) + converted
        totals: dict[str, dict[str, Any]] = {}
        for account_id in sorted(set(added) | set(problems)):
            usage = account_usage(account_id, user, now)
            credit = usage.get("credit_limit")
            used = Decimal(credit["used"]) if isinstance(credit, dict) else Decimal(0)
            limit = credit.get("limit") if isinstance(credit, dict) else None
            projected = used + added.get(account_id, Decimal(0))
            fits = account_id not in problems and (limit is None or projected <= Decimal(limit))
            totals[account_id] = {"used": str(used), "basket_buys": str(added.get(account_id, Decimal(0))),
                                  "projected": str(projected), "limit": limit, "fits": fits,
                                  **({"problem": problems[account_id]} if account_id in problems else {})}
        return totals

    def account_usage(account: str, trader: str, now: int) -> dict[str, object]:
        book = engine.books.get(AccountId(account))
        instrument = next(iter(oms.reference.instruments.values()))
        facts = OrderFacts(AccountId(account), TraderId(trader), instrument.symbol, Side.BUY, Decimal(0), OrdType.LIMIT,
                           None, None, book=book)
        return gate.account_usage(facts, instrument, now)

    def usage_now(account: str) -> dict[str, object]:
        """One account's usage as GET /api/v1/risk/usage shows it (the stream sends these live)."""
        trader = next((t.trader_id for t in oms.reference.traders.values() if account in t.accounts), "")
        return account_usage(account, trader, time.time_ns())

    app.state.account_usage = usage_now

    @app.get("/api/v1/risk/usage", tags=["risk"],
             summary="Limit usage: per account (credit, exposure, loss, order-to-trade, locates) and per instrument")
    async def risk_usage(request: Request, account: str | None = None, symbol: str | None = None) -> Response:
        await runtime.wait_durable(engine.seq)
        now = time.time_ns()
        rows = []
        accounts = []
        visible = visible_accounts(request)
        for acct, book in sorted(engine.books.items()):
            if account is not None and acct != account:
                continue
            if visible is not None and acct not in visible:
                continue
            trader = next((t.trader_id for t in oms.reference.traders.values() if acct in t.accounts), "")
            accounts.append(account_usage(acct, trader, now))
            for sym in sorted(book.symbols):
                if symbol is not None and sym != symbol:
                    continue
                position, buys, sells = engine.exposure(acct, sym)
                if position == 0 and buys == 0 and sells == 0:
                    continue
                rows.append(gate.position_usage(acct, trader, sym, position, buys, sells))
        return json_response({"accounts": accounts, "usage": rows})

    @app.post("/api/v1/risk/kill-switch", status_code=202, tags=["risk"],
              summary="Engage a kill switch: cancel working orders in scope, admit only risk-reducing orders",
              openapi_extra=schemas.schema_of(schemas.KillSwitchRequest))
    async def engage_kill_switch(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.KillSwitchRequest)
        events = await execute(cmd.EngageKillSwitch(actor=actor_of(request, oms), scope=body.scope, reason=body.reason))
        if isinstance(events, Response):
            return events
        canceling = [e.order_id for e in events if isinstance(e, ev.CancelRequested)]
        return json_response({"scope": body.scope, "engaged": True, "canceling": canceling}, 202)

    @app.post("/api/v1/risk/kill-switch/release", tags=["risk"], summary="Release a kill switch (risk officer)",
              openapi_extra=schemas.schema_of(schemas.KillSwitchRequest))
    async def release_kill_switch(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.KillSwitchRequest)
        events = await execute(cmd.ReleaseKillSwitch(actor=actor_of(request, oms), scope=body.scope, reason=body.reason))
        if isinstance(events, Response):
            return events
        return json_response({"scope": body.scope, "engaged": False})

    @app.put("/api/v1/risk/limits/{scope}", tags=["risk"], summary="Set or remove the limits of a scope (risk officer; journaled)",
             openapi_extra=schemas.schema_of(schemas.LimitsRequest))
    async def put_limits(scope: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.LimitsRequest)
        limits = limit_text(body.limits) if body.limits is not None else None
        events = await execute(cmd.SetLimits(actor=actor_of(request, oms), scope=scope, limits=limits, reason=body.reason))
        if isinstance(events, Response):
            return events
        return json_response({"scope": scope, "limits": limits, "changed": bool(events)})

    @app.post("/api/v1/risk/overrides/{scope}", status_code=201, tags=["risk"],
              summary="Override limits of a scope until a time (risk officer; journaled, ends on its own)",
              openapi_extra=schemas.schema_of(schemas.OverrideRequest))
    async def override_limits(scope: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.OverrideRequest)
        expires_at = to_ns(body.expires_at, "expires_at")
        events = await execute(cmd.OverrideLimits(actor=actor_of(request, oms), scope=scope, limits=limit_text(body.limits),
                                                  expires_at=expires_at, reason=body.reason))
        if isinstance(events, Response):
            return events
        return json_response({"scope": scope, "limits": limit_text(body.limits), "expires_at": iso(expires_at)}, 201)

    @app.delete("/api/v1/risk/overrides/{scope}", tags=["risk"], summary="End an override before it expires (risk officer)",
                openapi_extra=schemas.schema_of(schemas.ReasonRequest))
    async def end_override(scope: str, request: Request) -> Response:
        body = decode_body(await request.body(), schemas.ReasonRequest)
        events = await execute(cmd.EndOverride(actor=actor_of(request, oms), scope=scope, reason=body.reason))
        if isinstance(events, Response):
            return events
        return json_response({"scope": scope, "ended": True})

    @app.put("/api/v1/risk/restricted/{scope}", tags=["risk"], summary="Replace the restricted list of a scope (risk officer)",
             openapi_extra=schemas.schema_of(schemas.RestrictedRequest))
    async def put_restricted(scope: str, request: Request) -> Response:
        return await put_list(scope, request, "restricted")

    @app.put("/api/v1/risk/watch/{scope}", tags=["risk"],
             summary="Replace the watch list of a scope: orders pass with a compliance alert (risk officer)",
             openapi_extra=schemas.schema_of(schemas.RestrictedRequest))
    async def put_watch(scope: str, request: Request) -> Response:
        return await put_list(scope, request, "watch")

    async def put_list(scope: str, request: Request, kind: str) -> Response:
        body = decode_body(await request.body(), schemas.RestrictedRequest)
        events = await execute(cmd.SetRestricted(actor=actor_of(request, oms), scope=scope, symbols=body.symbols,
                                                 reason=body.reason, kind=kind))
        if isinstance(events, Response):
            return events
        return json_response({"scope": scope, "kind": kind, "symbols": sorted(set(body.symbols)), "changed": bool(events)})

    @app.post("/api/v1/risk/locates", status_code=201, tags=["risk"],
              summary="Record a stock-borrow locate for short sales (operations or risk officer)",
              openapi_extra=schemas.schema_of(schemas.LocateRequest))
    async def grant_locate(request: Request) -> Response:
        body = decode_body(await request.body(), schemas.LocateRequest)
        events = await execute(cmd.GrantLocate(
            actor=actor_of(request, oms), account=AccountId(body.account), symbol=Symbol(body.symbol),
            locate_id=body.locate_id, quantity=body.quantity, expires_at=to_ns(body.expires_at, "expires_at"),
            source=body.source,
        ))
        if isinstance(events, Response):
            return events
        return json_response({"locate_id": body.locate_id, "account": body.account, "symbol": body.symbol,
                              "quantity": str(body.quantity), "expires_at": iso(to_ns(body.expires_at, "expires_at"))}, 201)

    @app.get("/api/v1/risk/locates", tags=["risk"], summary="Locates per account and instrument, with what is used")
    async def list_locates(request: Request, account: str | None = None) -> Response:
        await runtime.wait_durable(engine.seq)
        now = time.time_ns()
        if account is not None and AccountId(account) not in oms.reference.accounts:
            return error_response(404, "UNKNOWN_ACCOUNT", f"unknown account {account!r}", {"account": account})
        rows = []
        visible = visible_accounts(request)
        for acct, book in sorted(engine.books.items()):
            if (account is not None and acct != account) or (visible is not None and acct not in visible):
                continue
            for symbol, locates in sorted(book.locates.items()):
                for locate in locates:
                    rows.append({"account": acct, "symbol": symbol, "locate_id": locate.locate_id,
                                 "quantity": str(locate.quantity), "used": str(locate.used),
                                 "available": str(locate.available(now)), "expires_at": iso(locate.expires_at),
                                 "expired": now >= locate.expires_at})
        return json_response({"locates": rows})
