"""``oms posttrade eod``: end-of-day statements and exports, from the journal file (no server needed).

It replays the journal into an engine carrying the post-trade book (a progress bar on a terminal),
then writes, for the day: the positions and P&L statement (CSV and JSON), the trade blotter (CSV),
the settlement instructions (CSV, and one sese.023 XML each), the fails report (CSV) and the
allocations as FIX AllocationInstruction messages. The running server answers the same over REST.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .cli_audit import DatabaseUrlOpt, DataDirOpt, JournalOpt, console, fail, open_journal, progress_bar
from .config import ConfigError, load

if TYPE_CHECKING:
    from .posttrade.book import PostTradeBook
    from .posttrade.setup_file import PostTradeSetup

MarksOpt = Annotated[Optional[Path], typer.Option(help="Marks file, CSV symbol,price (default: each instrument's last trade price)")]  # noqa: UP045


def register(app: typer.Typer) -> None:
    posttrade_app = typer.Typer(help="Post-trade: end-of-day statements and exports.", no_args_is_help=True)
    app.add_typer(posttrade_app, name="posttrade")

    @posttrade_app.command("eod")
    def eod(
        day: Annotated[str, typer.Option("--date", help="Trading day, YYYY-MM-DD (UTC)")],
        out_dir: Annotated[Path, typer.Option("--out-dir", help="Directory for the statement files")],
        marks: MarksOpt = None,
        journal: JournalOpt = None,
        data_dir: DataDirOpt = None,
        database_url: DatabaseUrlOpt = None,
    ) -> None:
        """Positions and P&L statements, trade blotter, settlement and fails reports for one day."""
        from .posttrade import reports
        from .posttrade import setup_file as posttrade_file
        from .posttrade.fix_alloc import allocation_instruction
        from .posttrade.sese023 import sese023
        from .risk import limits_file
        from .risk.fx import FxRates

        try:
            as_of = date.fromisoformat(day)
        except ValueError:
            raise fail(f"--date: not a date (YYYY-MM-DD): {day!r}") from None
        try:
            config = load(overrides={"data_dir": data_dir})
            setup = posttrade_file.load(config.posttrade_file) if config.posttrade_file else posttrade_file.demo()
            limits = limits_file.load(config.limits_file) if config.limits_file else limits_file.DEMO_LIMITS
        except (ConfigError, posttrade_file.PostTradeFileError, ValueError) as exc:
            raise fail(f"configuration error: {exc}") from None
        given_marks = read_marks(marks) if marks is not None else None
        book = replayed_book(setup, journal, data_dir, database_url)
        last: dict[str, Decimal] = {}
        for trade in book.trades.values():
            if trade.status != "busted":
                last[trade.symbol] = trade.price
        prices = given_marks if given_marks is not None else last
        fx = FxRates(limits.fx_rates)
        mark = reports.marks_from(prices)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"statement-{day}.json").write_text(reports.to_json(reports.statement(book, mark, fx, day)))
        (out_dir / f"positions-{day}.csv").write_text(reports.to_csv(reports.positions(book, mark, fx)))
        (out_dir / f"blotter-{day}.csv").write_text(reports.to_csv(reports.blotter(book, day)))
        rows = [reports.instruction_row(s) for s in book.instructions.values()]
        (out_dir / f"settlement-{day}.csv").write_text(reports.to_csv(rows))
        (out_dir / f"fails-{day}.csv").write_text(reports.to_csv(reports.fails(book, as_of)))
        xml_dir = out_dir / f"sese023-{day}"
        xml_dir.mkdir(exist_ok=True)
        for state in book.instructions.values():
            (xml_dir / f"{state.instruction.instruction_id}.xml").write_bytes(sese023(state.instruction))
        messages = [allocation_instruction(a, "OPENOMS", "BROKER", n, a.booked.ts)
                    for n, a in enumerate(book.allocations.values(), 1)]
        (out_dir / f"allocations-{day}.fix").write_bytes(b"".join(m + b"\n" for m in messages))
        console.print(f"{len(book.trades)} trades, {len(book.ledgers)} positions, {len(book.allocations)} allocations, "
                      f"{len(book.instructions)} settlement instructions -> {out_dir}")


    @posttrade_app.command("reconcile")
    def reconcile(
        positions_file: Annotated[Path, typer.Argument(help="External positions, CSV account,symbol,quantity")],
        journal: JournalOpt = None,
        data_dir: DataDirOpt = None,
        database_url: DatabaseUrlOpt = None,
    ) -> None:
        """Compare the journal's positions with an external position file; exit 1 when there are breaks."""
        from .posttrade import reports
        from .posttrade import setup_file as posttrade_file

        try:
            external = reports.parse_position_rows(positions_file.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"{positions_file}: {exc}") from None
        breaks = reports.reconcile(replayed_book(posttrade_file.demo(), journal, data_dir, database_url), [(a, s, q) for a, s, q, _ in external])
        print(reports.to_csv(breaks, ["account", "symbol", "ours", "theirs", "difference", "kind"]), end="")
        if breaks:
            raise typer.Exit(1)


def replayed_book(setup: PostTradeSetup, journal: Path | None, data_dir: Path | None,
                  database_url: str | None = None) -> PostTradeBook:
    """The post-trade book as the journal file leaves it (a progress bar while it is read)."""
    from .demo import demo_reference
    from .domain.engine import OrderEngine
    from .posttrade.book import PostTradeBook

    reference = demo_reference()
    engine = OrderEngine(reference)
    book = PostTradeBook(reference, engine.orders, setup.calendars)
    engine.extend(book)
    with open_journal(journal, data_dir, database_url) as handle, progress_bar("replaying the journal", handle.count()) as advance:
        for count, event in enumerate(handle.events(), 1):
            engine.apply(event)
            if count % 10_000 == 0:
                advance(count)
    return book


def read_marks(path: Path) -> dict[str, Decimal]:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise fail(f"cannot read marks file {path}: {exc}") from None
    marks = {}
    for number, row in enumerate(rows, 2):
        try:
            marks[row["symbol"]] = Decimal(row["price"])
        except (KeyError, TypeError, InvalidOperation):
            raise fail(f"{path} line {number}: needs symbol and a decimal price") from None
    return marks
