"""Python SDK of OpenOMS: typed sync and async clients of the HTTP API and its live stream.

    from openoms.client import OmsClient, OrderRejected

    with OmsClient("http://127.0.0.1:8000", token="oms_...") as oms:
        try:
            ack = oms.submit_order("ACC-EQ-1", "AAPL", "buy", 100, price="200.00")
        except OrderRejected as refusal:
            print(refusal.code, refusal.detail)

Prices and quantities are ``Decimal`` both ways; a ``float`` argument is refused (``OmsInputError``).
"""

from .aio import AsyncOmsClient
from .calls import NewOrder, OmsProtocolError, new_order
from .errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    OmsApiError,
    OmsConnectionError,
    OmsError,
    OmsInputError,
    OrderRejected,
    PermissionDenied,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from .models import (
    Account,
    AccountUsage,
    Algo,
    AuditHistory,
    BasketWhatIf,
    Execution,
    Instrument,
    KillSwitch,
    Order,
    OrderAck,
    OrderDetail,
    Position,
    PositionUsage,
    Quote,
    Release,
    RiskLimits,
    RiskUsage,
    Session,
    StagedOrder,
    StreamMessage,
    WhatIf,
)
from .sync import OmsClient

__all__ = [
    "Account",
    "AccountUsage",
    "Algo",
    "AsyncOmsClient",
    "AuditHistory",
    "BasketWhatIf",
    "Conflict",
    "Execution",
    "Instrument",
    "InvalidRequest",
    "KillSwitch",
    "NewOrder",
    "NotFound",
    "OmsApiError",
    "OmsClient",
    "OmsConnectionError",
    "OmsError",
    "OmsInputError",
    "OmsProtocolError",
    "Order",
    "OrderAck",
    "OrderDetail",
    "OrderRejected",
    "PermissionDenied",
    "Position",
    "PositionUsage",
    "Quote",
    "Release",
    "RiskLimits",
    "RiskUsage",
    "ServerError",
    "ServerUnavailable",
    "Session",
    "StagedOrder",
    "StreamMessage",
    "Unauthorized",
    "WhatIf",
    "new_order",
]
