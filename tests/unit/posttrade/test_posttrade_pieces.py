"""Fees, bond accrued interest, calendars, FX reporting, netting, statuses, start-of-day loads,
reconciliation, and the FIX and ISO 20022 messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from builders import only_rejection
from openoms.demo import demo_instruments
from openoms.domain import events as ev
from openoms.domain.commands import Actor, VenueTradeCorrected
from openoms.domain.ids import AccountId, ExecId, Symbol
from openoms.domain.rejects import RejectCode
from openoms.domain.values import Side
from openoms.fix.codec import parse
from openoms.posttrade import commands as pc
from openoms.posttrade import events as pe
from openoms.posttrade import reports
from openoms.posttrade.accrued import accrued_interest, coupon_period
from openoms.posttrade.calendars import Calendars
from openoms.posttrade.fix_alloc import allocation_ack, allocation_instruction
from openoms.posttrade.sese023 import sese023
from openoms.risk.fx import FxRates
from posttrade_desk import OPS, allocate, posttrade_desk, quantities, weights

D = Decimal
XSD = Path(__file__).resolve().parents[3] / "src" / "openoms" / "posttrade" / "sese023.xsd"
UST = demo_instruments()[Symbol("UST-10Y")]


def test_settlement_dates_skip_weekends_and_exchange_holidays() -> None:
    calendars = Calendars()
    aapl = demo_instruments()[Symbol("AAPL")]
    assert calendars.settlement_date(aapl, date(2026, 7, 2)) == date(2026, 7, 6)  # Fri 3 July: Independence Day observed
    assert calendars.settlement_date(aapl, date(2026, 12, 24)) == date(2026, 12, 28)  # Christmas, then the weekend
    # SIFMA's bond calendar closes on Columbus Day (12 Oct 2026); the stock exchange does not.
    assert calendars.settlement_date(UST, date(2026, 10, 9)) == date(2026, 10, 13)
    assert calendars.settlement_date(aapl, date(2026, 10, 9)) == date(2026, 10, 12)
    extra = Calendars(extra_holidays={"XNYS": [date(2026, 10, 12)]})
    assert extra.settlement_date(aapl, date(2026, 10, 9)) == date(2026, 10, 13)


def test_accrued_interest_is_actual_over_actual_from_the_last_coupon() -> None:
    assert coupon_period(UST, date(2026, 7, 6)) == (date(2026, 5, 15), date(2026, 11, 15))
    # 52 days of a 184-day half year on 1,000,000 face at 4.25%.
    assert accrued_interest(UST, D(1_000_000), date(2026, 7, 6)) == D(1_000_000) * D("4.25") / 100 / 2 * 52 / 184
    assert accrued_interest(UST, D(1_000_000), date(2026, 5, 15)) == 0


def test_a_bond_instruction_carries_accrued_interest_and_percent_of_par_money() -> None:
    desk, _ = posttrade_desk()
    desk.now = int(datetime(2026, 7, 2, 15, tzinfo=UTC).timestamp()) * 10**9
    oid = desk.submit_ok("1000000", "98.5", symbol="UST-10Y", account="ACC-FI-1")
    desk.ack(oid)
    desk.fill(oid, "1000000", "98.5")
    booked = allocate(desk, [oid], "weight", weights(ACC_FI_1="0.75", ACC_EQ_2="0.25"))[0]
    assert isinstance(booked, pe.AllocationBooked)
    assert [line.gross for line in booked.lines] == [D("738750.00"), D("246250.00")]  # 98.5% of face
    instructed = desk.send(pc.InstructSettlement(actor=OPS))[0]
    first = instructed.instructions[0]  # type: ignore[attr-defined]
    assert first.settlement_date == "2026-07-06"
    accrued = (D(750_000) * D("4.25") / 100 / 2 * 52 / 184).quantize(D("0.01"))
    assert first.accrued_interest == accrued == D("4504.08")
    assert first.commission == D("36.94")  # 0.5 bp of 738,750
    assert first.net_money == D("738750.00") + D("36.94") + first.fees + accrued


def test_pnl_of_a_euro_position_is_reported_in_the_account_currency_and_futures_use_the_multiplier() -> None:
    desk, book = posttrade_desk()
    for symbol, side, qty, px in (("SAP", Side.BUY, "100", "200.00"), ("SAP", Side.SELL, "40", "210.00"),
                                  ("ESZ6", Side.BUY, "2", "6000.00")):
        oid = desk.submit_ok(qty, px, symbol=symbol, side=side)
        desk.ack(oid)
        desk.fill(oid, qty, px)
    rows = {r["symbol"]: r for r in reports.positions(book, reports.marks_from({"SAP": D("205.00"), "ESZ6": D("6010.00")}),
                                                      FxRates({"EURUSD": D("1.08")}))}
    assert rows["SAP"]["realized_pnl"] == "400.00" and rows["SAP"]["realized_pnl_account_ccy"] == str(D("400.00") * D("1.08"))
    assert D(rows["SAP"]["unrealized_pnl_account_ccy"]) == D(60) * D(5) * D("1.08")
    assert D(rows["ESZ6"]["unrealized_pnl"]) == D(2) * D(10) * D(50)
    no_rate = reports.positions(book, reports.marks_from({"SAP": D("205.00")}), FxRates())
    assert next(r for r in no_rate if r["symbol"] == "SAP")["realized_pnl_account_ccy"] is None  # never a guess


def test_netting_accounts_get_one_instruction_per_instrument_and_settlement_date() -> None:
    desk, book = posttrade_desk()
    setup = book.ssis
    desk.send(pc.SetSettlementSetup(actor=OPS, ssis=list(setup.values()), netting_accounts=["ACC-EQ-2"], source="test"))
    buy = desk.submit_ok("300", "230.00")
    desk.ack(buy)
    desk.fill(buy, "300", "230.00")
    sell = desk.submit_ok("100", "231.00", side=Side.SELL)
    desk.ack(sell)
    desk.fill(sell, "100", "231.00")
    allocate(desk, [buy], "quantity", quantities(ACC_EQ_2="200", ACC_EQ_1="100"))
    allocate(desk, [sell], "weight", weights(ACC_EQ_2="1"))
    instructed = desk.send(pc.InstructSettlement(actor=OPS))[0].instructions  # type: ignore[attr-defined]
    netted = [i for i in instructed if i.account == "ACC-EQ-2"]
    assert len(netted) == 1 and netted[0].netted and netted[0].quantity == D(100) and netted[0].direction == "RVP"
    buy_cash = D("46000.00") + D("1.00") + D("0.60")   # 200 @ 230 + commission + fees
    sell_cash = D("23100.00") - D("1.00") - D("0.30") - D("0.64")   # 100 @ 231 - commission - fees (taker + SEC)
    assert netted[0].net_money == buy_cash - sell_cash
    assert netted[0].allocation_ids == ("AL1", "AL2")


def test_settlement_status_moves_by_the_table_and_refuses_the_rest() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    allocate(desk, [oid], "weight", weights(ACC_EQ_1="1"))
    desk.send(pc.InstructSettlement(actor=OPS))
    refused = only_rejection(desk.send(pc.UpdateSettlementStatus(actor=OPS, instruction_id="SI1", status="settled")))
    assert refused.reason.code is RejectCode.INVALID_SETTLEMENT and "pending" in refused.reason.message
    assert "reason" in only_rejection(desk.send(pc.UpdateSettlementStatus(actor=OPS, instruction_id="SI1", status="failed"))).reason.message
    desk.send(pc.UpdateSettlementStatus(actor=OPS, instruction_id="SI1", status="instructed"))
    desk.send(pc.UpdateSettlementStatus(actor=OPS, instruction_id="SI1", status="failed", reason="counterparty lacks securities"))
    fails = reports.fails(book, date(2026, 3, 10))
    assert fails[0]["reason"] == "counterparty lacks securities" and fails[0]["days_late"] == 7
    # Once instructed, the allocation can no longer be amended or canceled.
    refused = only_rejection(desk.send(pc.CancelAllocation(actor=OPS, allocation_id="AL1", reason="oops")))
    assert "has gone out" in refused.reason.message
    trader = Actor("alice", "test")
    assert only_rejection(desk.send(pc.UpdateSettlementStatus(actor=trader, instruction_id="SI1", status="settled"))).reason.code \
        is RejectCode.NOT_PERMITTED


def test_amend_and_cancel_before_instructions_go_out_are_journaled_with_the_user() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    allocate(desk, [oid], "weight", weights(ACC_EQ_1="1"))
    desk.send(pc.InstructSettlement(actor=OPS))
    amended = desk.send(pc.AmendAllocation(actor=OPS, allocation_id="AL1", method="quantity",
                                           targets=quantities(ACC_EQ_1="60", ACC_EQ_2="40"), reason="client changed split"))
    assert isinstance(amended[0], pe.AllocationBooked) and amended[0].version == 2
    assert book.instructions["SI1"].status == "canceled"  # the pending instruction of version 1 went with it
    assert book.ledgers[(AccountId("ACC-EQ-2"), Symbol("AAPL"))].position.quantity == 40
    canceled = desk.send(pc.CancelAllocation(actor=OPS, allocation_id="AL1", reason="wrong block"))
    assert isinstance(canceled[0], pe.AllocationCanceled) and canceled[0].actor.user == "demo"
    assert book.ledgers[(AccountId("ACC-EQ-1"), Symbol("AAPL"))].position.quantity == 100
    assert book.ledgers[(AccountId("ACC-EQ-2"), Symbol("AAPL"))].position.quantity == 0
    assert [h[1] for h in book.allocations["AL1"].history] == ["booked", "amended", "canceled"]


def test_a_pre_trade_plan_is_used_when_the_order_is_allocated_and_scaled_to_a_partial_fill() -> None:
    desk, _ = posttrade_desk()
    oid = desk.submit_ok("1000", "230.00")
    planned = desk.send(pc.PlanAllocation(actor=OPS, block_order=oid, method="quantity",
                                          targets=quantities(ACC_EQ_1="600", ACC_EQ_2="400")))
    assert isinstance(planned[0], pe.AllocationPlanned)
    over = desk.send(pc.PlanAllocation(actor=OPS, block_order=oid, method="quantity", targets=quantities(ACC_EQ_1="1200")))
    assert "over-allocation" in only_rejection(over).reason.message
    desk.ack(oid)
    desk.fill(oid, "500", "230.00")
    desk.cancel(oid)
    desk.venue_canceled(oid)
    booked = desk.send(pc.AllocateBlock(actor=OPS, orders=[oid]))[0]
    assert [(line.account, line.quantity) for line in booked.lines] == [("ACC-EQ-1", D(300)), ("ACC-EQ-2", D(200))]  # type: ignore[attr-defined]


def test_start_of_day_positions_load_and_reconcile_with_breaks() -> None:
    desk, book = posttrade_desk()
    rows = [pe.PositionRow(AccountId("ACC-EQ-1"), Symbol("AAPL"), D(500), D("200.00")),
            pe.PositionRow(AccountId("ACC-EQ-2"), Symbol("MSFT"), D(-50), D("400.00"))]
    assert isinstance(desk.send(pc.LoadPositions(actor=OPS, as_of="2026-03-02", source="custodian", rows=rows))[0], pe.PositionsLoaded)
    oid = desk.submit_ok("100", "230.00", side=Side.SELL)
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    ledger = book.ledgers[(AccountId("ACC-EQ-1"), Symbol("AAPL"))]
    assert (ledger.position.quantity, ledger.position.realized_pnl) == (D(400), D(3000))
    breaks = reports.reconcile(book, [("ACC-EQ-1", "AAPL", D(400)), ("ACC-EQ-2", "MSFT", D(-40)), ("ACC-FI-1", "NVDA", D(10))])
    assert breaks == [
        {"account": "ACC-EQ-2", "symbol": "MSFT", "ours": "-50", "theirs": "-40", "difference": "-10", "kind": "quantity"},
        {"account": "ACC-FI-1", "symbol": "NVDA", "ours": "0", "theirs": "10", "difference": "-10", "kind": "missing_here"},
    ]
    bad = [pe.PositionRow(AccountId("ACC-XX"), Symbol("AAPL"), D(1), D(1))]
    assert only_rejection(desk.send(pc.LoadPositions(actor=OPS, as_of="2026-03-02", source="x", rows=bad))).reason.code \
        is RejectCode.UNKNOWN_ACCOUNT
    assert ledger.position.quantity == D(400)


def test_fix_allocation_instruction_and_ack_carry_the_allocation() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    allocate(desk, [oid], "quantity", quantities(ACC_EQ_1="70", ACC_EQ_2="30"))
    message = parse(allocation_instruction(book.allocations["AL1"], "OPENOMS", "BROKER", 7, desk.now))
    assert message.msg_type == "J" and message.get(70) == "AL1-1" and message.get(71) == "0"
    assert (message.get(55), message.get(54), message.get(53), message.get(6)) == ("AAPL", "1", "100", "230.00")
    accounts = [(v, q) for (t, v), (_, q) in zip(message.pairs, message.pairs[1:], strict=False) if t == 79]
    assert accounts == [("ACC-EQ-1", "70"), ("ACC-EQ-2", "30")]
    desk.send(pc.AcknowledgeAllocation(actor=OPS, allocation_id="AL1", status="rejected", reason="unknown account at broker"))
    ack = parse(allocation_ack(book.allocations["AL1"], "BROKER", "OPENOMS", 3, desk.now))
    assert (ack.msg_type, ack.get(70), ack.get(87), ack.get(58)) == ("P", "AL1-1", "1", "unknown account at broker")
    desk.send(pc.CancelAllocation(actor=OPS, allocation_id="AL1", reason="redo"))
    cancel = parse(allocation_instruction(book.allocations["AL1"], "OPENOMS", "BROKER", 8, desk.now))
    assert (cancel.get(71), cancel.get(72)) == ("2", "AL1-1")


def test_sese023_xml_of_each_instruction_is_valid_against_the_schema() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("1000000", "98.5", symbol="UST-10Y", account="ACC-FI-1")
    desk.ack(oid)
    desk.fill(oid, "1000000", "98.5")
    sell = desk.submit_ok("100", "230.00", side=Side.SELL)
    desk.ack(sell)
    desk.fill(sell, "100", "230.00")
    allocate(desk, [oid], "weight", weights(ACC_FI_1="1"))
    allocate(desk, [sell], "weight", weights(ACC_EQ_1="1"))
    desk.send(pc.InstructSettlement(actor=OPS))
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    ns = {"s": "urn:iso:std:iso:20022:tech:xsd:sese.023.001.09"}
    for state in book.instructions.values():
        document = etree.fromstring(sese023(state.instruction))
        schema.assertValid(document)
        assert document.findtext("s:SctiesSttlmTxInstr/s:SttlmAmt/s:Amt", namespaces=ns) == str(state.instruction.net_money)
    bond = etree.fromstring(sese023(book.instructions["SI1"].instruction))
    assert bond.findtext("s:SctiesSttlmTxInstr/s:FinInstrmId/s:ISIN", namespaces=ns) == "US91282CPJ49"
    assert bond.findtext("s:SctiesSttlmTxInstr/s:SttlmTpAndAddtlParams/s:SctiesMvmntTp", namespaces=ns) == "RECE"
    broken = etree.fromstring(sese023(book.instructions["SI2"].instruction).replace(b"DTCYUS33", b"not a bic"))
    assert not schema.validate(broken)


def test_a_missing_ssi_refuses_the_whole_instruction_run() -> None:
    desk, book = posttrade_desk()
    desk.send(pc.SetSettlementSetup(actor=OPS, ssis=[s for s in book.ssis.values() if s.account != "ACC-EQ-2"],
                                    netting_accounts=[], source="test"))
    oid = desk.submit_ok("100", "230.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00")
    allocate(desk, [oid], "weight", weights(ACC_EQ_1="0.5", ACC_EQ_2="0.5"))
    refused = only_rejection(desk.send(pc.InstructSettlement(actor=OPS)))
    assert "no standing settlement instruction for ACC-EQ-2" in refused.reason.message
    assert book.instructions == {}


@pytest.mark.parametrize("schedule", [{"commission.equity.per_share": "1"}, {"commission.equity.per_unit": "-1"},
                                      {"commission.equity.per_unit": "abc"}])
def test_a_bad_fee_schedule_is_refused(schedule: dict[str, str]) -> None:
    desk, _ = posttrade_desk()
    assert only_rejection(desk.send(pc.SetFeeSchedule(actor=OPS, schedule=schedule, source="t"))).reason.code \
        is RejectCode.INVALID_FEE_SCHEDULE
    assert not any(isinstance(e, ev.CommandRejected) for e in desk.send(pc.SetFeeSchedule(
        actor=OPS, schedule={"commission.equity.per_unit": "0.01"}, source="t")))


def test_a_correction_rebooks_the_trade_and_the_position_exactly() -> None:
    desk, book = posttrade_desk()
    oid = desk.submit_ok("100", "231.00")
    desk.ack(oid)
    desk.fill(oid, "100", "230.00", exec_id="C1")
    desk.send(VenueTradeCorrected(actor=OPS, exec_id=ExecId("C1"), last_qty=D(60), last_px=D("229.50")))
    trade = book.trades[ExecId("C1")]
    assert (trade.status, trade.quantity, trade.price, trade.gross) == ("corrected", D(60), D("229.50"), D("13770.00"))
    position = book.ledgers[(AccountId("ACC-EQ-1"), Symbol("AAPL"))].position
    assert (position.quantity, position.avg_price) == (D(60), D("229.50"))


def test_the_readme_post_trade_file_sample_loads() -> None:
    import re
    import tomllib

    from openoms.posttrade import setup_file

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Post-trade", 1)[1].split("\n## ", 1)[0]
    (sample,) = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    setup = setup_file.parse(tomllib.loads(sample), "README")
    assert setup.fees["commission.accounts.ACC-EQ-2.bps"] == "2" and setup.netting_accounts == ["ACC-EQ-2"]
    assert setup.calendars.calendars["XNYS"].extra == frozenset({date(2026, 12, 24)})
    with pytest.raises(setup_file.PostTradeFileError, match="unknown fee schedule entry"):
        setup_file.parse({"fees": {"commission": {"equity": {"per_share": "1"}}}}, "bad")
