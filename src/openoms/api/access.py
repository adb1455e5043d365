"""Access control for the HTTP API and the stream: who is calling, and may they.

Every ``/api/`` request carries ``Authorization: Bearer <session token or API key>``; the
route's action (``ROUTE_ACTIONS``) must be allowed by one of the user's roles, and an order
named in the path must be on an account the user sees (else 404, as if absent) and, for a
trading action, trades (else 403). Lists are filtered to the accounts the user sees.

The authenticated user's roles and accounts are also handed to the engine's reference data
(``ReferenceData.roles`` and ``.traders``) before each command, so the engine's own checks
(risk officer for limits, the trader's accounts for a new order) judge the same user.

Trusted-header mode (``create_app(..., trusted_header=True)``, ``OMS_TRUST_USER_HEADER``) is
for an OMS embedded in a process that vouches for its callers (tests, in-process tools): the
``X-OMS-User`` header names the user with no credential and only the engine's checks apply.
``oms serve`` never turns it on by itself.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.routing import Match, Route

from ..access.engine_feed import feed_reference
from ..access.policy import Action, Principal
from ..access.throttle import SignInThrottle
from ..access.users import User, UserStore, UserStoreUnavailable
from ..bootstrap import OMS
from ..domain.ids import OrderId
from .rest import error_response

log = logging.getLogger("openoms.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC = object()  # marks a route anyone may call (login)
AUTHENTICATED = object()  # any signed-in user (who am I, log out)

# Every /api/ route and the action it needs. A route missing here is refused to everyone but an
# administrator (fail closed), and tests/integration/test_access_matrix.py names it.
ROUTE_ACTIONS: dict[tuple[str, str], Action | object] = {
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): AUTHENTICATED,
    ("GET", "/api/v1/auth/me"): AUTHENTICATED,
    ("GET", "/api/v1/users"): Action.ADMIN_USERS,
    ("POST", "/api/v1/users"): Action.ADMIN_USERS,
    ("PATCH", "/api/v1/users/{username}"): Action.ADMIN_USERS,
    ("POST", "/api/v1/users/{username}/password"): Action.ADMIN_USERS,
    ("POST", "/api/v1/users/{username}/api-keys"): Action.ADMIN_USERS,
    ("GET", "/api/v1/users/changes"): Action.ADMIN_USERS,
    ("POST", "/api/v1/orders"): Action.TRADE,
    ("GET", "/api/v1/orders"): Action.READ,
    ("GET", "/api/v1/orders/{order_id}"): Action.READ,
    ("POST", "/api/v1/orders/{order_id}/replace"): Action.TRADE,
    ("POST", "/api/v1/orders/{order_id}/cancel"): Action.TRADE,
    ("GET", "/api/v1/executions"): Action.READ,
    ("POST", "/api/v1/executions/{exec_id}/bust"): Action.ADJUST_TRADES,
    ("POST", "/api/v1/executions/{exec_id}/correct"): Action.ADJUST_TRADES,
    ("GET", "/api/v1/positions"): Action.READ,
    ("GET", "/api/v1/risk/limits"): Action.READ,
    ("POST", "/api/v1/risk/what-if"): Action.WHAT_IF,
    ("POST", "/api/v1/risk/what-if/basket"): Action.WHAT_IF,
    ("GET", "/api/v1/risk/usage"): Action.READ,
    ("POST", "/api/v1/risk/kill-switch"): Action.KILL_SWITCH,
    ("POST", "/api/v1/risk/kill-switch/release"): Action.KILL_SWITCH,
    ("PUT", "/api/v1/risk/limits/{scope}"): Action.SET_RISK,
    ("POST", "/api/v1/risk/overrides/{scope}"): Action.SET_RISK,
    ("DELETE", "/api/v1/risk/overrides/{scope}"): Action.SET_RISK,
    ("PUT", "/api/v1/risk/restricted/{scope}"): Action.SET_RISK,
    ("PUT", "/api/v1/risk/watch/{scope}"): Action.SET_RISK,
    ("POST", "/api/v1/risk/locates"): Action.LOCATES,
    ("GET", "/api/v1/risk/locates"): Action.READ,
    ("GET", "/api/v1/instruments"): Action.READ,
    ("GET", "/api/v1/accounts"): Action.READ,
    ("GET", "/api/v1/marketdata/{symbol}"): Action.READ,
    ("POST", "/api/v1/admin/end-of-day"): Action.TRADING_DAY,
    ("POST", "/api/v1/admin/start-of-day"): Action.TRADING_DAY,
    # One order's reconstruction: anyone who sees the order (checked on its account below).
    ("GET", "/api/v1/audit/orders/{order_id}"): Action.READ,
    ("GET", "/api/v1/audit/orders"): Action.AUDIT,
    ("GET", "/api/v1/audit/actions"): Action.AUDIT,
    ("GET", "/api/v1/audit/controls"): Action.AUDIT,
    # Venues, routing and algorithms (issue 5)
    ("GET", "/api/v1/venues"): Action.READ,
    ("PUT", "/api/v1/venues/{venue_id}/state"): Action.ROUTING,
    ("GET", "/api/v1/routing/rules"): Action.READ,
    ("PUT", "/api/v1/routing/rules"): Action.ROUTING,
    ("GET", "/api/v1/orders/{order_id}/routing"): Action.READ,
    ("GET", "/api/v1/marketdata/{symbol}/venues"): Action.READ,
    ("GET", "/api/v1/feeds"): Action.READ,
    ("POST", "/api/v1/algos"): Action.TRADE,
    ("GET", "/api/v1/algos"): Action.READ,
    ("GET", "/api/v1/algos/{algo_id}"): Action.READ,
    ("POST", "/api/v1/algos/{algo_id}/pause"): Action.TRADE,
    ("POST", "/api/v1/algos/{algo_id}/resume"): Action.TRADE,
    ("POST", "/api/v1/algos/{algo_id}/cancel"): Action.TRADE,
    ("POST", "/api/v1/algos/{algo_id}/modify"): Action.TRADE,
    # Post-trade (issue 7)
    ("GET", "/api/v1/posttrade/trades"): Action.READ,
    ("GET", "/api/v1/posttrade/positions"): Action.READ,
    ("GET", "/api/v1/posttrade/statement"): Action.READ,
    ("POST", "/api/v1/posttrade/positions/load"): Action.SETTLEMENT,
    ("POST", "/api/v1/posttrade/positions/reconcile"): Action.SETTLEMENT,
    ("POST", "/api/v1/posttrade/allocations/plan"): Action.ALLOCATE,
    ("POST", "/api/v1/posttrade/allocations"): Action.ALLOCATE,
    ("GET", "/api/v1/posttrade/allocations"): Action.READ,
    ("GET", "/api/v1/posttrade/allocations/{allocation_id}"): Action.READ,
    ("PUT", "/api/v1/posttrade/allocations/{allocation_id}"): Action.ALLOCATE,
    ("DELETE", "/api/v1/posttrade/allocations/{allocation_id}"): Action.ALLOCATE,
    ("POST", "/api/v1/posttrade/allocations/{allocation_id}/ack"): Action.ALLOCATE,
    ("GET", "/api/v1/posttrade/allocations/{allocation_id}/fix"): Action.READ,
    ("POST", "/api/v1/posttrade/settlement/instruct"): Action.SETTLEMENT,
    ("GET", "/api/v1/posttrade/settlement/instructions"): Action.READ,
    ("GET", "/api/v1/posttrade/settlement/instructions/{instruction_id}/sese023.xml"): Action.READ,
    ("POST", "/api/v1/posttrade/settlement/instructions/{instruction_id}/status"): Action.SETTLEMENT,
    ("POST", "/api/v1/posttrade/settlement/status-file"): Action.SETTLEMENT,
    ("GET", "/api/v1/posttrade/settlement/fails"): Action.READ,
    # Staged orders (issue 8): portfolio managers stage and withdraw, traders pick up and release.
    ("POST", "/api/v1/staged"): Action.STAGE,
    ("GET", "/api/v1/staged"): Action.READ,
    ("POST", "/api/v1/staged/{staged_id}/pick-up"): Action.TRADE,
    ("POST", "/api/v1/staged/{staged_id}/release"): Action.TRADE,
    ("POST", "/api/v1/staged/{staged_id}/cancel"): Action.STAGE,
}


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip()
    return None


def header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


class AccessControl:
    def __init__(self, oms: OMS, users: UserStore, trusted_header: bool) -> None:
        self.oms = oms
        self.users = users
        self.trusted_header = trusted_header
        config = oms.config
        self.throttle = SignInThrottle(config.login_max_failures, config.login_max_failures_per_address,
                                       config.login_failure_window_seconds)
        # credential digest -> (principal, valid until ns), for one version of the user store: any
        # change to a user, key or session (here or by `oms users`) empties it.
        self._cache: dict[str, tuple[Principal, int]] = {}
        self._cache_version: tuple[int, int] = (-1, -1)

    def principal_of(self, user: User, via: str) -> Principal:
        """The user as the API sees them; desks expand to their accounts. Also tells the engine."""
        reference = self.oms.reference
        accounts = set(user.accounts)
        for account in reference.accounts.values():
            if account.desk_id in user.desks:
                accounts.add(account.account_id)
        principal = Principal(user.username, user.roles, frozenset(accounts), via)
        self._feed_engine(principal)
        return principal

    def _feed_engine(self, principal: Principal) -> None:
        feed_reference(self.oms.reference, principal)

    def authenticate(self, headers: list[tuple[bytes, bytes]], query_token: str | None = None) -> Principal | None:
        if self.trusted_header:
            name = header(headers, b"x-oms-user") or self.oms.config.default_user
            return Principal(name, frozenset(), frozenset(), "trusted_header", trusted=True)
        credential = bearer(headers) or query_token
        if credential is None:
            return None
        version = self.users.version()
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version
        key = hashlib.sha256(credential.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and time.time_ns() < cached[1]:
            return cached[0]
        found = self.users.authenticate(credential)
        if found is None:
            return None
        user, via, expires = found
        principal = self.principal_of(user, via)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (principal, expires)
        return principal

    def deny(self, principal: Principal, action: str, target: str) -> None:
        log.warning("access denied: %s may not %s (%s)", principal.user, action, target)
        self.users.record_denial(principal.user, action, target)


class AccessMiddleware:
    """Checks every /api/ HTTP request before it reaches a route (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, control: AccessControl, fastapi_app: FastAPI) -> None:
        self.app = app
        self.control = control
        self.fastapi_app = fastapi_app
        self._routes: list[Route] | None = None

    def routes(self) -> list[Route]:
        if self._routes is None:
            self._routes = [r for r in self.fastapi_app.routes if isinstance(r, Route) and r.path.startswith("/api/")]
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        try:
            refusal = self.check(scope)
        except UserStoreUnavailable as exc:  # PostgreSQL holding the users is away: refuse, do not crash
            refusal = error_response(503, "USER_STORE_UNAVAILABLE", str(exc))
        if refusal is not None:
            await refusal(scope, receive, send)  # type: ignore[arg-type]
            return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> Response | None:
        control = self.control
        if control.trusted_header:  # the embedding process vouches; only the engine's checks apply
            scope.setdefault("state", {})["principal"] = control.authenticate(scope["headers"])
            return None
        template, params = None, {}
        for route in self.routes():
            match, child = route.matches(scope)
            if match is Match.FULL:
                template, params = route.path, child.get("path_params", {})
                break
        required = ROUTE_ACTIONS.get((scope["method"], template)) if template else None
        if required is PUBLIC:
            return None
        principal = control.authenticate(scope["headers"])
        if principal is None:
            return error_response(401, "UNAUTHENTICATED", "sign in: send Authorization: Bearer <session token or API key>")
        scope.setdefault("state", {})["principal"] = principal
        if template is None or required is AUTHENTICATED:
            return None  # the router answers 404/405 for paths it does not know
        if required is None:
            if principal.may(Action.ADMIN_USERS):
                return None
            control.deny(principal, "unmapped route", f"{scope['method']} {template}")
            return error_response(403, "NOT_PERMITTED", f"{scope['method']} {template} has no access rule; only an administrator may call it")
        assert isinstance(required, Action)
        if not principal.may(required):
            control.deny(principal, required.value, f"{scope['method']} {scope['path']}")
            return error_response(403, "NOT_PERMITTED", f"{required.value} needs one of the roles "
                                  f"{', '.join(sorted(_roles_for(required)))}; {principal.user!r} has "
                                  f"{', '.join(sorted(principal.roles)) or 'none'}",
                                  {"user": principal.user, "action": required.value})
        order_id = params.get("order_id")
        if order_id is not None and not principal.trusted:
            order = self.control.oms.engine.orders.get(OrderId(order_id))
            if order is not None and not principal.sees(order.account):
                control.deny(principal, required.value, f"order {order_id} of {order.account}")
                return error_response(404, "UNKNOWN_ORDER", f"unknown order {order_id!r}", {"order_id": order_id})
            if order is not None and required is Action.TRADE and not principal.trades(order.account):
                control.deny(principal, required.value, f"order {order_id} of {order.account}")
                return error_response(403, "NOT_ENTITLED", f"{principal.user!r} may not act on account {order.account!r}",
                                      {"user": principal.user, "account": order.account})
        return None


def _roles_for(action: Action) -> frozenset[str]:
    from ..access.policy import PERMISSIONS

    return frozenset(r.value for r in PERMISSIONS[action])
