"""Wire DTOs for the REST API, decoded straight from the request bytes with msgspec.

Prices and quantities are Decimal: JSON numbers are read from their text (never through a
float) and strings like "230.01" are accepted too.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from ..domain.values import OrdType, Side, TimeInForce

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]


class NewOrderRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account: Id
    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    side: Side
    quantity: Decimal
    ord_type: OrdType = OrdType.LIMIT
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    expire_at: datetime | None = None  # GTD only; ISO 8601 with a timezone
    cl_ord_id: Id | None = None  # generated when absent
    route: Annotated[str, msgspec.Meta(max_length=64)] = ""  # "" routing rules, "sor" smart order router, or a venue id


class ReplaceRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    cl_ord_id: Id | None = None


class CancelRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cl_ord_id: Id | None = None


class CorrectionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    last_qty: Decimal
    last_px: Decimal


def schema_of(kind: type) -> dict[str, object]:
    """OpenAPI request body for a DTO, so /docs shows the exact fields."""
    _, components = msgspec.json.schema_components([kind], ref_template="#/components/schemas/{name}")
    body = components[kind.__name__]
    body["$defs"] = {}
    for name, component in components.items():
        if name != kind.__name__:
            body["$defs"][name] = component
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _inline(body, components)}}}}


def _inline(node: object, components: dict[str, object]) -> object:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _inline(components[ref.rsplit("/", 1)[-1]], components)
        return {k: _inline(v, components) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, components) for v in node]
    return node


class LimitsRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """New limits for a scope (numbers as decimal strings or integers); ``limits`` null removes them."""

    limits: dict[str, str | int | bool | list[str]] | None
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class RestrictedRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    symbols: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class KillSwitchRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    scope: Annotated[str, msgspec.Meta(min_length=3, max_length=80)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class OverrideRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Override some limits of a scope until ``expires_at``; they fall back on their own."""

    limits: dict[str, str | int | bool | list[str]]
    expires_at: datetime
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class ReasonRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class LocateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account: Id
    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    locate_id: Id
    quantity: Decimal
    expires_at: datetime
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""


class BasketRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    orders: Annotated[list[NewOrderRequest], msgspec.Meta(min_length=1, max_length=1000)]
