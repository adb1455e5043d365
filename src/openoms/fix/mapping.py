"""FIX 4.4 application messages <-> the engine's commands and events (pure: no I/O).

Inbound: ``check_body`` finds what makes a message invalid at the session level (a Reject with
its SessionRejectReason); ``new_order`` and ``replace_fields`` turn a valid message into the
engine's terms or say why the business cannot take it. Outbound: ``execution_report`` and
``cancel_reject`` render an order (the domain's ``Order``, folded event by event) as FIX.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain import commands as cmd
from ..domain.ids import AccountId, ClientOrderId, Symbol
from ..domain.order import Order
from ..domain.rejects import CXL_REJ_REASON, Reject
from . import codec
from . import tags as t
from .codec import FixMessage

Pairs = list[tuple[int, str]]

# Required fields of each supported message (FIX 4.4; OrderQty stands for OrderQtyData on D).
REQUIRED: dict[str, tuple[int, ...]] = {
    t.NEW_ORDER_SINGLE: (t.ClOrdID, t.Symbol, t.Side_, t.TransactTime, t.OrderQty, t.OrdType_),
    t.ORDER_CANCEL_REQUEST: (t.OrigClOrdID, t.ClOrdID, t.Symbol, t.Side_, t.TransactTime),
    t.ORDER_CANCEL_REPLACE_REQUEST: (t.OrigClOrdID, t.ClOrdID, t.Symbol, t.Side_, t.TransactTime, t.OrdType_),
    t.ORDER_STATUS_REQUEST: (t.ClOrdID, t.Symbol, t.Side_),
    t.ORDER_MASS_CANCEL_REQUEST: (t.ClOrdID, t.MassCancelRequestType, t.TransactTime),
    t.ORDER_MASS_STATUS_REQUEST: (t.MassStatusReqID, t.MassStatusReqType),
}
SUPPORTED = frozenset(REQUIRED)
_ENUMS: dict[int, frozenset[str]] = {
    t.Side_: t.FIX44_SIDES,
    t.OrdType_: t.FIX44_ORD_TYPES,
    t.TimeInForce_: t.FIX44_TIFS,
    t.MassCancelRequestType: frozenset("1234567"),
    t.MassStatusReqType: frozenset("12345678"),
}
_DECIMALS = (t.OrderQty, t.Price, t.StopPx)
_TIMESTAMPS = (t.TransactTime, t.ExpireTime)
_READ = frozenset({*(tag for tags in REQUIRED.values() for tag in tags), t.Account, t.Price, t.StopPx, t.TimeInForce_,
                   t.ExpireTime, t.OrderQty})
_FIX_FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


@dataclass(frozen=True, slots=True)
class SessionProblem:
    """Invalid at the session level: answered with Reject (35=3)."""

    reason: int
    tag: int | None
    text: str


@dataclass(frozen=True, slots=True)
class BusinessProblem:
    """Valid FIX the business cannot take (unsupported value, account not bound to the session)."""

    ord_rej_reason: str
    text: str


def number(text: str) -> Decimal:
    return Decimal(text)


def fmt(value: Decimal) -> str:
    return format(value, "f")


def avg_px(order: Order) -> str:
    """AvgPx as FIX float text: exact when it terminates, never in exponent notation."""
    if not order.cum_qty:
        return "0"
    return format(order.avg_px.normalize(), "f")


def check_body(message: FixMessage) -> SessionProblem | None:
    """Required tags present, each read tag once, enumerations and formats valid."""
    fields = message.fields
    for tag in REQUIRED.get(message.msg_type, ()):
        if tag not in fields:
            return SessionProblem(t.REQUIRED_TAG_MISSING, tag, "Required tag missing")
    repeated = message.repeated & _READ
    if repeated:
        return SessionProblem(t.TAG_REPEATED, min(repeated), "Tag appears more than once")
    for tag, allowed in _ENUMS.items():
        value = fields.get(tag)
        if value is not None and value not in allowed:
            return SessionProblem(t.VALUE_INCORRECT, tag, "Value is incorrect (out of range) for this tag")
    for tag in _DECIMALS:
        value = fields.get(tag)
        if value is not None and not _FIX_FLOAT.fullmatch(value):
            return SessionProblem(t.INCORRECT_DATA_FORMAT, tag, "Incorrect data format for value")
    for tag in _TIMESTAMPS:
        value = fields.get(tag)
        if value is not None and codec.parse_utc_timestamp(value) is None:
            return SessionProblem(t.INCORRECT_DATA_FORMAT, tag, "Incorrect data format for value")
    return None


def account_of(message: FixMessage, accounts: Sequence[AccountId]) -> AccountId | BusinessProblem:
    given = message.fields.get(t.Account)
    if given is None:
        return accounts[0]
    if given not in accounts:
        return BusinessProblem("99", f"account {given!r} is not bound to this FIX session")
    return AccountId(given)


def new_order(message: FixMessage, accounts: Sequence[AccountId], actor: cmd.Actor) -> cmd.SubmitOrder | BusinessProblem:
    """NewOrderSingle (already through ``check_body``) -> SubmitOrder."""
    fields = message.fields
    account = account_of(message, accounts)
    if isinstance(account, BusinessProblem):
        return account
    side = t.SIDES.get(fields[t.Side_])
    if side is None:
        return BusinessProblem("11", f"Side(54)={fields[t.Side_]} is not supported (1, 2, 5, 6 are)")
    ord_type = t.ORD_TYPES.get(fields[t.OrdType_])
    if ord_type is None:
        return BusinessProblem("11", f"OrdType(40)={fields[t.OrdType_]} is not supported (1, 2, 3, 4 are)")
    tif = t.TIFS.get(fields.get(t.TimeInForce_, "0"))
    if tif is None:
        return BusinessProblem("11", f"TimeInForce(59)={fields[t.TimeInForce_]} is not supported (0, 1, 3, 4, 6 are)")
    expire = fields.get(t.ExpireTime)
    return cmd.SubmitOrder(
        actor=actor,
        account=account,
        cl_ord_id=ClientOrderId(fields[t.ClOrdID]),
        symbol=Symbol(fields[t.Symbol]),
        side=side,
        quantity=number(fields[t.OrderQty]),
        ord_type=ord_type,
        price=number(fields[t.Price]) if t.Price in fields else None,
        stop_price=number(fields[t.StopPx]) if t.StopPx in fields else None,
        tif=tif,
        expire_at=codec.parse_utc_timestamp(expire) if expire else None,
    )


def replace_fields(message: FixMessage) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    fields = message.fields
    return (
        number(fields[t.OrderQty]) if t.OrderQty in fields else None,
        number(fields[t.Price]) if t.Price in fields else None,
        number(fields[t.StopPx]) if t.StopPx in fields else None,
    )


def _order_fields(order: Order) -> Pairs:
    pairs: Pairs = [(t.Account, order.account), (t.Symbol, order.symbol), (t.Side_, t.SIDE_CODE[order.side]),
                    (t.OrderQty, fmt(order.quantity)), (t.OrdType_, t.ORD_TYPE_CODE[order.ord_type])]
    if order.price is not None:
        pairs.append((t.Price, fmt(order.price)))
    if order.stop_price is not None:
        pairs.append((t.StopPx, fmt(order.stop_price)))
    pairs.append((t.TimeInForce_, t.TIF_CODE[order.tif]))
    return pairs


def execution_report(
    order: Order,
    exec_type: str,
    exec_id: str,
    transact_time: str,
    cl_ord_id: str | None = None,
    orig_cl_ord_id: str | None = None,
    last: tuple[Decimal, Decimal] | None = None,
    text: str = "",
    extra: Pairs | None = None,
) -> Pairs:
    """An ExecutionReport body for ``order`` as it stands (OrdStatus, CumQty, LeavesQty, AvgPx)."""
    pairs: Pairs = [(t.OrderID, order.order_id), (t.ClOrdID, cl_ord_id or order.cl_ord_id)]
    if orig_cl_ord_id:
        pairs.append((t.OrigClOrdID, orig_cl_ord_id))
    pairs += [(t.ExecID, exec_id), (t.ExecType, exec_type), (t.OrdStatus_, t.ORD_STATUS_CODE[order.status])]
    pairs += _order_fields(order)
    if last is not None:
        pairs += [(t.LastQty, fmt(last[0])), (t.LastPx, fmt(last[1]))]
    pairs += [(t.LeavesQty, fmt(order.leaves_qty)), (t.CumQty, fmt(order.cum_qty)), (t.AvgPx, avg_px(order)),
              (t.TransactTime, transact_time)]
    if text:
        pairs.append((t.Text, text))
    if extra:
        pairs += extra
    return pairs


def rejected_order(command: cmd.SubmitOrder, exec_id: str, transact_time: str, reason: Reject | BusinessProblem) -> Pairs:
    """ExecType=8 for an order the OMS never took (no OrderID: "NONE")."""
    if isinstance(reason, BusinessProblem):
        code, text = reason.ord_rej_reason, reason.text
    else:
        code, text = t.ORD_REJ_REASON.get(reason.code, "99"), f"{reason.code.value}: {reason.message}"
    pairs: Pairs = [(t.OrderID, "NONE"), (t.ClOrdID, command.cl_ord_id), (t.ExecID, exec_id), (t.ExecType, "8"),
                    (t.OrdStatus_, "8"), (t.OrdRejReason, code), (t.Account, command.account), (t.Symbol, command.symbol),
                    (t.Side_, t.SIDE_CODE[command.side]), (t.OrderQty, fmt(command.quantity)),
                    (t.OrdType_, t.ORD_TYPE_CODE[command.ord_type])]
    if command.price is not None:
        pairs.append((t.Price, fmt(command.price)))
    pairs += [(t.LeavesQty, "0"), (t.CumQty, "0"), (t.AvgPx, "0"), (t.TransactTime, transact_time), (t.Text, text)]
    return pairs


def rejected_message(message: FixMessage, exec_id: str, transact_time: str, problem: BusinessProblem) -> Pairs:
    """ExecType=8 for a NewOrderSingle that could not even become a command (unsupported values)."""
    fields = message.fields
    pairs: Pairs = [(t.OrderID, "NONE"), (t.ClOrdID, fields[t.ClOrdID]), (t.ExecID, exec_id), (t.ExecType, "8"),
                    (t.OrdStatus_, "8"), (t.OrdRejReason, problem.ord_rej_reason)]
    if t.Account in fields:
        pairs.append((t.Account, fields[t.Account]))
    pairs += [(t.Symbol, fields[t.Symbol]), (t.Side_, fields[t.Side_]), (t.OrderQty, fields[t.OrderQty]),
              (t.OrdType_, fields[t.OrdType_]), (t.LeavesQty, "0"), (t.CumQty, "0"), (t.AvgPx, "0"),
              (t.TransactTime, transact_time), (t.Text, problem.text)]
    return pairs


def cancel_reject(
    order: Order | None,
    cl_ord_id: str,
    orig_cl_ord_id: str,
    response_to: str,
    reason: Reject | None,
    text: str = "",
) -> Pairs:
    """OrderCancelReject (35=9). ``response_to``: 1 cancel, 2 cancel/replace. No order: unknown (1)."""
    code = "1" if order is None else str(CXL_REJ_REASON.get(reason.code, 99)) if reason is not None else "99"
    status = t.ORD_STATUS_CODE[order.status] if order is not None else "8"
    message = text or (f"{reason.code.value}: {reason.message}" if reason is not None else "")
    pairs: Pairs = [(t.OrderID, order.order_id if order is not None else "NONE"), (t.ClOrdID, cl_ord_id),
                    (t.OrigClOrdID, orig_cl_ord_id), (t.OrdStatus_, status), (t.CxlRejResponseTo, response_to),
                    (t.CxlRejReason, code)]
    if message:
        pairs.append((t.Text, message))
    return pairs
