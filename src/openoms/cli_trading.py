"""``oms orders submit|list|show|cancel|replace``, ``oms executions``, ``oms positions``,
``oms instruments`` and ``oms quotes``: a running server's API from the command line."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .cli_client import (
    DEFAULT_URL,
    JsonOpt,
    TimeoutOpt,
    TokenOpt,
    UrlOpt,
    UserOpt,
    connected,
    emit,
    moment,
    say,
    table,
    target,
    text,
)
from .client import NotFound, Order, OrderAck
from .domain.lifecycle import OrdStatus
from .domain.values import OrdType, Side, TimeInForce

orders_app = typer.Typer(help="Submit, list, show, replace and cancel orders on a running server.", no_args_is_help=True)

AccountOpt = Annotated[str, typer.Option("--account", "-a", envvar="OMS_ACCOUNT", help="Account to trade")]
PriceOpt = Annotated[Optional[str], typer.Option("--price", "-p", help="Limit price (a decimal)")]  # noqa: UP045
StopOpt = Annotated[Optional[str], typer.Option("--stop-price", help="Stop trigger price (stop, stop_limit)")]  # noqa: UP045
TypeOpt = Annotated[Optional[OrdType], typer.Option(  # noqa: UP045
    "--type", "-t", case_sensitive=False, help="Order type (default limit: a market order must say so)")]
TifOpt = Annotated[Optional[TimeInForce], typer.Option("--tif", case_sensitive=False, help="Time in force (default day)")]  # noqa: UP045
ClOrdIdOpt = Annotated[Optional[str], typer.Option("--cl-ord-id", help="Your id for this request (default: generated)")]  # noqa: UP045
FilterAccount = Annotated[Optional[str], typer.Option("--account", "-a", help="Only this account")]  # noqa: UP045
FilterSymbol = Annotated[Optional[str], typer.Option("--symbol", "-s", help="Only this instrument")]  # noqa: UP045
NUMERIC = frozenset({"qty", "price", "stop", "filled", "leaves", "avg px", "quantity", "avg price", "realized", "unrealized",
                     "mark", "bought", "sold", "fills", "bid", "ask", "last", "bid size", "ask size", "volume", "tick",
                     "lot", "multiplier"})


def order_line(order: Order) -> str:
    price = f" @ {text(order.price)}" if order.price is not None else ""
    stop = f" stop {text(order.stop_price)}" if order.stop_price is not None else ""
    filled = f", filled {text(order.cum_qty)} at {text(order.avg_px)}" if order.cum_qty else ""
    return (f"{order.order_id} {order.status.value}: {order.side.value} {text(order.quantity)} {order.symbol}{price}{stop} "
            f"{order.ord_type.value} {order.tif.value} on {order.account}{filled} (cl_ord_id {order.cl_ord_id})")


def acknowledge(ack: OrderAck, as_json: bool) -> None:
    if as_json:
        emit(ack)
        return
    line = order_line(ack.order)
    # A replace is answered before the venue confirms it: the order still shows its old terms.
    for event in ack.events:
        if event.get("type") == "ReplaceRequested":
            asked = [f"{name} {text(event[name])}" for name in ("quantity", "price", "stop_price") if event.get(name) is not None]
            line += f"; replace to {', '.join(asked)} requested"
    say(line)


def actor_user(actor: object) -> str:
    """The user of a journaled event's actor ([user, channel, session] in the journal's JSON)."""
    if isinstance(actor, list | tuple) and actor:
        return str(actor[0])
    if isinstance(actor, dict):
        return str(actor.get("user", ""))
    return ""


def order_rows(orders: list[Order]) -> list[list[object]]:
    return [[o.order_id, o.status, o.account, o.symbol, o.side, o.quantity, o.ord_type, o.price, o.tif, o.cum_qty,
             o.leaves_qty, o.avg_px if o.cum_qty else None, o.created_at] for o in orders]


ORDER_COLUMNS = ["order", "status", "account", "symbol", "side", "qty", "type", "price", "tif", "filled", "leaves", "avg px",
                 "created"]


@orders_app.command("submit")
def submit(
    side: Annotated[Side, typer.Argument(case_sensitive=False, help="buy, sell, sell_short, sell_short_exempt")],
    quantity: Annotated[str, typer.Argument(help="Quantity (a decimal; face value for bonds)")],
    symbol: Annotated[str, typer.Argument(help="Instrument symbol, e.g. AAPL")],
    account: AccountOpt,
    price: PriceOpt = None,
    ord_type: TypeOpt = None,
    stop_price: StopOpt = None,
    tif: TifOpt = None,
    expire_at: Annotated[Optional[str], typer.Option(help="GTD expiry, ISO 8601 with timezone")] = None,  # noqa: UP045
    cl_ord_id: ClOrdIdOpt = None,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Submit an order, e.g. `oms orders submit buy 100 AAPL --price 230.00 --account ACC-EQ-1`.

    Answered once the order is journaled (pending_new); follow it with `oms orders show`."""
    expiry = moment(expire_at, "--expire-at")
    with connected(target(url, token, user, timeout, as_json)) as client:
        ack = client.submit_order(account, symbol, side, quantity, price=price, ord_type=ord_type, stop_price=stop_price,
                                  tif=tif, expire_at=expiry, cl_ord_id=cl_ord_id)
    acknowledge(ack, as_json)


@orders_app.command("replace")
def replace(
    order_id: Annotated[str, typer.Argument(help="Order id, e.g. O12")],
    quantity: Annotated[Optional[str], typer.Option("--quantity", "-q", help="New total quantity")] = None,  # noqa: UP045
    price: PriceOpt = None,
    stop_price: StopOpt = None,
    cl_ord_id: ClOrdIdOpt = None,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Replace an order's quantity and/or prices (answered pending_replace; the venue confirms)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        ack = client.replace_order(order_id, quantity=quantity, price=price, stop_price=stop_price, cl_ord_id=cl_ord_id)
    acknowledge(ack, as_json)


@orders_app.command("cancel")
def cancel(
    order_id: Annotated[str, typer.Argument(help="Order id, e.g. O12")],
    cl_ord_id: ClOrdIdOpt = None,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Cancel an order (answered pending_cancel; the venue confirms)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        ack = client.cancel_order(order_id, cl_ord_id=cl_ord_id)
    acknowledge(ack, as_json)


@orders_app.command("list")
def list_orders(
    status: Annotated[Optional[OrdStatus], typer.Option(case_sensitive=False, help="Only this status")] = None,  # noqa: UP045
    account: FilterAccount = None,
    symbol: FilterSymbol = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders that can still trade")] = False,
    since: Annotated[Optional[str], typer.Option(help="Created at or after (ISO 8601 with timezone)")] = None,  # noqa: UP045
    until: Annotated[Optional[str], typer.Option(help="Created before (ISO 8601 with timezone)")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first")] = 100,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """The order blotter, newest first."""
    start, end = moment(since, "--since"), moment(until, "--until")
    with connected(target(url, token, user, timeout, as_json)) as client:
        orders = client.list_orders(status=status, account=account, symbol=symbol, since=start, until=end,
                                    open_only=open_only, limit=limit)
    if as_json:
        emit({"orders": orders, "count": len(orders)})
    else:
        table(f"{len(orders)} orders", ORDER_COLUMNS, order_rows(orders), NUMERIC)


@orders_app.command("show")
def show(
    order_id: Annotated[str, typer.Argument(help="Order id, e.g. O12")],
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """One order, its routes and its full event history from the journal (who, when, what)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        detail = client.get_order(order_id)
    if as_json:
        emit(detail)
        return
    order = detail.order
    say(order_line(order))
    if order.text:
        say(f"text: {order.text}")
    if order.routes:
        table("routes", ["route", "venue", "qty", "price", "filled", "venue order", "done"],
              [[r.route_id, r.venue, r.quantity, r.price, r.cum_qty, r.venue_order_id, r.done] for r in order.routes],
              NUMERIC | {"filled"})
    rows = []
    for event in detail.events:
        what = {k: v for k, v in event.items() if k not in {"type", "seq", "ts", "time", "actor", "order_id"} and v not in (None, "", [], {})}
        rows.append([event.get("seq"), event.get("time"), event.get("type"), actor_user(event.get("actor")),
                     ", ".join(f"{k}={text(v)}" for k, v in what.items())])
    table("history", ["seq", "time", "event", "user", "what"], rows, frozenset({"seq"}))


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")

    @app.command()
    def executions(
        account: FilterAccount = None,
        symbol: FilterSymbol = None,
        order_id: Annotated[Optional[str], typer.Option("--order", help="Only this order's fills")] = None,  # noqa: UP045
        limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 100,
        url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Executions (fills), newest first."""
        with connected(target(url, token, user, timeout, as_json)) as client:
            fills = client.list_executions(account=account, symbol=symbol, order_id=order_id, limit=limit)
        if as_json:
            emit({"executions": fills, "count": len(fills)})
            return
        table(f"{len(fills)} executions", ["exec", "order", "account", "symbol", "side", "quantity", "price", "liquidity",
                                           "busted", "time"],
              [[f.exec_id, f.order_id, f.account, f.symbol, f.side, f.quantity, f.price, f.liquidity, "busted" if f.busted else "",
                f.time] for f in fills], NUMERIC)

    @app.command()
    def positions(
        account: FilterAccount = None,
        symbol: FilterSymbol = None,
        url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Positions with average price and realized and unrealized P&L (marked at the last price)."""
        with connected(target(url, token, user, timeout, as_json)) as client:
            rows = client.list_positions(account=account, symbol=symbol)
        if as_json:
            emit({"positions": rows, "count": len(rows)})
            return
        table(f"{len(rows)} positions", ["account", "symbol", "quantity", "avg price", "mark", "realized", "unrealized",
                                         "currency", "bought", "sold", "fills"],
              [[p.account, p.symbol, p.quantity, p.avg_price, p.mark, p.realized_pnl, p.unrealized_pnl, p.currency, p.bought,
                p.sold, p.fills] for p in rows], NUMERIC)

    @app.command()
    def instruments(
        url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Tradable instruments with tick and lot sizes."""
        with connected(target(url, token, user, timeout, as_json)) as client:
            rows = client.instruments()
        if as_json:
            emit({"instruments": rows})
            return
        table(f"{len(rows)} instruments", ["symbol", "description", "class", "currency", "tick", "lot", "multiplier", "venues"],
              [[i.symbol, i.description, i.asset_class, i.currency, i.tick_size, i.lot_size, i.multiplier, ", ".join(i.venues)]
               for i in rows], NUMERIC)

    @app.command()
    def quotes(
        symbols: Annotated[Optional[list[str]], typer.Argument(help="Symbols (default: every instrument)")] = None,  # noqa: UP045
        url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Bid, ask and last of instruments. An unknown symbol is refused; with no symbols given,
        instruments without market data yet are left out."""
        with connected(target(url, token, user, timeout, as_json)) as client:
            named = bool(symbols)
            wanted = symbols if symbols else [i.symbol for i in client.instruments()]
            found = []
            for symbol in wanted:
                try:
                    found.append(client.quote(symbol))
                except NotFound as missing:
                    if named or missing.code != "NO_MARKET_DATA":
                        raise
        if as_json:
            emit({"quotes": found})
            return
        table(f"{len(found)} quotes", ["symbol", "bid size", "bid", "ask", "ask size", "last", "volume", "halted", "time"],
              [[q.symbol, q.bid_size, q.bid, q.ask, q.ask_size, q.last, q.volume, "HALTED" if q.halted else "", q.time]
               for q in found], NUMERIC)
