"""``oms risk limits|usage|what-if|kill|release``: pre-trade risk of a running server."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional

import msgspec
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
    fail_input,
    say,
    table,
    target,
    text,
)
from .cli_trading import PriceOpt, StopOpt, TifOpt, TypeOpt
from .client import NewOrder, OmsInputError, new_order
from .client.models import Check, LimitUse
from .domain.values import Side

risk_app = typer.Typer(help="Pre-trade risk: limits, usage, what-if, kill switches.", no_args_is_help=True)
ScopeArg = Annotated[str, typer.Argument(help="firm:DEMO, desk:EQUITIES, trader:alice, account:ACC-EQ-1 or instrument:AAPL")]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (journaled with your name)")]
NUMERIC = frozenset({"used", "limit", "used %", "position", "working buys", "working sells"})


@risk_app.command("limits")
def limits(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Limits in force per scope, overrides, restricted and watch lists, kill switches."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        answer = client.risk_limits()
    if as_json:
        emit(answer)
        return
    rows: list[list[object]] = [[scope, name, value] for scope, values in answer.limits.items() for name, value in values.items()]
    rows += [[scope, f"{name} (override until {text(o.expires_at)})", value]
             for scope, o in answer.overrides.items() for name, value in o.limits.items()]
    table("limits", ["scope", "limit", "value"], rows)
    lists: list[list[object]] = [[scope, "restricted", ", ".join(symbols)] for scope, symbols in answer.restricted.items()]
    lists += [[scope, "watch", ", ".join(symbols)] for scope, symbols in answer.watch.items()]
    if lists:
        table("lists", ["scope", "list", "symbols"], lists)
    switches = ", ".join(f"{scope} ({reason})" for scope, reason in answer.kill_switches.items())
    say(f"kill switches: {switches or 'none'}")


def use_row(name: str, use: LimitUse | None) -> list[object] | None:
    if use is None:
        return None
    return [name, use.used, use.limit, use.used_pct, use.scope]


@risk_app.command("usage")
def usage(
    account: Annotated[Optional[str], typer.Option("--account", "-a", help="Only this account")] = None,  # noqa: UP045
    symbol: Annotated[Optional[str], typer.Option("--symbol", "-s", help="Only this instrument")] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """How much of each limit is used: per account, and per account and instrument."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        answer = client.risk_usage(account=account, symbol=symbol)
    if as_json:
        emit(answer)
        return
    for row in answer.accounts:
        ratio = row.order_to_trade
        lines = [use_row(name, use) for name, use in (("credit", row.credit_limit), ("gross exposure", row.max_gross_exposure),
                                                      ("net exposure", row.max_net_exposure), ("daily loss", row.max_daily_loss))]
        lines.append([f"order-to-trade ({ratio.messages} messages, {ratio.fills} fills)", ratio.used, ratio.limit, ratio.used_pct,
                      ratio.scope])
        table(f"{row.account} ({row.currency})", ["measure", "used", "limit", "used %", "scope"],
              [line for line in lines if line is not None], NUMERIC)
        if row.unavailable:
            say(f"  not computed: {row.unavailable}")
    if answer.usage:
        table("positions against limits", ["account", "symbol", "position", "working buys", "working sells", "long", "short"],
              [[u.account, u.symbol, u.position, u.working_buys, u.working_sells, bound(u.long), bound(u.short)]
               for u in answer.usage], NUMERIC)


def bound(use: LimitUse | None) -> str:
    return "" if use is None else f"{text(use.used)} / {text(use.limit)} ({text(use.used_pct)} %)"


def check_rows(checks: list[Check]) -> list[list[object]]:
    return [[c.check, "pass" if c.passed else "FAIL", c.code, c.message] for c in checks]


def read_basket(path: Path) -> list[NewOrder]:
    """Orders from a JSON file (``-``: stdin): a list of order objects, or ``{"orders": [...]}``."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        data: Any = msgspec.json.Decoder(Any, float_hook=Decimal).decode(raw)
    except OSError as exc:
        raise fail_input(f"cannot read basket {path}: {exc.strerror or exc}") from None
    except msgspec.DecodeError as exc:
        raise fail_input(f"basket {path} is not JSON: {exc}") from None
    items = data.get("orders") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise fail_input(f"basket {path} must be a non-empty list of orders, or {{\"orders\": [...]}}")
    orders = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise fail_input(f"basket order {index} is not an object")
        try:
            orders.append(new_order(**item))
        except TypeError as exc:
            raise fail_input(f"basket order {index}: {exc}".replace("new_order() ", "")) from None
        except OmsInputError as exc:
            raise fail_input(f"basket order {index}: {exc}") from None
    return orders


@risk_app.command("what-if")
def what_if(
    side: Annotated[Optional[Side], typer.Argument(case_sensitive=False, help="buy, sell, sell_short...")] = None,  # noqa: UP045
    quantity: Annotated[Optional[str], typer.Argument(help="Quantity")] = None,  # noqa: UP045
    symbol: Annotated[Optional[str], typer.Argument(help="Instrument")] = None,  # noqa: UP045
    account: Annotated[Optional[str], typer.Option("--account", "-a", envvar="OMS_ACCOUNT", help="Account")] = None,  # noqa: UP045
    price: PriceOpt = None,
    ord_type: TypeOpt = None,
    stop_price: StopOpt = None,
    tif: TifOpt = None,
    basket: Annotated[Optional[Path], typer.Option(help="JSON file of orders (- for stdin) instead of one order")] = None,  # noqa: UP045
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Run an order (or a --basket) through every pre-trade check; nothing is journaled or sent.

    Exit 0 when it would be accepted, 1 when it would be refused."""
    if basket is not None:
        if side or quantity or symbol:
            raise fail_input("give either one order (SIDE QUANTITY SYMBOL) or --basket, not both")
        orders = read_basket(basket)
        with connected(target(url, token, user, timeout, as_json)) as client:
            answer = client.what_if_basket(orders)
        if as_json:
            emit(answer)
        else:
            for result in answer.orders:
                verdict = "would be accepted" if result.would_be_accepted else "WOULD BE REFUSED"
                failed = [c for c in result.checks if not c.passed]
                say(f"#{result.index} {result.side.value} {text(result.quantity)} {result.symbol} on {result.account}: {verdict}"
                    + "".join(f"; {c.code}: {c.message}" for c in failed))
            table("basket buys against credit", ["account", "used", "basket buys", "projected", "limit", "fits"],
                  [[name, c.used, c.basket_buys, c.projected, c.limit, "yes" if c.fits else f"NO {c.problem or ''}"]
                   for name, c in answer.credit.items()], frozenset({"used", "basket buys", "projected", "limit"}))
            say("basket: " + ("would be accepted" if answer.would_be_accepted else "WOULD BE REFUSED"))
        raise typer.Exit(0 if answer.would_be_accepted else 1)
    if side is None or quantity is None or symbol is None or account is None:
        raise fail_input("what-if needs SIDE QUANTITY SYMBOL and --account (or --basket FILE)")
    with connected(target(url, token, user, timeout, as_json)) as client:
        single = client.what_if(account, symbol, side, quantity, price=price, ord_type=ord_type, stop_price=stop_price, tif=tif)
    if as_json:
        emit(single)
    else:
        table("checks", ["check", "result", "code", "message"], check_rows(list(single.checks)))
        say("would be accepted" if single.would_be_accepted else "WOULD BE REFUSED")
    raise typer.Exit(0 if single.would_be_accepted else 1)


@risk_app.command("kill")
def kill(
    scope: ScopeArg,
    reason: ReasonOpt,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Engage a kill switch: cancel every working order in scope and refuse new ones (risk-reducing ones pass)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        answer = client.engage_kill_switch(scope, reason)
    if as_json:
        emit(answer)
    else:
        canceling = f"; canceling {', '.join(answer.canceling)}" if answer.canceling else "; no working orders to cancel"
        say(f"kill switch engaged on {answer.scope}{canceling}")


@risk_app.command("release")
def release(
    scope: ScopeArg,
    reason: ReasonOpt,
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, user: UserOpt = None, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False,
) -> None:
    """Release a kill switch (risk officer)."""
    with connected(target(url, token, user, timeout, as_json)) as client:
        answer = client.release_kill_switch(scope, reason)
    if as_json:
        emit(answer)
    else:
        say(f"kill switch released on {answer.scope}")


def register(app: typer.Typer) -> None:
    app.add_typer(risk_app, name="risk")
