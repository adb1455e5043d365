"""Execution algorithms through the real engine and a simulated venue: children follow the
schedule, never exceed the parent, pass the same checks as any order, and pause, modify and
cancel cascade to them; bad parameters are refused with a clear reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routing_kit import Market, quote

from builders import ACTOR, replay, snapshot
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.algos import AlgoKind, AlgoParams, AlgoStatus, scheduled
from openoms.domain.ids import AccountId, Symbol
from openoms.domain.lifecycle import TERMINAL
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side

D = Decimal
S = 1_000_000_000
MINUTE = 60 * S
DEEP = [("100.00", 10**8), ("100.01", 10**8)]


def market(closed: bool = False) -> Market:
    m = Market({"SIM": quote(DEEP, bids=[("99.99", 10**8)])})
    if closed:
        for venue in m.venues.values():
            venue.set_session_open(False)
    return m


def start(m: Market, kind: str = "twap", quantity: int = 1000, **fields: object) -> str | ev.CommandRejected:
    values: dict[str, object] = {"end_at": m.now + 10 * MINUTE, "interval_s": 60} if kind in ("twap", "vwap") else {}
    values.update(fields)
    events = m.send(cmd.StartAlgo(actor=ACTOR, account=AccountId("ACC-EQ-1"), cl_ord_id=f"ALG{m.n}", symbol=Symbol("AAPL"),
                                  side=Side.BUY, quantity=D(quantity), kind=kind, **values))  # type: ignore[arg-type]
    m.n += 1
    started = [e for e in events if isinstance(e, ev.AlgoStarted)]
    if not started:
        return next(e for e in events if isinstance(e, ev.CommandRejected))
    return started[0].algo_id


def progress(m: Market, algo_id: str) -> tuple[Decimal, Decimal]:
    return m.engine.algo_desk.algo_progress(m.engine.algos[algo_id])


def tick(m: Market, at: int, volume: int | None = None) -> None:
    m.now = at
    m.send(cmd.AlgoTick(actor=ACTOR, volumes={"AAPL": D(volume)} if volume is not None else {}))


def test_twap_when_ticked_through_its_window_then_fills_stay_within_one_slice_of_plan_and_complete() -> None:
    m = market()
    begin = m.now
    algo_id = start(m, quantity=1000)
    assert isinstance(algo_id, str)
    slice_qty = D(100)
    for step in range(1, 21):  # every 30 s for 10 minutes
        at = begin + step * 30 * S
        tick(m, at)
        filled, _ = progress(m, algo_id)
        plan = min(D(1000), slice_qty * ((at - begin) // MINUTE + 1))
        assert abs(filled - plan) <= slice_qty, (step, filled, plan)
    tick(m, begin + 10 * MINUTE)
    assert progress(m, algo_id)[0] == D(1000)
    assert m.engine.algos[algo_id].status is AlgoStatus.DONE and "completed" in m.engine.algos[algo_id].reason


def test_vwap_when_profile_given_then_front_loaded_slices_follow_the_weights() -> None:
    m = market()
    begin = m.now
    algo_id = start(m, "vwap", quantity=1000, interval_s=300, profile=(D(3), D(1)))  # two slices, 75 % then 25 %
    assert isinstance(algo_id, str)
    assert progress(m, algo_id)[0] == D(750)
    tick(m, begin + 5 * MINUTE)
    assert progress(m, algo_id)[0] == D(1000)


def test_pov_when_market_volume_grows_then_children_track_the_participation_rate() -> None:
    m = market()
    algo_id = start(m, "pov", quantity=5000, participation_pct=D(10), market_volume=D(100_000))
    assert isinstance(algo_id, str)
    assert progress(m, algo_id)[0] == 0  # no volume observed since the start yet
    for step, volume in enumerate((101_000, 103_500, 110_000), 1):
        tick(m, m.now + step * S, volume)
        assert progress(m, algo_id)[0] == D(volume - 100_000) / 10


def test_iceberg_when_worked_then_one_display_slice_at_a_time_until_done() -> None:
    m = market(closed=True)  # children rest: we fill them by hand, as the market would
    algo_id = start(m, "iceberg", quantity=350, display_qty=D(100), limit_price=D("100.00"))
    assert isinstance(algo_id, str)
    algo = m.engine.algos[algo_id]
    for expected in (D(100), D(100), D(100), D(50)):
        live = [m.engine.orders[c] for c in algo.children if m.engine.orders[c].working not in TERMINAL]
        assert [c.quantity for c in live] == [expected]
        m.send(cmd.VenueFilled(actor=ACTOR, route_id=next(iter(live[0].routes)), exec_id=f"X{len(algo.children)}",  # type: ignore[arg-type]
                               last_qty=expected, last_px=D("100.00")))
    assert algo.status is AlgoStatus.DONE and progress(m, algo_id)[0] == D(350)


def test_cancel_parent_when_children_working_then_no_child_left_working() -> None:
    m = market(closed=True)
    algo_id = start(m, quantity=1000, limit_price=D("99.00"))
    assert isinstance(algo_id, str)
    tick(m, m.now + 3 * MINUTE)
    algo = m.engine.algos[algo_id]
    assert progress(m, algo_id)[1] == D(400)  # slices resting, unfilled
    m.send(cmd.CancelAlgo(actor=ACTOR, algo_id=algo_id))
    assert algo.status is AlgoStatus.DONE
    assert all(m.engine.orders[c].working in TERMINAL for c in algo.children)
    tick(m, m.now + 5 * MINUTE)
    assert len(algo.children) == 2  # nothing sent after the cancel (the first slice, then the catch-up to 400)


def test_pause_resume_modify_when_sent_then_cascade_to_children() -> None:
    m = market(closed=True)
    algo_id = start(m, quantity=1000, limit_price=D("100.00"))
    assert isinstance(algo_id, str)
    algo = m.engine.algos[algo_id]
    m.send(cmd.PauseAlgo(actor=ACTOR, algo_id=algo_id))
    assert algo.status is AlgoStatus.PAUSED and progress(m, algo_id)[1] == 0
    tick(m, m.now + 2 * MINUTE)
    assert progress(m, algo_id)[1] == 0  # paused: nothing sent
    m.send(cmd.ResumeAlgo(actor=ACTOR, algo_id=algo_id))
    assert progress(m, algo_id)[1] == D(300)
    m.send(cmd.ModifyAlgo(actor=ACTOR, algo_id=algo_id, limit_price=D("99.50")))
    assert progress(m, algo_id)[1] == 0 and algo.params.limit_price == D("99.50")  # working children pulled
    tick(m, m.now + S)
    live = [m.engine.orders[c] for c in algo.children if m.engine.orders[c].working not in TERMINAL]
    assert [c.price for c in live] == [D("99.50")]  # re-sliced on the new terms
    assert snapshot(replay(m.events)) == snapshot(m.engine)


def test_child_when_refused_by_a_check_then_parent_paused_with_the_reason() -> None:
    m = market(closed=True)
    algo_id = start(m, quantity=1000, limit_price=D("99.00"))
    assert isinstance(algo_id, str)
    m.send(cmd.EngageKillSwitch(actor=ACTOR, scope="instrument:AAPL", reason="news"))
    tick(m, m.now + 2 * MINUTE)
    algo = m.engine.algos[algo_id]
    assert algo.status is AlgoStatus.PAUSED and "child order refused: trading is stopped" in algo.reason


def test_child_when_rejected_by_the_venue_then_parent_paused_not_resent() -> None:
    m = market(closed=True)  # a closed venue rejects market orders
    algo_id = start(m, quantity=1000)
    assert isinstance(algo_id, str)
    algo = m.engine.algos[algo_id]
    assert algo.status is AlgoStatus.PAUSED and "rejected: session closed" in algo.reason
    tick(m, m.now + 5 * MINUTE)
    assert len(algo.children) == 1


@pytest.mark.parametrize(("kind", "fields", "message"), [
    ("twap", {"end_at": 1}, "end time must be after the start time"),
    ("twap", {"end_at": None}, "twap needs an end time"),
    ("pov", {"participation_pct": D(0)}, "participation_pct must be within above 0-100 %"),
    ("pov", {"participation_pct": D(150)}, "participation_pct must be within above 0-100 %, got 150"),
    ("twap", {"max_participation_pct": D(-1)}, "max_participation_pct must be within 0-100 %"),
    ("twap", {"min_participation_pct": D(30), "max_participation_pct": D(20)}, "min_participation_pct 30 is above"),
    ("iceberg", {"display_qty": D(2000), "limit_price": D("100.00")}, "display_qty 2000 is above the order quantity 1000"),
    ("iceberg", {"display_qty": D(100)}, "an iceberg needs a limit price"),
    ("sniper", {}, "kind must be one of twap, vwap, pov, iceberg"),
])
def test_algo_params_when_invalid_then_refused_with_clear_reason(kind: str, fields: dict[str, object], message: str) -> None:
    m = market()
    refused = start(m, kind, **fields)
    assert isinstance(refused, ev.CommandRejected), refused
    assert refused.reason.code is RejectCode.INVALID_ALGO and message in refused.reason.message, refused.reason.message
    assert not m.engine.algos


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["twap", "vwap", "pov"]), st.integers(1, 50).map(lambda n: n * 100),
       st.lists(st.tuples(st.integers(1, 120), st.integers(0, 50_000)), min_size=1, max_size=15))
def test_children_when_ticked_at_any_times_then_never_exceed_the_parent(kind: str, quantity: int,
                                                                         steps: list[tuple[int, int]]) -> None:
    m = market()
    extra = {"participation_pct": D(25), "market_volume": D(0)} if kind == "pov" else {}
    algo_id = start(m, kind, quantity=quantity, **extra)
    assert isinstance(algo_id, str)
    volume = 0
    for seconds, more in steps:
        volume += more
        tick(m, m.now + seconds * S, volume)
        filled, working = progress(m, algo_id)
        assert filled + working <= quantity
        assert sum(m.engine.orders[c].quantity for c in m.engine.algos[algo_id].children) <= quantity


def test_twap_schedule_when_split_then_equal_slices_and_whole_at_end() -> None:
    params = AlgoParams(AlgoKind.TWAP, D(1000), start_at=0, end_at=10 * MINUTE, interval_s=60)
    assert [scheduled(params, t * MINUTE, D(0)) for t in (0, 1, 9)] == [D(100), D(200), D(1000)]
    assert scheduled(params, 10 * MINUTE, D(0)) == D(1000)
