"""Order reconstruction from the journal: replace chains, partial fills, busts and corrections,
refused requests; state before/after each event equals what the engine held; who, from where,
when and the market price are on every entry. Compliance queries through the audit index."""

from __future__ import annotations

from typing import Any

import pytest

from builders import ACTOR, T0, VENUE, Desk, of_type
from openoms.audit.index import AuditIndex
from openoms.audit.queries import AuditQueries, scan
from openoms.audit.reconstruct import NotAnOrderHistory, order_history
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import OrderId
from openoms.journal.memory import MemoryJournal
from openoms.service.views import order_view

ALICE = cmd.Actor("alice", "rest", "10.0.0.7:51234")
RISK = cmd.Actor("risk", "rest", "10.0.0.9:40000")


def journaled(desk: Desk) -> MemoryJournal:
    journal = MemoryJournal()
    journal.append(desk.events)
    return journal


def queries_of(desk: Desk) -> AuditQueries:
    journal = journaled(desk)
    return AuditQueries(journal, scan(journal))


def statuses(history: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(e["type"], e["before"]["status"] if e["before"] else None, e["after"]["status"]) for e in history["events"]]


def busy_desk() -> tuple[Desk, str]:
    """Replace chain X -> Y -> Z, a refused replace, partial fills, a bust and a correction."""
    desk = Desk()
    oid = desk.submit_ok("100", "230.00", cl_ord_id="X", actor=ALICE)
    desk.ack(oid)
    desk.replace(oid, "Y", qty="150", actor=ALICE)
    desk.fill(oid, "40", "230.00", exec_id="E1")  # a fill while the replace is pending
    desk.venue_replaced(oid, "150", "230.00")
    desk.replace(oid, "Z", price="229.50", actor=ALICE)
    desk.replace(oid, "Z2", price="229.00", actor=ALICE)  # refused: a replace is already pending
    desk.venue_replaced(oid, "150", "229.50")
    desk.fill(oid, "60", "229.50", exec_id="E2")
    desk.send(cmd.VenueTradeBusted(actor=RISK, exec_id="E1"))  # type: ignore[arg-type]
    desk.correct("E2", "50", "229.40")
    return desk, oid


def test_replace_chain_partial_fills_bust_and_correction_are_rebuilt_event_by_event() -> None:
    desk, oid = busy_desk()
    history = queries_of(desk).order(OrderId(oid))
    assert history is not None
    assert statuses(history) == [
        ("OrderAccepted", None, "pending_new"),
        ("OrderRouted", "pending_new", "pending_new"),
        ("OrderAcknowledged", "pending_new", "new"),
        ("ReplaceRequested", "new", "pending_replace"),
        ("OrderFilled", "pending_replace", "pending_replace"),
        ("OrderReplaced", "pending_replace", "partially_filled"),
        ("ReplaceRequested", "partially_filled", "pending_replace"),
        ("CommandRejected", "pending_replace", "pending_replace"),
        ("OrderReplaced", "pending_replace", "partially_filled"),
        ("OrderFilled", "partially_filled", "partially_filled"),
        ("TradeBusted", "partially_filled", "partially_filled"),
        ("TradeCorrected", "partially_filled", "partially_filled"),
    ]
    cl_ord_ids = [e["after"]["cl_ord_id"] for e in history["events"]]
    assert cl_ord_ids[0] == "X" and cl_ord_ids[5] == "Y" and cl_ord_ids[-1] == "Z"
    quantities = [(e["after"]["quantity"], e["after"]["cum_qty"], e["after"]["leaves_qty"]) for e in history["events"]]
    assert quantities[4] == ("100", "40", "60")  # the fill while pending carries the original quantity
    assert quantities[5] == ("150", "40", "110")
    assert quantities[9] == ("150", "100", "50")
    assert quantities[10] == ("150", "60", "90")  # E1 busted
    assert quantities[11] == ("150", "50", "100")  # E2 corrected to 50
    assert history["events"][-1]["after"]["avg_px"] == "229.4"
    # The rebuilt order is exactly the engine's.
    assert history["order"] | {"executions": None} == order_view(desk.order(oid)) | {"executions": None}
    executions = {e["exec_id"]: e for e in history["order"]["executions"]}
    assert executions["E1"]["busted"] and (executions["E2"]["quantity"], executions["E2"]["price"]) == ("50", "229.40")


def test_every_entry_says_who_from_where_when_and_the_market_price() -> None:
    desk, oid = busy_desk()
    events = history_events = queries_of(desk).order(OrderId(oid))["events"]  # type: ignore[index]
    first = events[0]
    assert first["actor"] == {"user": "alice", "channel": "rest", "address": "10.0.0.7:51234"}
    assert first["time"] == "2026-03-02T14:30:00.000000Z"
    assert events[2]["actor"] == {"user": "SIM", "channel": "venue", "address": ""}
    bust = next(e for e in history_events if e["type"] == "TradeBusted")
    assert bust["actor"]["user"] == "risk" and bust["detail"] == {"exec_id": "E1"}
    refused = next(e for e in events if e["type"] == "CommandRejected")
    assert refused["detail"]["reason"]["code"] == "ALREADY_PENDING" and refused["actor"]["user"] == "alice"
    # Before any execution the journal has no price for AAPL (this engine runs without risk).
    assert events[0]["market"] is None
    fill = events[4]
    assert fill["market"] == {"price": "230.00", "source": "this execution", "seq": fill["seq"], "time": fill["time"]}
    replaced = events[6]  # after the first fill: that execution is the last price seen
    assert replaced["market"]["price"] == "230.00" and replaced["market"]["seq"] == fill["seq"]
    assert "last execution in the journal for AAPL" in replaced["market"]["source"]


def test_market_price_comes_from_other_orders_in_the_same_instrument_too() -> None:
    desk = Desk()
    first = desk.submit_ok("100", "230.00")
    second = desk.submit_ok("100", "231.00")
    desk.ack(first)
    desk.ack(second)
    desk.fill(second, "100", "230.75")
    desk.cancel(first)
    history = queries_of(desk).order(OrderId(first))
    assert history is not None
    cancel = next(e for e in history["events"] if e["type"] == "CancelRequested")
    assert cancel["market"]["price"] == "230.75"


def test_reference_price_at_acceptance_is_the_market_price_of_the_new_order() -> None:
    desk = Desk()
    oid = desk.submit_ok("100", "230.00")
    accepted = of_type(desk.events, ev.OrderAccepted)[0]
    with_reference = [type(accepted)(**{**{f: getattr(accepted, f) for f in accepted.__struct_fields__}, "reference_price": "229.99"})]  # type: ignore[arg-type]
    history = order_history(with_reference)
    assert history["events"][0]["market"]["source"] == "risk reference price at acceptance"
    assert history["order"]["order_id"] == oid


def test_a_history_must_start_with_the_acceptance() -> None:
    desk = Desk()
    oid = desk.submit_ok()
    desk.ack(oid)
    with pytest.raises(NotAnOrderHistory):
        order_history(desk.events[1:])


def test_unknown_order_is_none() -> None:
    desk, _ = busy_desk()
    assert queries_of(desk).order(OrderId("O999")) is None


def test_orders_by_trader_account_and_instrument_in_a_time_window() -> None:
    desk = Desk()
    a = desk.submit_ok(account="ACC-EQ-1", symbol="AAPL", actor=cmd.Actor("alice", "rest"))
    b = desk.submit_ok(account="ACC-EQ-2", symbol="AAPL", actor=cmd.Actor("alice", "rest"))
    c = desk.submit_ok(account="ACC-EQ-1", symbol="MSFT", price="420.00", actor=cmd.Actor("demo", "rest"))
    late = desk.now
    d = desk.submit_ok(account="ACC-EQ-1", symbol="AAPL", actor=cmd.Actor("demo", "rest"))
    queries = queries_of(desk)

    def ids(**kwargs: Any) -> list[str]:
        return [row["order_id"] for row in queries.orders(**kwargs)["orders"]]

    assert ids() == [a, b, c, d]
    assert ids(trader="alice") == [a, b]
    assert ids(account="ACC-EQ-1") == [a, c, d]
    assert ids(account="ACC-EQ-1", symbol="AAPL") == [a, d]
    assert ids(account="ACC-EQ-1", trader="demo", symbol="MSFT") == [c]
    assert ids(account="ACC-EQ-1", until=late) == [a, c]
    assert ids(since=late) == [d]
    assert ids(account="ACC-NOPE") == []
    first = queries.orders(trader="alice", limit=1)
    assert (first["count"], first["matched"], first["truncated"]) == (1, 2, True)
    row = first["orders"][0]
    assert (row["status"], row["entered_by"]["user"], row["accepted_at"]) == ("pending_new", "alice", "2026-03-02T14:30:00.000000Z")


def test_actions_by_user_include_refusals_and_kill_switches_but_not_venue_reports() -> None:
    desk = Desk()
    oid = desk.submit_ok(actor=ALICE)
    desk.ack(oid)
    desk.submit("0", "230.00", actor=ALICE)  # refused: invalid quantity, no order
    desk.send(cmd.EngageKillSwitch(actor=ALICE, scope="account:ACC-EQ-1", reason="fat finger"))
    desk.submit_ok(account="ACC-EQ-2", actor=ACTOR)  # someone else's order
    result = queries_of(desk).actions("alice")
    assert [row["type"] for row in result["events"]] == [
        "OrderAccepted", "CommandRejected", "KillSwitchEngaged", "CancelRequested"]  # the routing is the acceptance's
    assert result["events"][1]["order_id"] is None and result["events"][1]["detail"]["reason"]["code"] == "INVALID_QUANTITY"
    assert queries_of(desk).actions("nobody")["events"] == []


def test_controls_are_limit_changes_kill_switches_and_refused_attempts() -> None:
    desk = Desk()
    desk.submit_ok()
    desk.send(cmd.EngageKillSwitch(actor=RISK, scope="desk:EQUITIES", reason="market halt"))
    desk.send(cmd.SetLimits(actor=RISK, scope="account:ACC-EQ-1", limits={"max_order_quantity": "5"}, reason="tighten"))
    desk.send(cmd.ReleaseKillSwitch(actor=RISK, scope="desk:EQUITIES", reason="resumed"))
    rows = queries_of(desk).controls()["events"]
    assert [(row["type"], row["actor"]["user"]) for row in rows] == [
        ("KillSwitchEngaged", "risk"), ("CommandRejected", "risk"), ("KillSwitchReleased", "risk")]
    assert rows[0]["detail"] == {"scope": "desk:EQUITIES", "reason": "market halt"}
    assert rows[1]["detail"]["command"] == "SetLimits"


def test_a_clock_that_stepped_back_still_gives_right_windows() -> None:
    desk = Desk()
    first = desk.submit_ok()
    desk.now = T0 - 10 * 60 * 1_000_000_000  # a restart on a machine whose clock was behind
    second = desk.submit_ok()
    index = AuditIndex()
    index.observe_all(desk.events)
    assert not index.ordered
    queries = AuditQueries(journaled(desk), index)
    assert [r["order_id"] for r in queries.orders(until=T0)["orders"]] == [second]
    assert [r["order_id"] for r in queries.orders(since=T0)["orders"]] == [first]


def test_the_index_fed_live_in_batches_equals_one_built_by_a_scan() -> None:
    desk, _ = busy_desk()
    live = AuditIndex(keep_order_seqs=True)
    for start in range(0, len(desk.events), 3):
        live.observe_all(desk.events[start : start + 3])
    scanned = scan(journaled(desk))
    assert live.order_seqs == scanned.order_seqs
    assert {u: s.seqs.tolist() for u, s in live.actions.items()} == {u: s.seqs.tolist() for u, s in scanned.actions.items()}
    assert live.order_seqs == {OrderId(o.order_id): o.seqs for o in desk.engine.orders.values()}
    assert VENUE.user not in live.actions
