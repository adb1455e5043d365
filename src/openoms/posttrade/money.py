"""Cash to the cent, and splitting an amount so that no share or cent is lost."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)


def cents(amount: Decimal) -> Decimal:
    """Round half up to the cent (commission, fees, interest, cash)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def split(total: Decimal, weights: Sequence[Decimal], unit: Decimal) -> list[Decimal]:
    """Split ``total`` (a multiple of ``unit``) in proportion to ``weights`` into multiples of ``unit``.

    Largest remainder: each share is first rounded down to the unit; the units left over go one
    each to the largest fractional remainders, ties to the earlier share (the order given). The
    shares always add up to ``total`` exactly, and the same input always gives the same split.
    """
    weight_sum = sum(weights, ZERO)
    if not weights or weight_sum <= ZERO:
        raise ValueError("weights must be positive")
    negative = total < ZERO
    whole = -total if negative else total
    units = whole / unit
    exact = [units * weight / weight_sum for weight in weights]
    shares = [share.to_integral_value(rounding=ROUND_DOWN) for share in exact]
    left = int(units - sum(shares, ZERO))
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    result = [share * unit for share in shares]
    return [-share for share in result] if negative else result
