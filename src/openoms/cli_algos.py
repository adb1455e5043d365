"""``oms algos start|list|show|pause|resume|modify|cancel`` and ``oms staged
stage|list|pick-up|release|cancel``: execution algorithms and staged orders on a running server."""

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
from .cli_trading import NUMERIC, ORDER_COLUMNS, AccountOpt, PriceOpt, StopOpt, TifOpt, TypeOpt, order_line, order_rows
from .client import Algo, StagedOrder
from .domain.values import Side

algos_app = typer.Typer(help="Execution algorithms (TWAP, VWAP, POV, iceberg): start, follow, pause, resume, modify, cancel.",
                        no_args_is_help=True)
staged_app = typer.Typer(help="Staged orders: portfolio managers stage, traders pick up and release.", no_args_is_help=True)

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (journaled)")]


def algo_line(algo: Algo) -> str:
    limit = f" limit {text(algo.limit_price)}" if algo.limit_price is not None else " at market"
    ends = f" until {text(algo.end_at)}" if algo.end_at is not None else ""
    why = f" ({algo.reason})" if algo.reason else ""
    return (f"{algo.algo_id} {algo.status}{why}: {algo.kind} {algo.side.value} {text(algo.quantity)} {algo.symbol}{limit}{ends} "
            f"on {algo.account}; filled {text(algo.filled)}, working {text(algo.working)}, {len(algo.child_ids)} children")


def staged_line(staged: StagedOrder) -> str:
    price = f" @ {text(staged.price)}" if staged.price is not None else ""
    who = f", picked up by {staged.trader}" if staged.trader else ""
    made = f", order {staged.order_id}" if staged.order_id else ""
    return (f"{staged.staged_id} {staged.status}: {staged.side.value} {text(staged.quantity)} {staged.symbol}{price} "
            f"{staged.ord_type.value} on {staged.account}, staged by {staged.staged_by}"
            f"{f' for {staged.for_trader}' if staged.for_trader else ''}{who}{made}")


@algos_app.command("start")
def start(
    kind: Annotated[str, typer.Argument(help="twap, vwap, pov or iceberg")],
    side: Annotated[Side, typer.Argument(case_sensitive=False, help="buy, sell, sell_short, sell_short_exempt")],
    quantity: Annotated[str, typer.Argument(help="Total quantity (a decimal)")],
    symbol: Annotated[str, typer.Argument(help="Instrument symbol, e.g. AAPL")],
    account: AccountOpt,
    limit: Annotated[Optional[str], typer.Option("--limit", help="Limit price of the children (default: market)")] = None,  # noqa: UP045
    start_at: Annotated[Optional[str], typer.Option("--start", help="Start, ISO 8601 with timezone (default now)")] = None,  # noqa: UP045
    end_at: Annotated[Optional[str], typer.Option("--end", help="End, ISO 8601 with timezone (TWAP, VWAP)")] = None,  # noqa: UP045
    interval_s: Annotated[Optional[int], typer.Option("--interval", help="Seconds between slices (TWAP, VWAP)")] = None,  # noqa: UP045
    participation: Annotated[Optional[str], typer.Option("--participation", help="POV: % of the volume")] = None,  # noqa: UP045
    min_pct: Annotated[Optional[str], typer.Option("--min-pct", help="Never below this % of the volume")] = None,  # noqa: UP045
    max_pct: Annotated[Optional[str], typer.Option("--max-pct", help="Never above this % of the volume")] = None,  # noqa: UP045
    display: Annotated[Optional[str], typer.Option("--display", help="Iceberg: quantity shown at a time")] = None,  # noqa: UP045
    route: Annotated[Optional[str], typer.Option("--route", help='"sor" or a venue id (default: the routing rules)')] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Start an algorithm, e.g. `oms algos start twap buy 5000 AAPL --limit 229.50 --end 2026-11-26T16:00:00Z -a ACC-EQ-1`."""
    begins, ends = moment(start_at, "--start"), moment(end_at, "--end")
    with connected(target(url, token, user, timeout, as_json)) as client:
        algo = client.start_algo(account, symbol, side, quantity, kind.lower(), limit_price=limit, start_at=begins, end_at=ends,
                                 interval_s=interval_s, participation_pct=participation, min_participation_pct=min_pct,
                                 max_participation_pct=max_pct, display_qty=display, route=route)
    emit(algo) if as_json else say(algo_line(algo))


@algos_app.command("list")
def list_algos(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
               as_json: JsonOpt = False) -> None:
    """Algorithms, newest first, with their progress."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        rows = client.list_algos()
    if as_json:
        emit({"algos": rows, "count": len(rows)})
        return
    table(f"{len(rows)} algorithms", ["algo", "kind", "status", "account", "symbol", "side", "qty", "filled", "working", "limit",
                                      "end", "children", "reason"],
          [[a.algo_id, a.kind, a.status, a.account, a.symbol, a.side, a.quantity, a.filled, a.working, a.limit_price, a.end_at,
            len(a.child_ids), a.reason] for a in rows], NUMERIC | {"working", "children"})


@algos_app.command("show")
def show(algo_id: Annotated[str, typer.Argument(help="Algorithm id, e.g. OA1")], url: UrlOpt = DEFAULT_URL,
         token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """One algorithm and its children (ordinary orders)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        algo = client.get_algo(algo_id)
    if as_json:
        emit(algo)
        return
    say(algo_line(algo))
    table(f"{len(algo.children)} children", ORDER_COLUMNS, order_rows(algo.children), NUMERIC)


def _act(action: str, algo_id: str, reason: str, url: str, token: str | None, user: str | None, timeout: float,
         as_json: bool) -> None:
    with connected(target(url, token, user, timeout, as_json)) as client:
        algo = {"pause": client.pause_algo, "resume": client.resume_algo, "cancel": client.cancel_algo}[action](algo_id, reason)
    emit(algo) if as_json else say(algo_line(algo))


@algos_app.command("pause")
def pause(algo_id: Annotated[str, typer.Argument(help="Algorithm id")], reason: ReasonOpt = "", url: UrlOpt = DEFAULT_URL,
          token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Pause: no new children; the working ones are canceled."""
    _act("pause", algo_id, reason, url, token, user, timeout, as_json)


@algos_app.command("resume")
def resume(algo_id: Annotated[str, typer.Argument(help="Algorithm id")], reason: ReasonOpt = "", url: UrlOpt = DEFAULT_URL,
           token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Resume a paused algorithm."""
    _act("resume", algo_id, reason, url, token, user, timeout, as_json)


@algos_app.command("cancel")
def cancel(algo_id: Annotated[str, typer.Argument(help="Algorithm id")], reason: ReasonOpt = "", url: UrlOpt = DEFAULT_URL,
           token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """End the algorithm and cancel every working child."""
    _act("cancel", algo_id, reason, url, token, user, timeout, as_json)


@algos_app.command("modify")
def modify(
    algo_id: Annotated[str, typer.Argument(help="Algorithm id")],
    quantity: Annotated[Optional[str], typer.Option("--quantity", "-q", help="New total quantity")] = None,  # noqa: UP045
    limit: Annotated[Optional[str], typer.Option("--limit", help="New limit price")] = None,  # noqa: UP045
    end_at: Annotated[Optional[str], typer.Option("--end", help="New end, ISO 8601 with timezone")] = None,  # noqa: UP045
    participation: Annotated[Optional[str], typer.Option("--participation", help="New POV %")] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """New quantity, limit, end or participation: working children are canceled and re-sliced."""
    ends = moment(end_at, "--end")
    with connected(target(url, token, user, timeout, as_json)) as client:
        algo = client.modify_algo(algo_id, quantity=quantity, limit_price=limit, end_at=ends, participation_pct=participation)
    emit(algo) if as_json else say(algo_line(algo))


@staged_app.command("stage")
def stage(
    side: Annotated[Side, typer.Argument(case_sensitive=False, help="buy, sell, sell_short, sell_short_exempt")],
    quantity: Annotated[str, typer.Argument(help="Quantity (a decimal)")],
    symbol: Annotated[str, typer.Argument(help="Instrument symbol")],
    account: AccountOpt,
    price: PriceOpt = None,
    ord_type: TypeOpt = None,
    stop_price: StopOpt = None,
    tif: TifOpt = None,
    for_trader: Annotated[Optional[str], typer.Option("--for", help="Only this trader may pick it up")] = None,  # noqa: UP045
    note: Annotated[Optional[str], typer.Option("--note", help="A word for the trader")] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Stage an order for a trader (portfolio manager), e.g. `oms staged stage buy 300 MSFT -p 415.00 -a ACC-EQ-1 --for alice`."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        staged = client.stage_order(account, symbol, side, quantity, price=price, ord_type=ord_type, stop_price=stop_price,
                                    tif=tif, for_trader=for_trader, note=note)
    emit(staged) if as_json else say(staged_line(staged))


@staged_app.command("list")
def list_staged(
    include_done: Annotated[bool, typer.Option("--all", help="Released and canceled ones too")] = False,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Staged orders of the accounts you see, newest first (open ones unless --all)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        rows = client.list_staged(include_done=include_done)
    if as_json:
        emit({"staged": rows, "count": len(rows)})
        return
    table(f"{len(rows)} staged orders", ["staged", "status", "account", "symbol", "side", "qty", "type", "price", "by", "for",
                                         "trader", "order", "note"],
          [[s.staged_id, s.status, s.account, s.symbol, s.side, s.quantity, s.ord_type, s.price, s.staged_by, s.for_trader,
            s.trader, s.order_id, s.note] for s in rows], NUMERIC)


@staged_app.command("pick-up")
def pick_up(staged_id: Annotated[str, typer.Argument(help="Staged order id, e.g. STG-3")], url: UrlOpt = DEFAULT_URL,
            token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Take a staged order to work it (trader)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        staged = client.pick_up_staged(staged_id)
    emit(staged) if as_json else say(staged_line(staged))


@staged_app.command("release")
def release(
    staged_id: Annotated[str, typer.Argument(help="Staged order id")],
    route: Annotated[Optional[str], typer.Option("--route", help='"sor" or a venue id (default: the routing rules)')] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Send a staged order you picked up to the market: an ordinary order, through every check."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        released = client.release_staged(staged_id, route=route)
    if as_json:
        emit(released)
        return
    say(staged_line(released.staged))
    say(order_line(released.order))


@staged_app.command("cancel")
def withdraw(staged_id: Annotated[str, typer.Argument(help="Staged order id")], reason: ReasonOpt = "",
             url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0,
             as_json: JsonOpt = False) -> None:
    """Withdraw a staged order that is not released yet (portfolio manager)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        staged = client.cancel_staged(staged_id, reason=reason or None)
    emit(staged) if as_json else say(staged_line(staged))


def register(app: typer.Typer) -> None:
    app.add_typer(algos_app, name="algos")
    app.add_typer(staged_app, name="staged")
