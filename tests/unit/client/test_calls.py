"""The SDK's calls without I/O: arguments checked before sending, exact numbers on the wire and
back, and every error answer turned into the right exception."""

from __future__ import annotations

import inspect
from datetime import datetime
from decimal import Decimal

import msgspec
import pytest

from openoms.client import (
    AsyncOmsClient,
    Conflict,
    InvalidRequest,
    NotFound,
    OmsApiError,
    OmsClient,
    OmsInputError,
    OmsProtocolError,
    OrderRejected,
    PermissionDenied,
    ServerError,
    ServerUnavailable,
    Unauthorized,
    calls,
    new_order,
)


def test_a_float_quantity_or_price_is_refused_before_sending_because_it_is_not_exact() -> None:
    with pytest.raises(OmsInputError, match=r"quantity must be a Decimal.*write Decimal\('0.1'\)"):
        new_order("ACC-EQ-1", "AAPL", "buy", 0.1)
    with pytest.raises(OmsInputError, match="price must be a Decimal"):
        new_order("ACC-EQ-1", "AAPL", "buy", 1, price=230.1)


def test_decimals_ints_and_decimal_strings_go_out_as_exact_decimal_strings() -> None:
    order = new_order("ACC-EQ-1", "AAPL", "BUY", "100.5", price=Decimal("230.0100"), tif="gtc")
    body = msgspec.json.decode(calls.submit_order(order).body or b"")
    assert body == {"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": "100.5", "price": "230.0100",
                    "tif": "gtc"}


@pytest.mark.parametrize(("value", "problem"), [("1.5x", "decimal number"), ("NaN", "finite"), ("Infinity", "finite"),
                                                 (True, "not bool")])
def test_quantities_that_are_not_numbers_are_refused_with_the_field_named(value: object, problem: str) -> None:
    with pytest.raises(OmsInputError, match=f"quantity.*{problem}"):
        new_order("ACC-EQ-1", "AAPL", "buy", value)  # type: ignore[arg-type]


def test_unknown_enum_values_list_the_choices() -> None:
    with pytest.raises(OmsInputError, match="side must be one of buy, sell, sell_short, sell_short_exempt; got 'purchase'"):
        new_order("ACC-EQ-1", "AAPL", "purchase", 1)
    with pytest.raises(OmsInputError, match="status must be one of"):
        calls.list_orders(status="working")


def test_times_without_a_timezone_are_refused() -> None:
    with pytest.raises(OmsInputError, match="since needs a timezone"):
        calls.list_orders(since=datetime(2026, 11, 26, 9, 0))


def test_a_replace_that_changes_nothing_is_refused_before_sending() -> None:
    with pytest.raises(OmsInputError, match="at least one of quantity, price, stop_price"):
        calls.replace_order("O1")


def test_an_order_id_cannot_reach_another_route() -> None:
    assert calls.cancel_order("O1/../../risk/kill-switch").path == "/api/v1/orders/O1%2F..%2F..%2Frisk%2Fkill-switch/cancel"
    with pytest.raises(OmsInputError, match="order_id must be a non-empty string"):
        calls.get_order(" ")


def test_only_reads_are_idempotent_and_so_retried() -> None:
    order = new_order("ACC-EQ-1", "AAPL", "buy", 1, price="1")
    assert calls.list_orders().idempotent and calls.risk_usage().idempotent
    assert not calls.submit_order(order).idempotent
    assert not calls.cancel_order("O1").idempotent
    assert not calls.engage_kill_switch("account:ACC-EQ-1", "test").idempotent
    assert not calls.what_if(order).idempotent  # a POST: never retried, even if harmless


def test_answers_keep_every_number_exact_even_when_sent_as_json_numbers() -> None:
    content = (b'{"symbol":"AAPL","bid":230.1,"bid_size":100,"ask":"230.20","ask_size":"5","last":0.1,"last_size":1,'
               b'"volume":10,"halted":false,"time":"2026-11-26T14:30:00.000001Z","new_field":1.5}')
    quote = calls.read_answer(calls.quote("AAPL"), 200, content)
    assert (quote.bid, quote.ask, quote.last) == (Decimal("230.1"), Decimal("230.20"), Decimal("0.1"))
    assert quote.time.tzinfo is not None and quote.time.microsecond == 1
    detail = calls.read_answer(calls.get_order("O1"), 200, b'{"order": ' + ORDER + b', "events": [{"last_px": 0.3}]}')
    assert detail.events[0]["last_px"] == Decimal("0.3")


ORDER = (b'{"order_id":"O1","cl_ord_id":"C1","account":"A","trader":"t","symbol":"AAPL","side":"buy","ord_type":"limit",'
         b'"quantity":"10","price":"1.5","tif":"day","status":"new","cum_qty":"0","leaves_qty":"10","avg_px":"0",'
         b'"trade_date":"2026-11-26","created_at":"2026-11-26T00:00:00Z","updated_at":"2026-11-26T00:00:00Z"}')


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, "MALFORMED_JSON", InvalidRequest), (422, "INVALID_FIELD", InvalidRequest), (422, "RISK_MAX_NOTIONAL", OrderRejected),
    (401, "BAD_CREDENTIALS", Unauthorized), (403, "NOT_PERMITTED", PermissionDenied), (404, "UNKNOWN_ORDER", NotFound),
    (409, "TOO_LATE", Conflict), (503, "ENGINE_UNAVAILABLE", ServerUnavailable), (500, "INTERNAL_ERROR", ServerError),
])
def test_every_error_answer_raises_its_class_with_the_servers_words(status: int, code: str, kind: type[OmsApiError]) -> None:
    content = msgspec.json.encode({"error": {"code": code, "message": "why", "detail": {"limit": "5"}}})
    with pytest.raises(kind) as raised:
        calls.read_answer(calls.list_orders(), status, content)
    assert (raised.value.status, raised.value.code, raised.value.message, raised.value.detail) == (status, code, "why", {"limit": "5"})
    assert raised.value.as_dict() == {"error": {"code": code, "message": "why", "detail": {"limit": "5"}}}


def test_an_error_page_that_is_not_the_apis_keeps_its_status_and_text() -> None:
    with pytest.raises(ServerError) as raised:
        calls.read_answer(calls.list_orders(), 502, b"<html>Bad Gateway</html>\n")
    assert raised.value.code == "HTTP_502" and "Bad Gateway" in raised.value.message


def test_a_successful_answer_that_is_not_the_apis_is_a_protocol_error() -> None:
    with pytest.raises(OmsProtocolError, match="not the OpenOMS API's"):
        calls.read_answer(calls.list_orders(), 200, b'{"hello": "world"}')
    with pytest.raises(OmsProtocolError):
        calls.read_answer(calls.quote("AAPL"), 200, b"<html></html>")


def test_the_sync_and_async_clients_offer_the_same_calls_with_the_same_arguments() -> None:
    def public(kind: type) -> dict[str, inspect.Signature]:
        return {name: inspect.signature(member) for name, member in vars(kind).items()
                if callable(member) and not name.startswith("_") and name not in {"close"}}

    sync, asynchronous = public(OmsClient), public(AsyncOmsClient)
    assert sync.keys() == asynchronous.keys()
    for name, signature in sync.items():
        assert list(signature.parameters.values()) == list(asynchronous[name].parameters.values()), name


def test_bad_client_settings_are_input_errors() -> None:
    with pytest.raises(OmsInputError, match="server URL must be"):
        OmsClient("localhost:8000")
    with pytest.raises(OmsInputError, match="token must be a non-empty single line"):
        OmsClient(token="abc\r\nX-OMS-User: admin")
