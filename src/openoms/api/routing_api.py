"""REST endpoints of routing: venues and their health, the routing rules (read and replace,
journaled through the engine), an order's routing decisions, and per-venue market data with
the consolidated NBBO."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain.ids import OrderId, VenueId
from ..domain.order import Order
from ..routing.venues import VenueSpec, VenueState
from ..service.views import iso
from .rest import actor_of, decode_body, error_response, json_response, reject_response


class RulesRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    rules: str  # TOML text, as in the routing file
    reason: str = ""


class VenueStateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    state: VenueState
    reason: str = ""


def decisions_of(order: Order) -> list[dict[str, Any]]:
    """The order's routing decisions; an order routed by the plain default carries none in the
    journal (its route is the decision) and is shown as such."""
    if not order.routing:
        first = next(iter(order.routes.values()), None)
        if first is None:
            return []
        return [{"rule": "default", "strategy": "rule", "allocations": [{"venue": first.venue, "quantity": first.quantity}],
                 "notes": ["no routing rule matched: the instrument's first venue"], "implied": True}]
    return [{"seq": d.seq, "at": iso(d.ts), "rule": d.rule, "strategy": d.strategy,
             "allocations": [{"venue": venue, "quantity": quantity} for venue, quantity in d.allocations],
             "notes": list(d.notes)} for d in order.routing]


def register(app: FastAPI, oms: OMS) -> None:
    runtime, engine = oms.runtime, oms.engine

    def spec_view(venue_id: VenueId, spec: VenueSpec | None) -> dict[str, Any]:
        gateway = runtime.venues.get(venue_id)
        router = oms.router
        view: dict[str, Any] = {
            "venue_id": venue_id,
            "state": (router.state(venue_id) if router is not None else VenueState.UP).value,
            "reason": oms.health.reason(venue_id),
            "connected": bool(getattr(gateway, "connected", True)) if gateway is not None else False,
            "session_open": bool(getattr(gateway, "session_open", True)) if gateway is not None else False,
        }
        if spec is not None:
            view.update(name=spec.name, taker_fee_bps=spec.taker_fee_bps, maker_rebate_bps=spec.maker_rebate_bps,
                        latency_us=spec.latency_us, sim_latency_us=spec.sim_latency_us, round_lot=spec.round_lot, open_utc=spec.open_utc,
                        close_utc=spec.close_utc, open_now=spec.is_open(time.time_ns()))
        if router is not None:
            view.update(routed=router.fills.routed.get(venue_id, 0), filled=router.fills.filled.get(venue_id, 0),
                        fill_rate=router.fills.rate(venue_id))
        return view

    @app.get("/api/v1/venues", tags=["routing"], summary="Venues: terms, connectivity and health")
    async def list_venues() -> Response:
        specs = oms.router.specs if oms.router is not None else {}
        return json_response({"venues": [spec_view(VenueId(v), specs.get(VenueId(v))) for v in sorted(runtime.venues)]})

    @app.put("/api/v1/venues/{venue_id}/state", tags=["routing"],
             summary="Mark a venue up, degraded (used only when nothing else can) or down (never routed to)")
    async def set_venue_state(venue_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), VenueStateRequest)
        actor = actor_of(request, oms)
        if not (oms.reference.has_role(actor.user, "operations") or oms.reference.has_role(actor.user, "risk_officer")):
            return error_response(403, "NOT_PERMITTED", f"changing a venue's state needs the operations or risk_officer role; "
                                  f"{actor.user!r} has neither", {"user": actor.user})
        if venue_id not in runtime.venues:
            return error_response(404, "UNKNOWN_VENUE", f"unknown venue {venue_id!r}", {"known": ",".join(sorted(runtime.venues))})
        oms.health.set(VenueId(venue_id), body.state, body.reason or f"set by {actor.user}")
        specs = oms.router.specs if oms.router is not None else {}
        return json_response(spec_view(VenueId(venue_id), specs.get(VenueId(venue_id))))

    @app.get("/api/v1/routing/rules", tags=["routing"], summary="The routing rules in force")
    async def get_rules() -> Response:
        router = oms.router
        if router is None:
            return error_response(404, "NOT_FOUND", "routing is not configured")
        return json_response({
            "rules_text": router.rules_text,
            "default_venues": list(router.rules.default_venues),
            "rules": [{"name": r.name, "line": r.line, "strategy": r.strategy, "venues": list(r.venues),
                       "symbols": sorted(r.symbols), "asset_class": r.asset_class.value if r.asset_class else None,
                       "accounts": sorted(r.accounts), "min_quantity": r.min_quantity, "max_quantity": r.max_quantity,
                       "from_utc": r.from_utc, "until_utc": r.until_utc} for r in router.rules.rules],
        })

    @app.put("/api/v1/routing/rules", tags=["routing"],
             summary="Replace the routing rules (TOML text); journaled with the user and reason")
    async def put_rules(request: Request) -> Response:
        body = decode_body(await request.body(), RulesRequest)
        outcome = await runtime.execute(cmd.SetRoutingRules(actor=actor_of(request, oms), rules=body.rules,
                                                            reason=body.reason or "changed over the API"))
        if outcome.rejected is not None:
            return reject_response(outcome.rejected)
        return await get_rules()

    @app.get("/api/v1/orders/{order_id}/routing", tags=["routing"],
             summary="An order's routing decisions (rule, venues, why) and its routes")
    async def order_routing(order_id: str) -> Response:
        order = engine.orders.get(OrderId(order_id))
        if order is None:
            return error_response(404, "UNKNOWN_ORDER", f"unknown order {order_id!r}", {"order_id": order_id})
        await runtime.wait_durable(order.last_seq)
        return json_response({
            "order_id": order.order_id,
            "decisions": decisions_of(order),
            "routes": [{"route_id": r.route_id, "venue": r.venue, "quantity": r.quantity, "cum_qty": r.cum_qty,
                        "done": r.done} for r in order.routes.values()],
        })

    @app.get("/api/v1/feeds", tags=["market data"],
             summary="Live FIX market-data feeds: session, and per instrument live, subscribed, stale or rejected, and why")
    async def market_data_feeds() -> Response:
        return json_response({"feeds": [feed.status() for feed in oms.md_feeds]})

    @app.get("/api/v1/marketdata/{symbol}/venues", tags=["market data"],
             summary="Each venue's top of book and depth, and the consolidated NBBO (stale venues left out)")
    async def venue_market_data(symbol: str) -> Response:
        now = time.time_ns()
        max_age = oms.config.sor_max_age_ms * 1_000_000
        nbbo = oms.market_book.nbbo(symbol, now, max_age)
        if nbbo is None:
            return error_response(404, "NO_MARKET_DATA", f"no venue market data for {symbol!r}", {"symbol": symbol})
        book = oms.market_book
        venues = {venue: {"bid": q.bid, "bid_size": q.bid_size, "ask": q.ask, "ask_size": q.ask_size, "last": q.last,
                          "last_size": q.last_size, "volume": q.volume, "at": iso(q.ts),
                          "age_ms": book.age(venue, q, now) // 1_000_000,
                          "stale": book.age(venue, q, now) > max_age or book.stale_reason(symbol, venue) is not None,
                          "stale_reason": book.stale_reason(symbol, venue), "halted": q.halted,
                          "bids": [list(level) for level in q.bids], "asks": [list(level) for level in q.asks]}
                  for venue, q in sorted(book.venues(symbol).items())}
        return json_response({
            "symbol": symbol,
            "nbbo": {"bid": nbbo.bid, "bid_size": nbbo.bid_size, "bid_venues": list(nbbo.bid_venues), "ask": nbbo.ask,
                     "ask_size": nbbo.ask_size, "ask_venues": list(nbbo.ask_venues), "last": nbbo.last,
                     "volume": nbbo.volume, "at": iso(nbbo.ts) if nbbo.ts else None, "crossed": nbbo.crossed,
                     "locked": nbbo.locked, "stale_venues": list(nbbo.stale), "halted_venues": list(nbbo.halted)},
            "venues": venues,
        })
