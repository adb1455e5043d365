"""FIX 4.4 tag numbers and the enumerations OpenOMS reads or writes (names as in the spec)."""

from __future__ import annotations

from ..domain.lifecycle import OrdStatus
from ..domain.rejects import RejectCode
from ..domain.values import OrdType, Side, TimeInForce

BEGIN_STRING = "FIX.4.4"

# header and trailer
BeginString = 8
BodyLength = 9
MsgType = 35
SenderCompID = 49
TargetCompID = 56
MsgSeqNum = 34
SendingTime = 52
PossDupFlag = 43
PossResend = 97
OrigSendingTime = 122
CheckSum = 10
HEADER = frozenset({BeginString, BodyLength, MsgType, SenderCompID, TargetCompID, MsgSeqNum, SendingTime,
                    PossDupFlag, PossResend, OrigSendingTime, 115, 128, 50, 57, 142, 143, 116, 129, 144, 145})

# session messages
EncryptMethod = 98
HeartBtInt = 108
ResetSeqNumFlag = 141
TestReqID = 112
BeginSeqNo = 7
EndSeqNo = 16
NewSeqNo = 36
GapFillFlag = 123
RefSeqNum = 45
RefTagID = 371
RefMsgType = 372
SessionRejectReason = 373
Text = 58
BusinessRejectReason = 380
BusinessRejectRefID = 379

# orders
Account = 1
AvgPx = 6
ClOrdID = 11
CumQty = 14
ExecID = 17
ExecRefID = 19
LastPx = 31
LastQty = 32
OrderID = 37
OrderQty = 38
OrdStatus_ = 39
OrdType_ = 40
OrigClOrdID = 41
Price = 44
Side_ = 54
Symbol = 55
TimeInForce_ = 59
TransactTime = 60
StopPx = 99
CxlRejReason = 102
OrdRejReason = 103
ExpireTime = 126
ExecType = 150
LeavesQty = 151
ExecRestatementReason = 378
CxlRejResponseTo = 434
MassCancelRequestType = 530
MassCancelResponse = 531
MassCancelRejectReason = 532
TotalAffectedOrders = 533
MassStatusReqID = 584
MassStatusReqType = 585
TotNumReports = 911
CopyMsgIndicator = 797
LastRptRequested = 912

# MsgType values
HEARTBEAT = "0"
TEST_REQUEST = "1"
RESEND_REQUEST = "2"
REJECT = "3"
SEQUENCE_RESET = "4"
LOGOUT = "5"
LOGON = "A"
ADMIN_TYPES = frozenset({HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON})
EXECUTION_REPORT = "8"
ORDER_CANCEL_REJECT = "9"
NEW_ORDER_SINGLE = "D"
ORDER_CANCEL_REQUEST = "F"
ORDER_CANCEL_REPLACE_REQUEST = "G"
ORDER_STATUS_REQUEST = "H"
ORDER_MASS_CANCEL_REQUEST = "q"
ORDER_MASS_CANCEL_REPORT = "r"
ORDER_MASS_STATUS_REQUEST = "AF"
BUSINESS_MESSAGE_REJECT = "j"

# Every MsgType FIX 4.4 defines: a type outside this set is "Invalid MsgType" (373=11); a type in
# it that OpenOMS does not take is "Unsupported Message Type" (BusinessMessageReject 380=3).
FIX44_MSG_TYPES = frozenset(
    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "V", "W", "X", "Y", "Z", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK", "AL", "AM", "AN", "AO", "AP", "AQ", "AR", "AS", "AT", "AU", "AV", "AW", "AX", "AY", "AZ", "BA", "BB", "BC", "BD", "BE", "BF", "BG", "BH"]
)

# SessionRejectReason (373)
INVALID_TAG_NUMBER = 0
REQUIRED_TAG_MISSING = 1
TAG_NOT_DEFINED_FOR_MESSAGE = 2
TAG_WITHOUT_VALUE = 4
VALUE_INCORRECT = 5
INCORRECT_DATA_FORMAT = 6
COMPID_PROBLEM = 9
SENDING_TIME_ACCURACY = 10
INVALID_MSG_TYPE = 11
TAG_REPEATED = 13
OTHER = 99

# BusinessRejectReason (380)
BUSINESS_OTHER = 0
UNKNOWN_ID = 1
UNSUPPORTED_MESSAGE_TYPE = 3
APPLICATION_NOT_AVAILABLE = 4
CONDITIONALLY_REQUIRED_MISSING = 5

SIDES = {"1": Side.BUY, "2": Side.SELL, "5": Side.SELL_SHORT, "6": Side.SELL_SHORT_EXEMPT}
SIDE_CODE = {value: key for key, value in SIDES.items()}
FIX44_SIDES = frozenset("123456789ABCDEFG")
ORD_TYPES = {"1": OrdType.MARKET, "2": OrdType.LIMIT, "3": OrdType.STOP, "4": OrdType.STOP_LIMIT}
ORD_TYPE_CODE = {value: key for key, value in ORD_TYPES.items()}
FIX44_ORD_TYPES = frozenset("123456789ABDEFGHIJKLMP")
TIFS = {"0": TimeInForce.DAY, "1": TimeInForce.GTC, "3": TimeInForce.IOC, "4": TimeInForce.FOK, "6": TimeInForce.GTD}
TIF_CODE = {value: key for key, value in TIFS.items()}
FIX44_TIFS = frozenset("01234567")

ORD_STATUS_CODE = {
    OrdStatus.NEW: "0",
    OrdStatus.PARTIALLY_FILLED: "1",
    OrdStatus.FILLED: "2",
    OrdStatus.DONE_FOR_DAY: "3",
    OrdStatus.CANCELED: "4",
    OrdStatus.PENDING_CANCEL: "6",
    OrdStatus.REJECTED: "8",
    OrdStatus.PENDING_NEW: "A",
    OrdStatus.EXPIRED: "C",
    OrdStatus.PENDING_REPLACE: "E",
}

# OrdRejReason (103) for the engine's refusal codes; everything else is 99 (other), and Text(58)
# carries the engine's message either way.
ORD_REJ_REASON = {
    RejectCode.UNKNOWN_INSTRUMENT: "1",
    RejectCode.UNKNOWN_ACCOUNT: "99",
    RejectCode.UNKNOWN_ORDER: "5",
    RejectCode.DUPLICATE_CL_ORD_ID: "6",
    RejectCode.INVALID_QUANTITY: "13",
    RejectCode.LOT_SIZE_VIOLATION: "13",
    RejectCode.TICK_SIZE_VIOLATION: "18",
    RejectCode.INVALID_PRICE: "99",
    RejectCode.INVALID_ORDER_TYPE: "11",
    RejectCode.INVALID_TIME_IN_FORCE: "11",
    RejectCode.RISK_MAX_QUANTITY: "3",
    RejectCode.RISK_MAX_NOTIONAL: "3",
    RejectCode.RISK_POSITION_LIMIT: "3",
    RejectCode.RISK_PRICE_COLLAR: "3",
    RejectCode.RISK_THROTTLE: "3",
    RejectCode.RISK_DUPLICATE_ORDER: "6",
    RejectCode.VENUE_REJECT: "0",
}
