"""FX rates for limits counted in an account's currency. Exact: Decimal rates, and an inverse
rate divides to the decimal context's 28 significant digits, never through a float."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from .limits import LimitError


class FxRates:
    """Rates keyed ``BASEQUOTE`` (``EURUSD = 1.08``: one EUR buys 1.08 USD)."""

    def __init__(self, rates: Mapping[str, Decimal] | None = None) -> None:
        self.rates: dict[tuple[str, str], Decimal] = {}
        for pair, rate in (rates or {}).items():
            if len(pair) != 6 or not pair.isalpha() or not pair.isupper():
                raise LimitError(f"FX pair must be two ISO currency codes like EURUSD, got {pair!r}")
            if not rate.is_finite() or rate <= 0:
                raise LimitError(f"FX rate {pair} must be positive, got {rate}")
            self.rates[(pair[:3], pair[3:])] = rate

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """``amount`` of ``source`` in ``target``, or None when no rate is known (fail closed)."""
        if source == target or not amount:
            return amount
        rate = self.rates.get((source, target))
        if rate is not None:
            return amount * rate
        inverse = self.rates.get((target, source))
        if inverse is not None:
            return amount / inverse
        return None

    def as_text(self) -> dict[str, str]:
        return {base + quote: str(rate) for (base, quote), rate in sorted(self.rates.items())}
