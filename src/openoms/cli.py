"""The ``oms`` command: serve, audit verify, version."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .config import DURABILITY_CHOICES, ConfigError, load

app = typer.Typer(help="OpenOMS: an open-source order management system.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="Audit the journal.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (env OMS_HOST; default 127.0.0.1)")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="HTTP port (env OMS_PORT; default 8000)")] = None,  # noqa: UP045
    data_dir: Annotated[Optional[Path], typer.Option(help="Where the journal lives (env OMS_DATA_DIR; default ./oms-data)")] = None,  # noqa: UP045
    config: Annotated[Optional[Path], typer.Option(help="TOML config file (env OMS_CONFIG)")] = None,  # noqa: UP045
    durability: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help=f"Journal durability: {' | '.join(DURABILITY_CHOICES)} (env OMS_DURABILITY; default group)"),
    ] = None,
    market_data: Annotated[
        Optional[bool], typer.Option("--market-data/--no-market-data", help="Run the market data simulator")  # noqa: UP045
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning, error (env OMS_LOG_LEVEL)")] = None,  # noqa: UP045
) -> None:
    """Start the engine, the SQLite journal, the simulated exchange with market data, and the HTTP API.

    Settings come from flags, then OMS_* environment variables, then the --config TOML file, then
    defaults. Ctrl-C or SIGTERM stops cleanly: queued commands are journaled first.
    """
    try:
        cfg = load(config, overrides={"host": host, "port": port, "data_dir": data_dir, "durability": durability,
                                      "market_data": market_data, "log_level": log_level})
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import uvicorn

    from .api.rest import create_app
    from .bootstrap import build
    from .journal.sqlite import JournalError
    from .risk.limits import LimitError
    from .service.runtime import JournalCorrupt

    try:
        oms = build(cfg)
        oms.recover()
    except (JournalError, JournalCorrupt) as exc:
        console.print(f"[red]journal problem, not starting:[/red] {exc}")
        raise typer.Exit(1) from None
    except LimitError as exc:
        console.print(f"[red]limits problem, not starting:[/red] {exc}")
        raise typer.Exit(2) from None
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    from .api.fix_acceptor import unavailable_port

    problem = unavailable_port(cfg)
    if problem is not None:
        console.print(f"[red]{problem}[/red] (set fix_port / OMS_FIX_PORT, or OMS_FIX_ENABLED=false)")
        raise typer.Exit(1)
    oms.serve_fix = True  # the FIX acceptor (config fix_enabled, on by default)
    api = create_app(oms, manage_lifecycle=True)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler
    # that was installed before it; a no-op handler there lets a clean shutdown exit with status 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(api, host=cfg.host, port=cfg.port, log_level=cfg.log_level.lower(), access_log=cfg.access_log)


@audit_app.command("verify")
def audit_verify(
    journal: Annotated[Optional[Path], typer.Option(help="Journal file (default: <data-dir>/journal.sqlite)")] = None,  # noqa: UP045
    data_dir: Annotated[Optional[Path], typer.Option(help="Data directory (env OMS_DATA_DIR)")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check the journal's hash chain end to end; name the first bad event. Works on a copy too."""
    from .journal.chain import verify
    from .journal.sqlite import JournalError, open_readonly_records

    path = journal or load(overrides={"data_dir": data_dir}).journal_path
    try:
        report = verify(open_readonly_records(path))
    except JournalError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"ok": report.ok, "checked": report.checked, "last_good_seq": report.last_seq,
                          "first_bad_seq": report.first_bad_seq, "problem": report.problem}))
    elif report.ok:
        print(f"journal {path}: OK, {report.checked} events, hash chain intact (last seq {report.last_seq})")
    else:
        print(f"journal {path}: TAMPERED or CORRUPT at seq {report.first_bad_seq}: {report.problem} "
              f"({report.checked} events verified before it)")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
