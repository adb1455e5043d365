"""Structured logs: one JSON object per line with the order's ids, written for the order events
operations care about (refusals, venue rejects, busts, kill switches) and, at DEBUG, for all."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from builders import ACTOR, Desk
from openoms.domain import commands as cmd
from openoms.ops.logs import OrderEventLog, configure_logging, json_formatter


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("test.openoms.orders")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_notable_order_events_are_json_lines_with_their_ids(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.setLevel(logging.INFO)
    desk = Desk()
    oid = desk.submit_ok(cl_ord_id="C-1")
    desk.venue_rejected(oid, "no liquidity")  # notable
    desk.submit("0", "230.00", cl_ord_id="C-2")  # refused: notable
    desk.send(cmd.EngageKillSwitch(actor=ACTOR, scope="account:ACC-EQ-1", reason="drill"))
    OrderEventLog(logger)(desk.events)
    logged = lines(stream)
    assert [line["event"] for line in logged] == ["OrderRejected", "CommandRejected", "KillSwitchEngaged"]
    rejected, refused, switch = logged
    assert rejected["level"] == "INFO" and rejected["logger"] == "test.openoms.orders"
    assert (rejected["order_id"], rejected["route_id"], rejected["code"]) == (oid, f"{oid}-1", "VENUE_REJECT")
    assert rejected["message"] == f"OrderRejected {oid} VENUE_REJECT: no liquidity"
    assert (refused["cl_ord_id"], refused["account"], refused["code"], refused["user"]) == ("C-2", "ACC-EQ-1", "INVALID_QUANTITY", "demo")
    assert switch["scope"] == "account:ACC-EQ-1" and "timestamp" in switch


def test_every_order_event_is_logged_at_debug_and_none_above_info(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    desk = Desk()
    oid = desk.submit_ok()
    desk.ack(oid)
    logger.setLevel(logging.DEBUG)
    OrderEventLog(logger)(desk.events)
    assert [(line["event"], line["order_id"], line["seq"]) for line in lines(stream)] == [
        ("OrderAccepted", oid, 1), ("OrderRouted", oid, 2), ("OrderAcknowledged", oid, 3)]
    stream.truncate(0)
    stream.seek(0)
    logger.setLevel(logging.WARNING)
    desk.submit("0", "230.00")
    OrderEventLog(logger)(desk.events)
    assert stream.getvalue() == ""


def test_configure_logging_json_puts_every_logger_on_one_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("info", "json")
        logging.getLogger("uvicorn.error").info("started", extra={"port": 8000})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["logger"], line["message"], line["port"], line["level"]) == ("uvicorn.error", "started", 8000, "INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
