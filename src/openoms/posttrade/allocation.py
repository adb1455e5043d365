"""Block allocation maths: pro-rata by quantity or weight at the block's average price.

Stated rule for remainders: quantities are split in whole lots by largest remainder (ties go to
the account listed first); cash (gross value and fees) is split by quantity, to the cent, the same
way. So the lines always add up to the block, share for share and cent for cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..domain.accounts import ReferenceData
from ..domain.instruments import Instrument
from ..domain.rejects import Reject, RejectCode
from .events import AllocationLine, AllocationTarget
from .fees import FeeSchedule
from .money import CENT, ZERO, cents, split

METHODS = ("quantity", "weight")
ONE = Decimal(1)


def bad(message: str, **detail: str) -> Reject:
    return Reject(RejectCode.INVALID_ALLOCATION, message, detail)


def check_targets(method: str, targets: Sequence[AllocationTarget], reference: ReferenceData,
                  instrument: Instrument, order_quantity: Decimal | None = None) -> Reject | None:
    """Why a set of allocation targets is unusable, or None."""
    if method not in METHODS:
        return bad(f"allocation method must be quantity or weight, got {method!r}", method=method)
    if not targets:
        return bad("an allocation needs at least one account")
    seen: set[str] = set()
    for target in targets:
        if target.account not in reference.accounts:
            return Reject(RejectCode.UNKNOWN_ACCOUNT, f"unknown account {target.account!r} in the allocation",
                          {"account": target.account})
        if target.account in seen:
            return bad(f"account {target.account} appears twice in the allocation", account=target.account)
        seen.add(target.account)
        value = target.quantity if method == "quantity" else target.weight
        other = target.weight if method == "quantity" else target.quantity
        if value is None or other is not None:
            return bad(f"allocation by {method} needs a {method} (and only a {method}) for every account",
                       account=target.account)
        if not value.is_finite() or value <= ZERO:
            return bad(f"{method} for {target.account} must be positive, got {value}", account=target.account)
        if method == "quantity":
            reason = instrument.check_quantity(value)
            if reason is not None:
                return bad(f"quantity for {target.account}: {reason.message}", account=target.account)
    if method == "weight":
        total = sum((t.weight for t in targets if t.weight is not None), ZERO)
        if total != ONE:
            return bad(f"weights must add up to 1, they add up to {total}", total=str(total))
    elif order_quantity is not None:
        total = sum((t.quantity for t in targets if t.quantity is not None), ZERO)
        if total > order_quantity:
            return bad(f"over-allocation: {total} allocated of an order for {order_quantity}",
                       allocated=str(total), order_quantity=str(order_quantity))
    return None


def allocate(
    method: str,
    targets: Sequence[AllocationTarget],
    fills: Sequence[tuple[Decimal, Decimal]],
    fees: Decimal,
    instrument: Instrument,
    fee_schedule: FeeSchedule,
    is_buy: bool,
) -> list[AllocationLine] | Reject:
    """Lines for the block executed as ``fills`` ((quantity, price) each), or why not.

    By quantity, the requested quantities must add up to no less than what was filled and no more
    than what the order(s) asked for (an allocation planned before a partial fill is scaled down).
    """
    filled = sum((quantity for quantity, _ in fills), ZERO)
    if filled <= ZERO:
        return bad("nothing has been filled to allocate")
    if method == "quantity":
        wanted = sum((t.quantity for t in targets if t.quantity is not None), ZERO)
        if wanted < filled:
            return bad(f"under-allocation: {wanted} allocated of {filled} filled", allocated=str(wanted), filled=str(filled))
        weights = [t.quantity for t in targets if t.quantity is not None]
    else:
        weights = [t.weight for t in targets if t.weight is not None]
    quantities = split(filled, weights, instrument.lot_size)
    value = sum((instrument.notional(quantity, price) for quantity, price in fills), ZERO)
    avg_price = sum((quantity * price for quantity, price in fills), ZERO) / filled
    kept = [(t, q) for t, q in zip(targets, quantities, strict=True) if q > ZERO]
    gross_shares = split(cents(value), [q for _, q in kept], CENT)
    fee_shares = split(fees, [q for _, q in kept], CENT)
    lines = []
    for (target, quantity), gross, fee in zip(kept, gross_shares, fee_shares, strict=True):
        commission = fee_schedule.commission(target.account, instrument, quantity, gross, is_buy)
        lines.append(AllocationLine(target.account, quantity, avg_price, gross, commission, fee))
    return lines
