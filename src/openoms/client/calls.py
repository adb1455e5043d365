"""The API calls as data, without I/O: what to send (method, path, query, body) and how to read
the answer. ``OmsClient`` and ``AsyncOmsClient`` only carry these over httpx, so both behave
the same and their arguments are checked in one place, before anything is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Generic, TypeVar
from urllib.parse import quote as url_quote

import msgspec

from ..domain.lifecycle import OrdStatus
from ..domain.values import OrdType, Side, TimeInForce
from . import models as m
from .errors import OmsApiError, OmsConnectionError, OmsInputError, api_error

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

Number = Decimal | int | str  # a float is refused: 0.1 has no exact binary value
_encode = msgspec.json.Encoder(decimal_format="string").encode
RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or a server not ready yet: a read may be asked again


class OmsProtocolError(OmsConnectionError):
    """Something answered, but not with the OpenOMS API's JSON."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request and the decoder of its successful answer."""

    method: str
    path: str
    decode: Callable[[bytes], T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def idempotent(self) -> bool:
        # Only reads are retried: a submit or cancel sent twice could act twice (or be refused
        # as a duplicate after the first one went through).
        return self.method == "GET"


def read_answer(call: Call[T], status: int, content: bytes) -> T:
    """The answer's model, or the server's refusal as a typed exception."""
    if status >= 400:
        raise error_of(status, content)
    try:
        return call.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise OmsProtocolError(f"{call.method} {call.path}: the answer is not the OpenOMS API's: {exc}") from None


_decode_error = msgspec.json.Decoder(m.ErrorEnvelope, float_hook=Decimal).decode


def error_of(status: int, content: bytes | bytearray) -> OmsApiError:
    try:
        envelope = _decode_error(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = bytes(content).decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        return api_error(status, f"HTTP_{status}", text or f"HTTP status {status} with no error document")
    error = envelope.error
    return api_error(status, error.code, error.message, error.detail)


@functools.cache  # one decoder per answer type, built on first use
def _decoder(kind: type[T]) -> Callable[[bytes], T]:
    decoder = msgspec.json.Decoder(kind, float_hook=Decimal)
    return decoder.decode


@functools.cache
def _field(name: str, decode_as: Any) -> Callable[[bytes], Any]:
    """Decode ``{name: ...}`` and return the inner value (lists of orders, positions...)."""
    wrapper = msgspec.defstruct(f"{name.title()}Envelope", [(name, decode_as)])
    decoder = msgspec.json.Decoder(wrapper, float_hook=Decimal)
    return lambda content: getattr(decoder.decode(content), name)


# --- argument checks -------------------------------------------------------------------------------

def decimal_of(value: Number | None, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise OmsInputError(f"{name} must be a Decimal, an int or a decimal string, not {type(value).__name__} "
                            f"({value!r} is not exact); write Decimal({str(value)!r}) or {str(value)!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise OmsInputError(f"{name} must be a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise OmsInputError(f"{name} must be a finite number, got {value!r}")
    return number


def enum_of(kind: type[E], value: E | str | None, name: str) -> E | None:
    if value is None or isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise OmsInputError(f"{name} must be one of {choices}; got {value!r}") from None


def text_of(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise OmsInputError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def moment_of(value: datetime | None, name: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise OmsInputError(f"{name} needs a timezone (for example datetime(..., tzinfo=UTC))")
    return value.isoformat()


def segment(value: str, name: str) -> str:
    """A path segment (an order id), quoted so that no id can reach another route."""
    text = text_of(value, name)
    assert text is not None
    return url_quote(text, safe="")


class NewOrder(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """An order to submit or to ask about (what-if, baskets). Build it with ``new_order()``,
    which checks every field."""

    account: str
    symbol: str
    side: Side
    quantity: Decimal
    ord_type: OrdType | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce | None = None
    expire_at: str | None = None
    cl_ord_id: str | None = None


def new_order(account: str, symbol: str, side: Side | str, quantity: Number, *, price: Number | None = None,
              ord_type: OrdType | str | None = None, stop_price: Number | None = None, tif: TimeInForce | str | None = None,
              expire_at: datetime | None = None, cl_ord_id: str | None = None) -> NewOrder:
    """A checked order: quantities and prices exact (Decimal, int or decimal string; never float),
    enums by value (``"buy"``, ``"limit"``, ``"gtc"``). The server applies its own checks too."""
    checked_quantity = decimal_of(quantity, "quantity")
    checked_side = enum_of(Side, side, "side")
    assert checked_quantity is not None and checked_side is not None
    return NewOrder(
        account=text_of(account, "account") or "", symbol=text_of(symbol, "symbol") or "", side=checked_side,
        quantity=checked_quantity, ord_type=enum_of(OrdType, ord_type, "ord_type"), price=decimal_of(price, "price"),
        stop_price=decimal_of(stop_price, "stop_price"), tif=enum_of(TimeInForce, tif, "tif"),
        expire_at=moment_of(expire_at, "expire_at"), cl_ord_id=text_of(cl_ord_id, "cl_ord_id"),
    )


def _body(values: Mapping[str, Any]) -> bytes:
    return _encode({key: value for key, value in values.items() if value is not None})


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    params = {}
    for key, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            params[key] = "true"
        elif isinstance(value, Enum):
            params[key] = str(value.value)
        else:
            params[key] = str(value)
    return params


# --- the calls ---------------------------------------------------------------------------------------

def submit_order(order: NewOrder) -> Call[m.OrderAck]:
    return Call("POST", "/api/v1/orders", _decoder(m.OrderAck), body=_encode(order))


def replace_order(order_id: str, quantity: Number | None = None, price: Number | None = None,
                  stop_price: Number | None = None, cl_ord_id: str | None = None) -> Call[m.OrderAck]:
    values = {"quantity": decimal_of(quantity, "quantity"), "price": decimal_of(price, "price"),
              "stop_price": decimal_of(stop_price, "stop_price")}
    if all(value is None for value in values.values()):
        raise OmsInputError("a replace needs at least one of quantity, price, stop_price")
    return Call("POST", f"/api/v1/orders/{segment(order_id, 'order_id')}/replace", _decoder(m.OrderAck),
                body=_body({**values, "cl_ord_id": text_of(cl_ord_id, "cl_ord_id")}))


def cancel_order(order_id: str, cl_ord_id: str | None = None) -> Call[m.OrderAck]:
    return Call("POST", f"/api/v1/orders/{segment(order_id, 'order_id')}/cancel", _decoder(m.OrderAck),
                body=_body({"cl_ord_id": text_of(cl_ord_id, "cl_ord_id")}))


def list_orders(status: OrdStatus | str | None = None, account: str | None = None, symbol: str | None = None,
                since: datetime | None = None, until: datetime | None = None, open_only: bool = False,
                limit: int | None = None) -> Call[list[m.Order]]:
    params = _query({"status": enum_of(OrdStatus, status, "status"), "account": text_of(account, "account"),
                     "symbol": text_of(symbol, "symbol"), "since": moment_of(since, "since"),
                     "until": moment_of(until, "until"), "open": open_only, "limit": _limit(limit)})
    return Call("GET", "/api/v1/orders", _field("orders", list[m.Order]), params=params)


def get_order(order_id: str) -> Call[m.OrderDetail]:
    return Call("GET", f"/api/v1/orders/{segment(order_id, 'order_id')}", _decoder(m.OrderDetail))


def list_executions(account: str | None = None, symbol: str | None = None, order_id: str | None = None,
                    limit: int | None = None) -> Call[list[m.Execution]]:
    params = _query({"account": text_of(account, "account"), "symbol": text_of(symbol, "symbol"),
                     "order_id": text_of(order_id, "order_id"), "limit": _limit(limit)})
    return Call("GET", "/api/v1/executions", _field("executions", list[m.Execution]), params=params)


def list_positions(account: str | None = None, symbol: str | None = None) -> Call[list[m.Position]]:
    params = _query({"account": text_of(account, "account"), "symbol": text_of(symbol, "symbol")})
    return Call("GET", "/api/v1/positions", _field("positions", list[m.Position]), params=params)


def risk_limits() -> Call[m.RiskLimits]:
    return Call("GET", "/api/v1/risk/limits", _decoder(m.RiskLimits))


def risk_usage(account: str | None = None, symbol: str | None = None) -> Call[m.RiskUsage]:
    params = _query({"account": text_of(account, "account"), "symbol": text_of(symbol, "symbol")})
    return Call("GET", "/api/v1/risk/usage", _decoder(m.RiskUsage), params=params)


def what_if(order: NewOrder) -> Call[m.WhatIf]:
    return Call("POST", "/api/v1/risk/what-if", _decoder(m.WhatIf), body=_encode(order))


def what_if_basket(orders: Sequence[NewOrder]) -> Call[m.BasketWhatIf]:
    if not orders:
        raise OmsInputError("a basket needs at least one order")
    if not all(isinstance(order, NewOrder) for order in orders):
        raise OmsInputError("a basket is a list of NewOrder (build each with new_order())")
    return Call("POST", "/api/v1/risk/what-if/basket", _decoder(m.BasketWhatIf), body=_encode({"orders": list(orders)}))


def _kill_switch_body(scope: str, reason: str) -> bytes:
    checked_scope = text_of(scope, "scope")
    assert checked_scope is not None
    if ":" not in checked_scope:
        raise OmsInputError(f"scope must be firm:, desk:, trader:, account: or instrument: followed by a name; got {scope!r}")
    return _body({"scope": checked_scope, "reason": text_of(reason, "reason")})


def engage_kill_switch(scope: str, reason: str) -> Call[m.KillSwitch]:
    return Call("POST", "/api/v1/risk/kill-switch", _decoder(m.KillSwitch), body=_kill_switch_body(scope, reason))


def release_kill_switch(scope: str, reason: str) -> Call[m.KillSwitch]:
    return Call("POST", "/api/v1/risk/kill-switch/release", _decoder(m.KillSwitch), body=_kill_switch_body(scope, reason))


def order_history(order_id: str) -> Call[m.AuditHistory]:
    return Call("GET", f"/api/v1/audit/orders/{segment(order_id, 'order_id')}", _decoder(m.AuditHistory))


def instruments() -> Call[list[m.Instrument]]:
    return Call("GET", "/api/v1/instruments", _field("instruments", list[m.Instrument]))


def accounts() -> Call[list[m.Account]]:
    return Call("GET", "/api/v1/accounts", _field("accounts", list[m.Account]))


def quote(symbol: str) -> Call[m.Quote]:
    return Call("GET", f"/api/v1/marketdata/{segment(symbol, 'symbol')}", _decoder(m.Quote))


# --- execution algorithms -------------------------------------------------------------------------

ALGO_KINDS = ("twap", "vwap", "pov", "iceberg")


def start_algo(account: str, symbol: str, side: Side | str, quantity: Number, kind: str, *, limit_price: Number | None = None,
               start_at: datetime | None = None, end_at: datetime | None = None, interval_s: int | None = None,
               participation_pct: Number | None = None, min_participation_pct: Number | None = None,
               max_participation_pct: Number | None = None, display_qty: Number | None = None, route: str | None = None,
               cl_ord_id: str | None = None) -> Call[m.Algo]:
    if kind not in ALGO_KINDS:
        raise OmsInputError(f"kind must be one of {', '.join(ALGO_KINDS)}; got {kind!r}")
    if interval_s is not None and (isinstance(interval_s, bool) or not isinstance(interval_s, int) or interval_s < 1):
        raise OmsInputError(f"interval_s must be a positive integer, got {interval_s!r}")
    return Call("POST", "/api/v1/algos", _field("algo", m.Algo), body=_body({
        "account": text_of(account, "account"), "symbol": text_of(symbol, "symbol"), "side": enum_of(Side, side, "side"),
        "quantity": decimal_of(quantity, "quantity"), "kind": kind, "limit_price": decimal_of(limit_price, "limit_price"),
        "start_at": moment_of(start_at, "start_at"), "end_at": moment_of(end_at, "end_at"), "interval_s": interval_s,
        "participation_pct": decimal_of(participation_pct, "participation_pct"),
        "min_participation_pct": decimal_of(min_participation_pct, "min_participation_pct"),
        "max_participation_pct": decimal_of(max_participation_pct, "max_participation_pct"),
        "display_qty": decimal_of(display_qty, "display_qty"), "route": route, "cl_ord_id": text_of(cl_ord_id, "cl_ord_id")}))


def list_algos() -> Call[list[m.Algo]]:
    return Call("GET", "/api/v1/algos", _field("algos", list[m.Algo]))


def get_algo(algo_id: str) -> Call[m.Algo]:
    return Call("GET", f"/api/v1/algos/{segment(algo_id, 'algo_id')}", _field("algo", m.Algo))


def algo_action(algo_id: str, action: str, reason: str = "") -> Call[m.Algo]:
    """pause, resume or cancel (cascading to the children)."""
    return Call("POST", f"/api/v1/algos/{segment(algo_id, 'algo_id')}/{action}", _field("algo", m.Algo),
                body=_body({"reason": reason}))


def modify_algo(algo_id: str, quantity: Number | None = None, limit_price: Number | None = None,
                end_at: datetime | None = None, participation_pct: Number | None = None) -> Call[m.Algo]:
    values = {"quantity": decimal_of(quantity, "quantity"), "limit_price": decimal_of(limit_price, "limit_price"),
              "end_at": moment_of(end_at, "end_at"), "participation_pct": decimal_of(participation_pct, "participation_pct")}
    if all(value is None for value in values.values()):
        raise OmsInputError("a modify needs at least one of quantity, limit_price, end_at, participation_pct")
    return Call("POST", f"/api/v1/algos/{segment(algo_id, 'algo_id')}/modify", _field("algo", m.Algo), body=_body(values))


# --- staged orders ----------------------------------------------------------------------------------

def stage_order(order: NewOrder, for_trader: str | None = None, note: str | None = None) -> Call[m.StagedOrder]:
    if order.expire_at is not None or order.cl_ord_id is not None:
        raise OmsInputError("a staged order takes no expire_at or cl_ord_id (its release uses the staged id)")
    body = {**msgspec.to_builtins(order), "for_trader": text_of(for_trader, "for_trader"), "note": text_of(note, "note")}
    return Call("POST", "/api/v1/staged", _field("staged", m.StagedOrder), body=_body(body))


def list_staged(include_done: bool = False) -> Call[list[m.StagedOrder]]:
    return Call("GET", "/api/v1/staged", _field("staged", list[m.StagedOrder]), params=_query({"all": include_done}))


def pick_up_staged(staged_id: str) -> Call[m.StagedOrder]:
    return Call("POST", f"/api/v1/staged/{segment(staged_id, 'staged_id')}/pick-up", _field("staged", m.StagedOrder), body=b"{}")


def release_staged(staged_id: str, route: str | None = None) -> Call[m.Release]:
    return Call("POST", f"/api/v1/staged/{segment(staged_id, 'staged_id')}/release", _decoder(m.Release),
                body=_body({"route": route}))


def cancel_staged(staged_id: str, reason: str | None = None) -> Call[m.StagedOrder]:
    return Call("POST", f"/api/v1/staged/{segment(staged_id, 'staged_id')}/cancel", _field("staged", m.StagedOrder),
                body=_body({"reason": text_of(reason, "reason")}))


def login(username: str, password: str) -> Call[m.Session]:
    return Call("POST", "/api/v1/auth/login", _decoder(m.Session),
                body=_body({"username": text_of(username, "username"), "password": password}))


def logout() -> Call[dict[str, Any]]:
    return Call("POST", "/api/v1/auth/logout", _decoder(dict[str, Any]))


def _limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise OmsInputError(f"limit must be a positive integer, got {limit!r}")
    return limit


def backoff_delays(retries: int, first: float) -> list[float]:
    """Seconds to wait before each retry of a read: doubling, capped at 5 s."""
    return [min(first * 2**attempt, 5.0) for attempt in range(max(retries, 0))]
