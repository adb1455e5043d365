"""``OmsClient``: the OpenOMS HTTP API over a blocking httpx client.

    from decimal import Decimal
    from openoms.client import OmsClient

    with OmsClient("http://127.0.0.1:8000", user="alice") as oms:
        ack = oms.submit_order("ACC-EQ-1", "AAPL", "buy", 100, price=Decimal("200.00"))
        print(ack.order.order_id, ack.order.status)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import httpx

from ..domain.lifecycle import OrdStatus
from ..domain.values import OrdType, Side, TimeInForce
from . import calls
from . import models as m
from .calls import Call, NewOrder, Number
from .errors import OmsConnectionError
from .settings import ClientSettings
from .stream import StreamCursor, StreamGap

T = TypeVar("T")


class OmsClient:
    """Typed, blocking client. Reads (GET) are retried on a dropped connection or a 502/503/504;
    orders, cancels and kill switches are sent once. Every refusal raises an ``OmsApiError``
    subclass carrying the server's code, message and detail; no answer raises ``OmsConnectionError``.

    ``token`` (a session token or an API key) is sent as ``Authorization: Bearer``; ``user`` as
    ``X-OMS-User`` (servers without logins). ``http`` may be any ``httpx.Client`` (for example
    Starlette's ``TestClient`` around an in-process app); it is then used as is, with its base URL.
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", *, token: str | None = None, user: str | None = None,
                 timeout: float = 10.0, retries: int = 2, backoff: float = 0.2, http: httpx.Client | None = None) -> None:
        self.settings = ClientSettings.of(url if http is None else str(http.base_url), token, user, timeout, retries, backoff)
        self._owned = http is None
        self._http = http if http is not None else httpx.Client(base_url=self.settings.url, timeout=self.settings.timeout)

    def __enter__(self) -> OmsClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def send(self, call: Call[T]) -> T:
        """Carry one call; retry reads that got no answer or a temporary one."""
        delays = calls.backoff_delays(self.settings.retries, self.settings.backoff) if call.idempotent else []
        for attempt in range(len(delays) + 1):
            try:
                response = self._http.request(call.method, call.path, params=call.params, content=call.body,
                                              headers=self.settings.headers(call.body is not None))
            except httpx.TransportError as exc:
                if attempt < len(delays):
                    time.sleep(delays[attempt])
                    continue
                raise OmsConnectionError(self.settings.unreachable(exc)) from None
            if response.status_code in calls.RETRY_STATUSES and attempt < len(delays):
                time.sleep(delays[attempt])
                continue
            return calls.read_answer(call, response.status_code, response.content)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # --- orders --------------------------------------------------------------------------------

    def submit_order(self, account: str, symbol: str, side: Side | str, quantity: Number, *, price: Number | None = None,
                     ord_type: OrdType | str | None = None, stop_price: Number | None = None,
                     tif: TimeInForce | str | None = None, expire_at: datetime | None = None,
                     cl_ord_id: str | None = None) -> m.OrderAck:
        """Submit an order; answered once journaled (PendingNew), before the venue acknowledges."""
        return self.send(calls.submit_order(calls.new_order(
            account, symbol, side, quantity, price=price, ord_type=ord_type, stop_price=stop_price, tif=tif,
            expire_at=expire_at, cl_ord_id=cl_ord_id)))

    def replace_order(self, order_id: str, *, quantity: Number | None = None, price: Number | None = None,
                      stop_price: Number | None = None, cl_ord_id: str | None = None) -> m.OrderAck:
        return self.send(calls.replace_order(order_id, quantity, price, stop_price, cl_ord_id))

    def cancel_order(self, order_id: str, *, cl_ord_id: str | None = None) -> m.OrderAck:
        return self.send(calls.cancel_order(order_id, cl_ord_id))

    def list_orders(self, *, status: OrdStatus | str | None = None, account: str | None = None, symbol: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, open_only: bool = False,
                    limit: int | None = None) -> list[m.Order]:
        return self.send(calls.list_orders(status, account, symbol, since, until, open_only, limit))

    def get_order(self, order_id: str) -> m.OrderDetail:
        return self.send(calls.get_order(order_id))

    def order_history(self, order_id: str) -> m.AuditHistory:
        """The audit reconstruction: every event with the state before and after and the market price."""
        return self.send(calls.order_history(order_id))

    # --- post-trade, reference and market data -------------------------------------------------

    def list_executions(self, *, account: str | None = None, symbol: str | None = None, order_id: str | None = None,
                        limit: int | None = None) -> list[m.Execution]:
        return self.send(calls.list_executions(account, symbol, order_id, limit))

    def list_positions(self, *, account: str | None = None, symbol: str | None = None) -> list[m.Position]:
        return self.send(calls.list_positions(account, symbol))

    def instruments(self) -> list[m.Instrument]:
        return self.send(calls.instruments())

    def accounts(self) -> list[m.Account]:
        return self.send(calls.accounts())

    def quote(self, symbol: str) -> m.Quote:
        return self.send(calls.quote(symbol))

    # --- risk ----------------------------------------------------------------------------------

    def risk_limits(self) -> m.RiskLimits:
        return self.send(calls.risk_limits())

    def risk_usage(self, *, account: str | None = None, symbol: str | None = None) -> m.RiskUsage:
        return self.send(calls.risk_usage(account, symbol))

    def what_if(self, account: str, symbol: str, side: Side | str, quantity: Number, *, price: Number | None = None,
                ord_type: OrdType | str | None = None, stop_price: Number | None = None,
                tif: TimeInForce | str | None = None) -> m.WhatIf:
        """Every pre-trade check's answer for a proposed order; nothing is journaled or sent."""
        return self.send(calls.what_if(calls.new_order(account, symbol, side, quantity, price=price, ord_type=ord_type,
                                                       stop_price=stop_price, tif=tif)))

    def what_if_basket(self, orders: Sequence[NewOrder]) -> m.BasketWhatIf:
        """Each order's checks on its own, and each account's basket buys against its credit limit."""
        return self.send(calls.what_if_basket(orders))

    def engage_kill_switch(self, scope: str, reason: str) -> m.KillSwitch:
        return self.send(calls.engage_kill_switch(scope, reason))

    def release_kill_switch(self, scope: str, reason: str) -> m.KillSwitch:
        return self.send(calls.release_kill_switch(scope, reason))

    # --- execution algorithms ------------------------------------------------------------------

    def start_algo(self, account: str, symbol: str, side: Side | str, quantity: Number, kind: str, *,
                   limit_price: Number | None = None, start_at: datetime | None = None, end_at: datetime | None = None,
                   interval_s: int | None = None, participation_pct: Number | None = None,
                   min_participation_pct: Number | None = None, max_participation_pct: Number | None = None,
                   display_qty: Number | None = None, route: str | None = None, cl_ord_id: str | None = None) -> m.Algo:
        """Start a TWAP, VWAP, POV or iceberg parent; answered with it and its first children."""
        return self.send(calls.start_algo(account, symbol, side, quantity, kind, limit_price=limit_price, start_at=start_at,
                                     end_at=end_at, interval_s=interval_s, participation_pct=participation_pct,
                                     min_participation_pct=min_participation_pct, max_participation_pct=max_participation_pct,
                                     display_qty=display_qty, route=route, cl_ord_id=cl_ord_id))

    def list_algos(self) -> list[m.Algo]:
        return self.send(calls.list_algos())

    def get_algo(self, algo_id: str) -> m.Algo:
        return self.send(calls.get_algo(algo_id))

    def pause_algo(self, algo_id: str, reason: str = "") -> m.Algo:
        """No new children; the working ones are canceled."""
        return self.send(calls.algo_action(algo_id, "pause", reason))

    def resume_algo(self, algo_id: str, reason: str = "") -> m.Algo:
        return self.send(calls.algo_action(algo_id, "resume", reason))

    def cancel_algo(self, algo_id: str, reason: str = "") -> m.Algo:
        """End the parent and cancel every working child."""
        return self.send(calls.algo_action(algo_id, "cancel", reason))

    def modify_algo(self, algo_id: str, *, quantity: Number | None = None, limit_price: Number | None = None,
                    end_at: datetime | None = None, participation_pct: Number | None = None) -> m.Algo:
        return self.send(calls.modify_algo(algo_id, quantity, limit_price, end_at, participation_pct))

    # --- staged orders (portfolio managers stage, traders pick up and release) -------------------

    def stage_order(self, account: str, symbol: str, side: Side | str, quantity: Number, *, price: Number | None = None,
                    ord_type: OrdType | str | None = None, stop_price: Number | None = None,
                    tif: TimeInForce | str | None = None, for_trader: str | None = None, note: str | None = None) -> m.StagedOrder:
        return self.send(calls.stage_order(calls.new_order(account, symbol, side, quantity, price=price, ord_type=ord_type,
                                                      stop_price=stop_price, tif=tif), for_trader, note))

    def list_staged(self, *, include_done: bool = False) -> list[m.StagedOrder]:
        """Open staged orders of the accounts you see (with released and canceled ones: ``include_done``)."""
        return self.send(calls.list_staged(include_done))

    def pick_up_staged(self, staged_id: str) -> m.StagedOrder:
        return self.send(calls.pick_up_staged(staged_id))

    def release_staged(self, staged_id: str, *, route: str | None = None) -> m.Release:
        """Send a staged order you picked up to the market: an ordinary order, through every check."""
        return self.send(calls.release_staged(staged_id, route))

    def cancel_staged(self, staged_id: str, *, reason: str | None = None) -> m.StagedOrder:
        return self.send(calls.cancel_staged(staged_id, reason))

    # --- sessions ------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> m.Session:
        """Sign in with a password; later calls of this client carry the session token."""
        session = self.send(calls.login(username, password))
        self.settings = self.settings.with_token(session.token)
        return session

    def logout(self) -> None:
        self.send(calls.logout())
        self.settings = self.settings.with_token(None)

    # --- the live stream -----------------------------------------------------------------------

    def stream(self, from_seq: int | None = None, *, reconnect: bool = True) -> Iterator[m.StreamMessage]:
        """Live updates from ``/api/v1/stream``: a snapshot, then updates, each once. With
        ``reconnect`` a dropped connection is opened again from the last ``seq`` received (up to
        ``retries`` times in a row); without it, it ends the iteration with ``OmsConnectionError``.
        The stream opens its own WebSocket to the client's URL (an injected ``http`` client is not used)."""
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        cursor = StreamCursor(last_seq=from_seq)
        failures = 0
        while True:
            try:
                with connect(cursor.url(self.settings.url), additional_headers=self.settings.headers(False),
                             open_timeout=self.settings.timeout) as socket:
                    socket.send(cursor.subscribe(self.settings.token))
                    for raw in socket:
                        failures = 0
                        yield from cursor.accept(raw)
                if not reconnect:
                    return
                problem = "the server closed the stream"
            except StreamGap as gap:
                problem = str(gap)
            except InvalidStatus as exc:
                raise calls.error_of(exc.response.status_code, exc.response.body or b"") from None
            except (OSError, TimeoutError, WebSocketException) as exc:
                problem = str(exc) or type(exc).__name__
            if not reconnect or failures >= self.settings.retries:
                raise OmsConnectionError(f"stream at {self.settings.url}: {problem}")
            time.sleep(self.settings.stream_delay(failures))
            failures += 1

