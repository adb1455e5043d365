"""Rejections are data: one code list shared by the engine, venues, REST and (later) FIX Text(58)."""

from __future__ import annotations

from enum import Enum

import msgspec


class RejectCode(str, Enum):
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    UNKNOWN_TRADER = "UNKNOWN_TRADER"
    NOT_PERMITTED = "NOT_PERMITTED"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    LOT_SIZE_VIOLATION = "LOT_SIZE_VIOLATION"
    TICK_SIZE_VIOLATION = "TICK_SIZE_VIOLATION"
    INVALID_ORDER_TYPE = "INVALID_ORDER_TYPE"
    INVALID_TIME_IN_FORCE = "INVALID_TIME_IN_FORCE"
    DUPLICATE_CL_ORD_ID = "DUPLICATE_CL_ORD_ID"
    INVALID_CL_ORD_ID = "INVALID_CL_ORD_ID"
    TOO_LATE = "TOO_LATE"  # CxlRejReason 0: the order is already done
    ALREADY_PENDING = "ALREADY_PENDING"  # CxlRejReason 3
    VENUE_REJECT = "VENUE_REJECT"
    NO_ROUTE = "NO_ROUTE"  # no venue can take the order (all down, closed, excluded by rules or lots)
    INVALID_ROUTING = "INVALID_ROUTING"
    INVALID_ALGO = "INVALID_ALGO"  # execution algorithm parameters that cannot work
    UNKNOWN_ALGO = "UNKNOWN_ALGO"  # a routing rule set that names an unknown venue or instrument
    UNEXPECTED_REPORT = "UNEXPECTED_REPORT"
    ENGINE_UNAVAILABLE = "ENGINE_UNAVAILABLE"
    # pre-trade risk (openoms.risk): the detail names the rule, the scope, the limit and the value
    INVALID_LIMIT = "INVALID_LIMIT"
    RISK_RESTRICTED = "RISK_RESTRICTED"
    RISK_NO_LIMITS = "RISK_NO_LIMITS"
    RISK_MAX_QUANTITY = "RISK_MAX_QUANTITY"
    RISK_MAX_NOTIONAL = "RISK_MAX_NOTIONAL"
    RISK_PRICE_COLLAR = "RISK_PRICE_COLLAR"
    RISK_POSITION_LIMIT = "RISK_POSITION_LIMIT"
    RISK_DUPLICATE_ORDER = "RISK_DUPLICATE_ORDER"
    RISK_THROTTLE = "RISK_THROTTLE"
    RISK_NO_REFERENCE_PRICE = "RISK_NO_REFERENCE_PRICE"
    RISK_STALE_REFERENCE_PRICE = "RISK_STALE_REFERENCE_PRICE"
    RISK_CHECK_FAILED = "RISK_CHECK_FAILED"
    RISK_HALTED = "RISK_HALTED"
    RISK_NOT_PERMITTED = "RISK_NOT_PERMITTED"  # asset class or venue not permitted for the scope
    RISK_TRADING_HOURS = "RISK_TRADING_HOURS"
    RISK_PRICE_BOUND = "RISK_PRICE_BOUND"  # min_price / max_price
    RISK_PCT_ADV = "RISK_PCT_ADV"
    RISK_NO_ADV = "RISK_NO_ADV"
    RISK_CREDIT_LIMIT = "RISK_CREDIT_LIMIT"
    RISK_EXPOSURE_LIMIT = "RISK_EXPOSURE_LIMIT"
    RISK_LOSS_LIMIT = "RISK_LOSS_LIMIT"
    RISK_NO_FX_RATE = "RISK_NO_FX_RATE"
    RISK_SHORT_SALE = "RISK_SHORT_SALE"  # Reg SHO marking: a sale marked long that the position does not cover
    RISK_NO_LOCATE = "RISK_NO_LOCATE"
    RISK_ORDER_TO_TRADE = "RISK_ORDER_TO_TRADE"
    RISK_SELF_TRADE = "RISK_SELF_TRADE"
    KILL_SWITCH = "KILL_SWITCH"
    INVALID_SCOPE = "INVALID_SCOPE"
    # post-trade (openoms.posttrade)
    INVALID_ALLOCATION = "INVALID_ALLOCATION"
    UNKNOWN_ALLOCATION = "UNKNOWN_ALLOCATION"
    INVALID_SETTLEMENT = "INVALID_SETTLEMENT"
    INVALID_POSITIONS = "INVALID_POSITIONS"
    INVALID_FEE_SCHEDULE = "INVALID_FEE_SCHEDULE"


# FIX 4.4 CxlRejReason(102) for the codes that can answer a cancel or replace request.
CXL_REJ_REASON = {
    RejectCode.TOO_LATE: 0,
    RejectCode.UNKNOWN_ORDER: 1,
    RejectCode.ALREADY_PENDING: 3,
    RejectCode.DUPLICATE_CL_ORD_ID: 6,
}


class Reject(msgspec.Struct, frozen=True, gc=False):
    """Why something was refused: a stable code, a sentence for people, and the facts behind it."""

    code: RejectCode
    message: str
    detail: dict[str, str] = {}
