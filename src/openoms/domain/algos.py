"""Execution algorithms as pure schedules: how much of a parent order should have been sent by
``now`` (TWAP, VWAP over a volume profile, POV of observed volume, iceberg's display slice),
their parameters' validation, and the parent's state as a fold over its events.

The engine asks ``AlgoParent.target`` on each timer tick (time and market volume arrive in the
``AlgoTick`` command; nothing here reads a clock) and sends the difference as a child order
through the same path as any order: validation, kill switch, pre-trade risk, routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import Enum

from . import events as ev
from .ids import AccountId, OrderId, Symbol, TraderId
from .rejects import Reject, RejectCode
from .values import Side

ZERO = Decimal(0)
HUNDRED = Decimal(100)
NS_PER_SECOND = 1_000_000_000
# A U-shaped intraday profile (busy open and close), used by VWAP when none is given.
DEFAULT_PROFILE: tuple[Decimal, ...] = tuple(Decimal(w) for w in (14, 10, 8, 7, 6, 6, 6, 7, 8, 11, 17))


class AlgoKind(str, Enum):
    TWAP = "twap"
    VWAP = "vwap"
    POV = "pov"
    ICEBERG = "iceberg"


class AlgoStatus(str, Enum):
    WORKING = "working"
    PAUSED = "paused"
    DONE = "done"  # completed, canceled or out of time: no more children


@dataclass(frozen=True, slots=True)
class AlgoParams:
    kind: AlgoKind
    quantity: Decimal
    limit_price: Decimal | None = None
    start_at: int = 0  # ns; 0: at once
    end_at: int | None = None  # ns; required by TWAP and VWAP
    interval_s: int = 60  # TWAP/VWAP slice interval
    participation_pct: Decimal | None = None  # POV: the target share of observed volume
    min_participation_pct: Decimal | None = None
    max_participation_pct: Decimal | None = None
    display_qty: Decimal | None = None  # iceberg
    profile: tuple[Decimal, ...] = ()  # VWAP weights over [start, end); empty: DEFAULT_PROFILE


def _pct(name: str, value: Decimal | None, allow_zero: bool = True) -> Reject | None:
    if value is None:
        return None
    if not value.is_finite() or value < ZERO or value > HUNDRED or (value == ZERO and not allow_zero):
        return Reject(RejectCode.INVALID_ALGO, f"{name} must be within {'0' if allow_zero else 'above 0'}-100 %, got {value}",
                      {name: str(value)})
    return None


def validate(params: AlgoParams, lot_size: Decimal, now: int) -> Reject | None:
    """Every parameter problem, named; None when the algo can start."""
    kind = params.kind
    if params.end_at is not None and params.end_at <= (params.start_at or now):
        return Reject(RejectCode.INVALID_ALGO, "end time must be after the start time",
                      {"start_at": str(params.start_at or now), "end_at": str(params.end_at)})
    if kind in (AlgoKind.TWAP, AlgoKind.VWAP) and params.end_at is None:
        return Reject(RejectCode.INVALID_ALGO, f"{kind.value} needs an end time")
    if params.interval_s <= 0 or params.interval_s > 86_400:
        return Reject(RejectCode.INVALID_ALGO, f"interval_s must be 1-86400, got {params.interval_s}")
    problem = (_pct("participation_pct", params.participation_pct, allow_zero=False)
               or _pct("min_participation_pct", params.min_participation_pct)
               or _pct("max_participation_pct", params.max_participation_pct))
    if problem is not None:
        return problem
    if kind is AlgoKind.POV and params.participation_pct is None:
        return Reject(RejectCode.INVALID_ALGO, "pov needs participation_pct (0-100 %)")
    low, high = params.min_participation_pct, params.max_participation_pct
    if low is not None and high is not None and low > high:
        return Reject(RejectCode.INVALID_ALGO, f"min_participation_pct {low} is above max_participation_pct {high}")
    if kind is AlgoKind.ICEBERG:
        display = params.display_qty
        if display is None or not display.is_finite() or display <= ZERO:
            return Reject(RejectCode.INVALID_ALGO, "iceberg needs a positive display_qty")
        if display > params.quantity:
            return Reject(RejectCode.INVALID_ALGO, f"display_qty {display} is above the order quantity {params.quantity}",
                          {"display_qty": str(display), "quantity": str(params.quantity)})
        if display % lot_size:
            return Reject(RejectCode.INVALID_ALGO, f"display_qty must be whole lots of {lot_size}")
        if params.limit_price is None:
            return Reject(RejectCode.INVALID_ALGO, "an iceberg needs a limit price")
    if params.profile and (any(not w.is_finite() or w < ZERO for w in params.profile) or sum(params.profile) <= ZERO):
        return Reject(RejectCode.INVALID_ALGO, "profile weights must be >= 0 with a positive sum")
    return None


def lots(quantity: Decimal, lot_size: Decimal) -> Decimal:
    """Down to whole lots."""
    return (quantity / lot_size).to_integral_value(ROUND_DOWN) * lot_size


def scheduled(params: AlgoParams, now: int, volume: Decimal) -> Decimal:
    """How much should have been sent by ``now`` (before lots and the quantity cap);
    ``volume``: market volume observed since the start."""
    start = params.start_at
    if now < start:
        return ZERO
    kind = params.kind
    if kind is AlgoKind.POV:
        assert params.participation_pct is not None
        return volume * params.participation_pct / HUNDRED
    if kind is AlgoKind.ICEBERG:
        return params.quantity
    assert params.end_at is not None
    if now >= params.end_at:
        return params.quantity
    interval = params.interval_s * NS_PER_SECOND
    slices = max(1, -(-(params.end_at - start) // interval))  # ceil
    started = min(slices, (now - start) // interval + 1)  # slices begun, the current one included
    if kind is AlgoKind.TWAP:
        return params.quantity * started / slices
    profile = params.profile or DEFAULT_PROFILE
    # The profile's buckets spread over the slices: the share of weight in the slices begun.
    weights = [profile[min(len(profile) - 1, i * len(profile) // slices)] for i in range(slices)]
    return params.quantity * sum(weights[:started]) / sum(weights)


@dataclass(slots=True)
class AlgoParent:
    algo_id: str
    account: AccountId
    trader: TraderId
    symbol: Symbol
    side: Side
    cl_ord_id: str
    params: AlgoParams
    route: str
    volume_at_start: Decimal
    status: AlgoStatus = AlgoStatus.WORKING
    reason: str = ""
    children: list[OrderId] = field(default_factory=list)
    last_volume: Decimal = ZERO  # market volume at the last slice (since the start)
    seqs: list[int] = field(default_factory=list)

    def apply(self, event: ev.Event) -> None:
        self.seqs.append(event.seq)
        if isinstance(event, ev.AlgoPaused):
            self.status, self.reason = AlgoStatus.PAUSED, event.reason
        elif isinstance(event, ev.AlgoResumed):
            self.status, self.reason = AlgoStatus.WORKING, ""
        elif isinstance(event, ev.AlgoModified):
            self.params = event_params(event.params)
        elif isinstance(event, ev.AlgoEnded):
            self.status, self.reason = AlgoStatus.DONE, event.reason
        elif isinstance(event, ev.AlgoSliced):
            self.last_volume = event.observed_volume

    def target(self, now: int, volume: Decimal, lot_size: Decimal) -> Decimal:
        """Quantity that should be sent (filled + working) by now, in lots, capped by the quantity."""
        params = self.params
        goal = scheduled(params, now, volume)
        if params.kind is not AlgoKind.POV:
            if params.max_participation_pct is not None:
                goal = min(goal, volume * params.max_participation_pct / HUNDRED)
            if params.min_participation_pct is not None:
                goal = max(goal, volume * params.min_participation_pct / HUNDRED)
        return min(params.quantity, lots(goal, lot_size))


def params_text(params: AlgoParams) -> dict[str, str]:
    """Parameters as the journal keeps them (text; Decimals exact)."""
    out = {"kind": params.kind.value, "quantity": str(params.quantity), "start_at": str(params.start_at),
           "interval_s": str(params.interval_s)}
    for name in ("limit_price", "end_at", "participation_pct", "min_participation_pct", "max_participation_pct", "display_qty"):
        value = getattr(params, name)
        if value is not None:
            out[name] = str(value)
    if params.profile:
        out["profile"] = ",".join(str(w) for w in params.profile)
    return out


def event_params(text: dict[str, str]) -> AlgoParams:
    def dec(name: str) -> Decimal | None:
        return Decimal(text[name]) if name in text else None

    return AlgoParams(
        kind=AlgoKind(text["kind"]), quantity=Decimal(text["quantity"]), limit_price=dec("limit_price"),
        start_at=int(text.get("start_at", "0")), end_at=int(text["end_at"]) if "end_at" in text else None,
        interval_s=int(text.get("interval_s", "60")), participation_pct=dec("participation_pct"),
        min_participation_pct=dec("min_participation_pct"), max_participation_pct=dec("max_participation_pct"),
        display_qty=dec("display_qty"),
        profile=tuple(Decimal(w) for w in text["profile"].split(",")) if text.get("profile") else (),
    )
