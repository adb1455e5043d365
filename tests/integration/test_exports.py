"""Regulatory exports from a real journal file: CAT-style JSON lines and the MiFID-style CSV validate
against the documented schemas, link up by id across days, and are the same bytes on every run."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from builders import DAY, T0, Desk
from openoms.demo import demo_reference
from openoms.domain.values import Side, TimeInForce
from openoms.exports.day import ExportError
from openoms.exports.mifid import COLUMNS
from openoms.exports.run import export_day
from stores import Store

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
DAY1, DAY2 = "2026-03-02", "2026-03-03"


@pytest.fixture(scope="module")
def journal_file(module_store: Store) -> Store:
    """Two trading days: a replace, partial fills, a bust and a correction; a GTC order carried
    over and canceled the next day; a venue reject; an IOC remainder; a DAY order expiring."""
    desk = Desk()
    o1 = desk.submit_ok("100", "230.00", cl_ord_id="A")
    desk.ack(o1)
    desk.fill(o1, "30", "230.00", exec_id="E1")
    desk.replace(o1, "A2", qty="150")
    desk.venue_replaced(o1, "150", "230.00")
    desk.fill(o1, "50", "229.99", exec_id="E2")
    desk.bust("E1")
    desk.correct("E2", "40", "229.98")
    o2 = desk.submit_ok("10", "200.00", tif=TimeInForce.GTC, cl_ord_id="G")
    desk.ack(o2)
    o3 = desk.submit_ok("5", "231.00", side=Side.SELL_SHORT, cl_ord_id="S")
    desk.venue_rejected(o3, "no locate")
    o4 = desk.submit_ok("7", "229.00", tif=TimeInForce.IOC, cl_ord_id="I")
    desk.ack(o4)
    desk.venue_canceled(o4, "ioc remainder")
    o5 = desk.submit_ok("20", "228.00", cl_ord_id="D")
    desk.ack(o5)
    desk.end_of_day()
    desk.now = T0 + DAY
    desk.start_of_day()
    desk.cancel(o2, cl_ord_id="G-X")
    desk.venue_canceled(o2)
    journal = module_store.journal()
    journal.append(desk.events)
    journal.close()
    return module_store


def export(store: Store, day: str, kind: str, out: Path) -> bytes:
    journal = store.reader()
    try:
        export_day(journal, day, kind, out, demo_reference())
    finally:
        journal.close()
    return out.read_bytes()


def cat_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_cat_export_validates_links_up_and_is_reproducible(journal_file: Store, tmp_path: Path) -> None:
    schema = json.loads((SCHEMAS / "cat-event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    day1 = export(journal_file, DAY1, "cat", tmp_path / "a.jsonl")
    assert export(journal_file, DAY1, "cat", tmp_path / "b.jsonl") == day1
    day2 = export(journal_file, DAY2, "cat", tmp_path / "c.jsonl")
    records = cat_lines(day1) + cat_lines(day2)
    for record in records:
        validator.validate(record)
        assert list(record) == list(next(v for v in schema["oneOf"] if _matches(v, record))["properties"])
    kinds = [(r["type"], r["actionType"], r["orderID"]) for r in records]
    assert kinds == [
        ("MENO", "NEW", "O1"), ("MEOR", "NEW", "O1"), ("MEOT", "NEW", "O1"), ("MEOM", "NEW", "O1"), ("MEOT", "NEW", "O1"),
        ("MEOT", "DEL", "O1"), ("MEOT", "COR", "O1"),
        ("MENO", "NEW", "O2"), ("MEOR", "NEW", "O2"),
        ("MENO", "NEW", "O3"), ("MEOR", "NEW", "O3"), ("MEOR", "COR", "O3"),
        ("MENO", "NEW", "O4"), ("MEOR", "NEW", "O4"), ("MEOC", "NEW", "O4"),
        ("MENO", "NEW", "O5"), ("MEOR", "NEW", "O5"),
        ("MEOC", "NEW", "O1"), ("MEOC", "NEW", "O5"),  # the close: DAY orders expire (O2 is GTC: done for the day)
        ("MEOC", "NEW", "O2"),  # day two: the GTC order carried over is canceled
    ]
    ids = [r["firmROEID"] for r in records]
    assert len(set(ids)) == len(ids)
    new_orders = {r["orderID"]: r for r in records if r["type"] == "MENO"}
    routes = {r["routedOrderID"] for r in records if r["type"] == "MEOR"}
    for r in records:
        assert r["orderKeyDate"] == new_orders[r["orderID"]]["orderKeyDate"]  # every event links to its new order
        if "routedOrderID" in r:
            assert r["routedOrderID"] in routes
        if "refFirmROEID" in r:
            assert r["refFirmROEID"] in ids[: ids.index(r["firmROEID"])]  # amends an earlier record
    bust, correction = (r for r in records if r["type"] == "MEOT" and r["actionType"] != "NEW")
    assert (bust["tradeID"], bust["quantity"]) == ("E1", None)
    assert (correction["tradeID"], correction["quantity"], correction["price"]) == ("E2", "40", "229.98")
    modified = next(r for r in records if r["type"] == "MEOM")
    assert (modified["clientOrderID"], modified["priorClientOrderID"], modified["quantity"], modified["leavesQty"]) == ("A2", "A", "150", "120")
    carried = records[-1]
    assert carried["orderKeyDate"].startswith(DAY1) and carried["eventTimestamp"].startswith(DAY2)
    assert (carried["cancelQty"], carried["initiator"]) == ("10", "C")
    expired = records[-2]
    assert (expired["cancelReason"], expired["initiator"], expired["cancelQty"]) == ("expired", "F", "20")
    short = new_orders["O3"]
    assert short["side"] == "SS" and short["eventTimestamp"] == "2026-03-02T14:30:00.010Z"  # the 11th command, 1 ms apart
    assert len({r["firmDesignatedID"] for r in new_orders.values()}) == 1  # one account, one FDID


def _matches(variant: dict[str, Any], record: dict[str, Any]) -> bool:
    return not list(jsonschema.Draft202012Validator(variant).iter_errors(record))


def test_mifid_export_validates_against_the_documented_columns_and_is_reproducible(journal_file: Store, tmp_path: Path) -> None:
    schema = json.loads((SCHEMAS / "mifid-order-record.schema.json").read_text())
    data = export(journal_file, DAY1, "mifid", tmp_path / "a.csv")
    assert export(journal_file, DAY1, "mifid", tmp_path / "b.csv") == data
    lines = data.decode().splitlines()
    header = next(csv.reader([lines[0]]))
    assert header == list(schema["properties"]) == list(COLUMNS)
    rows = list(csv.DictReader(lines))
    for row in rows:
        jsonschema.validate(row, schema)
    assert [(r["order_id"], r["event_type"]) for r in rows] == [
        ("O1", "NEWO"), ("O1", "ROUT"), ("O1", "PARF"), ("O1", "REME"), ("O1", "PARF"), ("O1", "BUST"), ("O1", "CORR"),
        ("O2", "NEWO"), ("O2", "ROUT"), ("O3", "NEWO"), ("O3", "ROUT"), ("O3", "REJE"),
        ("O4", "NEWO"), ("O4", "ROUT"), ("O4", "CAMO"), ("O5", "NEWO"), ("O5", "ROUT"), ("O1", "EXPI"), ("O5", "EXPI"),
    ]
    correction = rows[6]
    assert (correction["traded_quantity"], correction["traded_price"], correction["cumulative_quantity"]) == ("40", "229.98", "40")
    assert (correction["venue"], correction["route_id"], correction["exec_id"]) == ("SIM", "O1-1", "E2")
    short = rows[9]
    assert (short["buy_sell"], short["short_selling_indicator"], short["client_id"]) == ("SELL", "SESH", "ACC-EQ-1")
    assert (short["investment_decision_maker"], short["execution_decision_maker"], short["channel"]) == ("demo", "demo", "test")
    assert rows[11]["reason"] == "VENUE_REJECT: no locate" and rows[11]["entered_by"] == "SIM"
    assert rows[0]["event_time"] == "2026-03-02T14:30:00.000000Z" and rows[0]["validity_period"] == "DAVY"
    day2 = list(csv.DictReader(export(journal_file, DAY2, "mifid", tmp_path / "c.csv").decode().splitlines()))
    assert [(r["order_id"], r["event_type"], r["validity_period"], r["orig_client_order_id"]) for r in day2] == [
        ("O2", "CAME", "GTCV", "G")]


def test_every_column_and_event_type_is_documented() -> None:
    doc = (ROOT / "docs" / "exports.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in doc, column
    for kind in ("MENO", "MEOR", "MEOM", "MEOC", "MEOT", "refFirmROEID", "firmDesignatedID"):
        assert kind in doc, kind


def test_cli_exports_the_same_bytes_and_refuses_bad_input(journal_file: Store, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}

    def oms(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=120, env=env)

    out = tmp_path / "cli.jsonl"
    result = oms("export", "cat", "--date", DAY1, "--out", str(out), *journal_file.journal_args())
    assert result.returncode == 0, result.stderr
    assert "19 records" in result.stderr
    assert out.read_bytes() == export(journal_file, DAY1, "cat", tmp_path / "direct.jsonl")
    bad_date = oms("export", "mifid", "--date", "2026-13-01", "--out", str(tmp_path / "x.csv"), *journal_file.journal_args())
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr and "Traceback" not in bad_date.stderr
    assert not (tmp_path / "x.csv").exists()
    missing = oms("export", "cat", "--date", DAY1, "--out", str(tmp_path / "y.jsonl"), "--journal", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and "no journal" in missing.stderr and "Traceback" not in missing.stderr
    with pytest.raises(ExportError):
        export(journal_file, "yesterday", "cat", tmp_path / "z.jsonl")
