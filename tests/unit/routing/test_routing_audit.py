"""Routing decisions in the audit trail and the regulatory exports: a smart-routed order whose
first venue refuses its child (so that route ends unfilled and the rest is routed again) shows
each decision and the ended route in the order reconstruction, the CAT-style lines (MEOR with
the rule and reason, MECR for the ended route) and the MiFID-style rows (ROUT with the decision,
RTEN), all valid against the documented schemas and the same bytes on every run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
from routing_kit import Market
from test_smart_routing import BOOKS, filled

from openoms.audit.reconstruct import order_history
from openoms.demo import demo_reference
from openoms.domain import events as ev
from openoms.exports.run import export_day
from openoms.journal.sqlite import SqliteJournal

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schemas"
DAY = "2026-03-02"


def rerouted_order(tmp_path: Path) -> tuple[Path, Market, str]:
    market = Market(BOOKS)
    market.venues["SIM-A"].connected = False  # refuses its child: the route ends, the rest is routed again
    order = filled(market.submit(600, route="sor"))
    market.submit(50, price="99.00")  # the plain default route, for contrast
    path = tmp_path / "journal.sqlite"
    journal = SqliteJournal(path)
    journal.append(market.events)
    journal.close()
    return path, market, order.order_id


def export(path: Path, kind: str, out: Path) -> bytes:
    journal = SqliteJournal(path, readonly=True)
    try:
        export_day(journal, DAY, kind, out, demo_reference())
    finally:
        journal.close()
    return out.read_bytes()


def test_the_reconstruction_shows_each_decision_and_the_ended_route(tmp_path: Path) -> None:
    _, market, order_id = rerouted_order(tmp_path)
    events = [e for e in market.events if getattr(e, "order_id", None) == order_id]
    routing = order_history(events)["routing"]
    first, second = routing["decisions"]
    assert (first["rule"], first["strategy"]) == ("client:sor", "sor")
    assert sum(int(a["quantity"]) for a in first["allocations"]) == 600
    assert any(a["venue"] == "SIM-A" for a in first["allocations"])
    assert "re-route" in second["notes"][0] and all(a["venue"] != "SIM-A" for a in second["allocations"])
    [ended] = routing["ended"]
    assert ended["venue"] == "SIM-A" and "venue SIM-A is down" in ended["reason"] and int(ended["unfilled"]) > 0
    plain = [e for e in market.events if isinstance(e, ev.OrderAccepted)][-1]
    implied = order_history([e for e in market.events if getattr(e, "order_id", None) == plain.order_id])["routing"]
    assert implied["decisions"][0]["implied"] is True and implied["ended"] == []


def test_cat_lines_name_the_decision_of_each_route_and_the_route_that_ended(tmp_path: Path) -> None:
    path, _, order_id = rerouted_order(tmp_path)
    data = export(path, "cat", tmp_path / "cat.jsonl")
    assert data == export(path, "cat", tmp_path / "cat2.jsonl")  # byte-for-byte reproducible
    schema = json.loads((SCHEMAS / "cat-event.schema.json").read_text())
    records = [json.loads(line) for line in data.decode().splitlines()]
    for record in records:
        jsonschema.validate(record, schema)
    routes = [r for r in records if r["type"] == "MEOR" and r["orderID"] == order_id]
    assert {r["routingRule"] for r in routes} == {"client:sor"}
    assert all(r["routingReason"].startswith("sor: ") for r in routes)
    assert any("re-route of" in r["routingReason"] for r in routes)
    [ended] = [r for r in records if r["type"] == "MECR"]
    sim_a = next(r for r in routes if r["destination"] == "SIM-A")
    assert (ended["routedOrderID"], ended["destination"], ended["cancelQty"]) == (sim_a["routedOrderID"], "SIM-A", sim_a["quantity"])
    assert "venue SIM-A is down" in ended["cancelReason"]
    default = [r for r in records if r["type"] == "MEOR" and r["orderID"] != order_id]
    assert [r["routingRule"] for r in default] == ["default"]


def test_mifid_rows_carry_the_decision_and_the_ended_route(tmp_path: Path) -> None:
    path, _, order_id = rerouted_order(tmp_path)
    data = export(path, "mifid", tmp_path / "m.csv")
    assert data == export(path, "mifid", tmp_path / "m2.csv")
    schema = json.loads((SCHEMAS / "mifid-order-record.schema.json").read_text())
    rows = list(csv.DictReader(data.decode().splitlines()))
    for row in rows:
        jsonschema.validate(row, schema)
    mine = [r for r in rows if r["order_id"] == order_id]
    assert all(r["reason"].startswith("routing rule client:sor: sor: ") for r in mine if r["event_type"] == "ROUT")
    [ended] = [r for r in mine if r["event_type"] == "RTEN"]
    assert ended["venue"] == "SIM-A" and "venue SIM-A is down" in ended["reason"]
