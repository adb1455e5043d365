"""FIX 4.4 AllocationInstruction (35=J) and AllocationInstructionAck (35=P) for an allocation,
encoded with the project's FIX codec (for brokers that want allocations over FIX; written to a
file until a broker session is configured)."""

from __future__ import annotations

from ..fix import codec
from ..fix.tags import SIDE_CODE
from .book import ALLOC_CANCELED, Allocation

ALLOCATION_INSTRUCTION = "J"
ALLOCATION_INSTRUCTION_ACK = "P"
# AllocTransType(71): 0 new, 1 replace, 2 cancel. AllocStatus(87): 0 accepted, 1 block rejected, 3 received.
ALLOC_STATUS = {"accepted": "0", "rejected": "1", "received": "3"}


def allocation_instruction(allocation: Allocation, sender: str, target: str, seq: int, now_ns: int) -> bytes:
    b = allocation.booked
    trans_type = "2" if allocation.status == ALLOC_CANCELED else "0" if b.version == 1 else "1"
    body: list[tuple[int, str]] = [
        (70, f"{b.allocation_id}-{b.version}" if trans_type != "2" else f"{b.allocation_id}-X"),  # AllocID
        (71, trans_type),  # AllocTransType
        (626, "1"),  # AllocType: calculated (includes money and net money)
    ]
    if trans_type != "0":
        body.append((72, f"{b.allocation_id}-{b.version - 1 if trans_type == '1' else b.version}"))  # RefAllocID
    body += [(857, "0"),  # AllocNoOrdersType: not specified, orders listed
             (73, str(len(b.orders)))]  # NoOrders
    for order_id in b.orders:
        body.append((37, order_id))  # OrderID
    body += [
        (54, SIDE_CODE[b.side]), (55, b.symbol), (53, str(b.quantity)), (6, str(b.avg_price)),  # Side Symbol Quantity AvgPx
        (75, b.trade_date.replace("-", "")), (381, str(b.gross)),  # TradeDate GrossTradeAmt
        (78, str(len(b.lines))),  # NoAllocs
    ]
    for line in b.lines:
        commission_net = line.gross + line.commission + line.fees if b.side.is_buy else line.gross - line.commission - line.fees
        body += [(79, line.account), (80, str(line.quantity)), (153, str(line.price)),  # AllocAccount AllocQty AllocAvgPx
                 (154, str(commission_net)),  # AllocNetMoney
                 (12, str(line.commission)), (13, "3")]  # Commission, CommType absolute
    return codec.encode(ALLOCATION_INSTRUCTION, sender, target, seq, codec.utc_timestamp(now_ns), body)


def allocation_ack(allocation: Allocation, sender: str, target: str, seq: int, now_ns: int) -> bytes:
    b = allocation.booked
    status = ALLOC_STATUS.get(allocation.ack or "received", "3")
    body: list[tuple[int, str]] = [(70, f"{b.allocation_id}-{b.version}"), (60, codec.utc_timestamp(now_ns)), (87, status)]
    if allocation.ack == "rejected":
        body += [(88, "7"), (58, allocation.ack_reason)]  # AllocRejCode 7: other, with the broker's text
    return codec.encode(ALLOCATION_INSTRUCTION_ACK, sender, target, seq, codec.utc_timestamp(now_ns), body)
