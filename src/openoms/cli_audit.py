"""``oms audit order|orders|actions|controls`` and ``oms export cat|mifid``: read the journal directly
(the SQLite file, or the PostgreSQL journal with ``--database-url`` / ``OMS_DATABASE_URL``).

They need no running server: they open the journal read-only (beside a running server, or a
copy handed to an auditor), scan it once to build the audit index (about a second per million
events, with a progress bar), then read what the answer needs by seq. The running server
answers the same questions over REST from an index it keeps current (``/api/v1/audit/...``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import ConfigError, load

console = Console(stderr=True)
out = Console()

JournalOpt = Annotated[Optional[Path], typer.Option(help="Journal file (default: <data-dir>/journal.sqlite)")]  # noqa: UP045
DataDirOpt = Annotated[Optional[Path], typer.Option(help="Data directory (env OMS_DATA_DIR)")]  # noqa: UP045
DatabaseUrlOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="The PostgreSQL journal, postgresql://... (env OMS_DATABASE_URL); --journal names a SQLite file instead")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the REST API's answer) instead of a table")]
SinceOpt = Annotated[Optional[str], typer.Option(help="From this time on (ISO 8601 with timezone, e.g. 2026-11-26T00:00:00Z)")]  # noqa: UP045
UntilOpt = Annotated[Optional[str], typer.Option(help="Before this time (ISO 8601 with timezone)")]  # noqa: UP045
LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many rows")]
DateOpt = Annotated[str, typer.Option("--date", help="Trading day, YYYY-MM-DD (UTC)")]
OutOpt = Annotated[Path, typer.Option("--out", help="File to write (replaced whole, or left untouched on error)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def journal_location(journal: Path | None, data_dir: Path | None, database_url: str | None = None) -> Path | str:
    """A SQLite file (--journal, or the data dir's), or a PostgreSQL URL (--database-url, OMS_DATABASE_URL)."""
    if journal is not None:
        return journal
    try:
        cfg = load(overrides={"data_dir": data_dir, "database_url": database_url})
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}") from None
    return cfg.database_url or cfg.journal_path


@contextmanager
def open_journal(journal: Path | None, data_dir: Path | None, database_url: str | None = None) -> Iterator[Any]:
    """The journal, read-only; every read failure becomes a one-line error, never a traceback."""
    from .journal.sqlite import JournalError, SqliteJournal

    path = journal_location(journal, data_dir, database_url)
    try:
        if isinstance(path, str):
            from .journal.postgres import PostgresReader

            handle: Any = PostgresReader(path)
        else:
            handle = SqliteJournal(path, readonly=True)
    except JournalError as exc:
        raise fail(str(exc)) from None
    try:
        yield handle
    except JournalError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # sqlite3 errors surface from the read cursors
        if type(exc).__module__ == "sqlite3":
            raise fail(f"cannot read journal {path}: {exc}") from None
        raise
    finally:
        handle.close()


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=max(total, 1))
        yield lambda done: progress.update(task, completed=done)


def parse_time(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--{name}: not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise fail(f"--{name} needs a timezone (for example 2026-11-26T21:00:00Z)")
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def indexed(journal: Any) -> Any:
    from .audit.queries import AuditQueries, scan

    with progress_bar("reading the journal", journal.count()) as advance:
        index = scan(journal, advance)
    return AuditQueries(journal, index)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    export_app = typer.Typer(help="Regulatory exports of one trading day, generated from the journal.", no_args_is_help=True)
    app.add_typer(export_app, name="export")

    @audit_app.command("order")
    def audit_order(order_id: str, journal: JournalOpt = None, data_dir: DataDirOpt = None,
                     database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
        """Reconstruct one order: every event, who and from where, when, state before and after, market price."""
        from .domain.ids import OrderId

        with open_journal(journal, data_dir, database_url) as handle:
            history = indexed(handle).order(OrderId(order_id))
        if history is None:
            raise fail(f"unknown order {order_id!r}: the journal has no such order", 1)
        if as_json:
            print_json(history)
            return
        render_history(history)

    @audit_app.command("orders")
    def audit_orders(trader: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP045
                     account: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP045
                     symbol: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP045
                     since: SinceOpt = None, until: UntilOpt = None, limit: LimitOpt = 1000,
                     journal: JournalOpt = None, data_dir: DataDirOpt = None,
                     database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
        """Orders accepted in a time window for a trader, account and/or instrument."""
        start, end = parse_time(since, "since"), parse_time(until, "until")
        with open_journal(journal, data_dir, database_url) as handle:
            result = indexed(handle).orders(account, trader, symbol, start, end, limit)
        if as_json:
            print_json(result)
            return
        table = Table(title=f"{result['matched']} orders" + (f" (first {limit})" if result["truncated"] else ""))
        for column in ("order", "accepted (UTC)", "account", "trader", "symbol", "side", "quantity", "price", "status", "entered by"):
            table.add_column(column)
        for row in result["orders"]:
            who = row["entered_by"]
            table.add_row(row["order_id"], row["accepted_at"], row["account"], row["trader"], row["symbol"], row["side"],
                          row["quantity"], row["price"] or "market", row["status"] or "", f"{who['user']} ({who['channel']})")
        out.print(table)

    @audit_app.command("actions")
    def audit_actions(user: Annotated[str, typer.Option(help="The user (X-OMS-User, FIX sender...)")],
                      since: SinceOpt = None, until: UntilOpt = None, limit: LimitOpt = 1000,
                      journal: JournalOpt = None, data_dir: DataDirOpt = None,
                     database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
        """Everything a user did: orders, replaces, cancels, refusals, limit and kill-switch changes."""
        start, end = parse_time(since, "since"), parse_time(until, "until")
        with open_journal(journal, data_dir, database_url) as handle:
            result = indexed(handle).actions(user, start, end, limit)
        if as_json:
            print_json(result)
            return
        render_events(f"{result['matched']} events by {user}", result)

    @audit_app.command("controls")
    def audit_controls(since: SinceOpt = None, until: UntilOpt = None, limit: LimitOpt = 1000,
                       journal: JournalOpt = None, data_dir: DataDirOpt = None,
                     database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
        """Limit and restricted-list changes, kill switches engaged and released, refused attempts at them."""
        start, end = parse_time(since, "since"), parse_time(until, "until")
        with open_journal(journal, data_dir, database_url) as handle:
            result = indexed(handle).controls(start, end, limit)
        if as_json:
            print_json(result)
            return
        render_events(f"{result['matched']} risk-control events", result)

    def export(kind: str, day: str, out_file: Path, journal: Path | None, data_dir: Path | None, database_url: str | None) -> None:
        from .demo import demo_reference
        from .exports.day import ExportError
        from .exports.run import export_day

        with open_journal(journal, data_dir, database_url) as handle:
            try:
                with progress_bar(f"{kind} export of {day}", handle.count()) as advance:
                    count = export_day(handle, day, kind, out_file, demo_reference(), advance)
            except (ExportError, OSError) as exc:
                raise fail(str(exc)) from None
        console.print(f"{kind} export of {day}: {count} records written to {out_file}")

    @export_app.command("cat")
    def export_cat(day: DateOpt, out_file: OutOpt, journal: JournalOpt = None, data_dir: DataDirOpt = None,
                   database_url: DatabaseUrlOpt = None) -> None:
        """CAT-style order lifecycle events as JSON lines (docs/exports.md)."""
        export("cat", day, out_file, journal, data_dir, database_url)

    @export_app.command("mifid")
    def export_mifid(day: DateOpt, out_file: OutOpt, journal: JournalOpt = None, data_dir: DataDirOpt = None,
                     database_url: DatabaseUrlOpt = None) -> None:
        """MiFID II-style order record as CSV (docs/exports.md)."""
        export("mifid", day, out_file, journal, data_dir, database_url)


def _who(actor: dict[str, str]) -> str:
    return f"{actor['user']} ({actor['channel']}{' ' + actor['address'] if actor['address'] else ''})"


def render_history(history: dict[str, Any]) -> None:
    order = history["order"]
    out.print(f"[bold]{order['order_id']}[/bold] {order['side']} {order['quantity']} {order['symbol']} "
              f"@ {order['price'] or 'market'}  account {order['account']}, trader {order['trader']}: "
              f"[bold]{order['status']}[/bold], filled {order['cum_qty']} at {order['avg_px']}")
    table = Table(show_lines=False)
    for column in ("seq", "time (UTC)", "event", "who (channel address)", "status before → after", "qty / cum / leaves",
                   "market price (source)"):
        table.add_column(column)
    for entry in history["events"]:
        before, after, market = entry["before"], entry["after"], entry["market"]
        status = f"{before['status'] if before else '—'} → {after['status']}"
        market_text = f"{market['price']} ({market['source']})" if market else "—"
        table.add_row(str(entry["seq"]), entry["time"], entry["type"], _who(entry["actor"]), status,
                      f"{after['quantity']} / {after['cum_qty']} / {after['leaves_qty']}", market_text)
    out.print(table)
    if order["executions"]:
        fills = Table(title="executions")
        for column in ("exec id", "route", "quantity", "price", "busted", "time (UTC)"):
            fills.add_column(column)
        for e in order["executions"]:
            fills.add_row(e["exec_id"], e["route_id"], e["quantity"], e["price"], "yes" if e["busted"] else "", e["time"])
        out.print(fills)


def render_events(title: str, result: dict[str, Any]) -> None:
    table = Table(title=title + (" (truncated)" if result["truncated"] else ""))
    for column in ("seq", "time (UTC)", "event", "who (channel address)", "order", "detail"):
        table.add_column(column)
    for row in result["events"]:
        detail = ", ".join(f"{k}={json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in row["detail"].items())
        table.add_row(str(row["seq"]), row["time"], row["type"], _who(row["actor"]), row["order_id"] or "", detail)
    out.print(table)
