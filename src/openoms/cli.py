"""The ``oms`` command: serve, audit verify, version."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__, cli_algos, cli_audit, cli_client, cli_posttrade, cli_risk, cli_status, cli_trading
from .config import DURABILITY_CHOICES, ConfigError, load

app = typer.Typer(help="OpenOMS: an open-source order management system.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="Audit the journal.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)
db_app = typer.Typer(help="The PostgreSQL journal's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
from .cli_users import users_app  # noqa: E402 - with the other sub-commands

app.add_typer(users_app, name="users")
DATABASE_URL_HELP = "PostgreSQL journal, postgresql://... (env OMS_DATABASE_URL; default: SQLite in the data dir)"


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (env OMS_HOST; default 127.0.0.1)")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="HTTP port (env OMS_PORT; default 8000)")] = None,  # noqa: UP045
    data_dir: Annotated[Optional[Path], typer.Option(help="Where the journal lives (env OMS_DATA_DIR; default ./oms-data)")] = None,  # noqa: UP045
    config: Annotated[Optional[Path], typer.Option(help="TOML config file (env OMS_CONFIG)")] = None,  # noqa: UP045
    database_url: Annotated[Optional[str], typer.Option(help=DATABASE_URL_HELP)] = None,  # noqa: UP045
    durability: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help=f"Journal durability: {' | '.join(DURABILITY_CHOICES)} (env OMS_DURABILITY; default group)"),
    ] = None,
    market_data: Annotated[
        Optional[bool], typer.Option("--market-data/--no-market-data", help="Run the market data simulator")  # noqa: UP045
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning, error (env OMS_LOG_LEVEL)")] = None,  # noqa: UP045
    log_format: Annotated[
        Optional[str], typer.Option(help="text, or json: one JSON object per line with order ids (env OMS_LOG_FORMAT)")  # noqa: UP045
    ] = None,
    role: Annotated[str, typer.Option(help="single (everything in one process), or a cluster role: engine, gateway, projector")] = "single",
    shard: Annotated[Optional[str], typer.Option(help="--role engine: this shard and the number of shards, N/M")] = None,  # noqa: UP045
    shards: Annotated[Optional[int], typer.Option(help="--role gateway: the number of engine shards, M")] = None,  # noqa: UP045
    nats_url: Annotated[Optional[str], typer.Option(help="Cluster roles: NATS server with JetStream (env OMS_NATS_URL)")] = None,  # noqa: UP045
    prefix: Annotated[str, typer.Option(help="Cluster roles: stream and subject prefix shared by the cluster")] = "oms",
    read_models: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Gateway and projector: the read models, a SQLite file or a postgresql:// URL "
                          "(default <data-dir>/read_models.sqlite)"),
    ] = None,
    projector_name: Annotated[str, typer.Option(help="--role projector: its name in logs and on the NATS server")] = "projector",
    answer_timeout: Annotated[float, typer.Option(help="--role gateway: seconds to wait for a shard's answer (then 504)")] = 10.0,
) -> None:
    """Start the engine, the journal (SQLite, or PostgreSQL with --database-url), the simulated exchange with market data, and the HTTP API.

    With --role, one process of a cluster on NATS JetStream instead: an engine shard (--shard N/M,
    its own journal), a gateway (--shards M: the HTTP API and, with [[fix.sessions]], FIX;
    commands to the owning shards), or the projector (read models the gateways serve). Settings come from flags, then OMS_* environment
    variables, then the --config TOML file, then defaults. Ctrl-C or SIGTERM stops cleanly:
    queued commands are journaled first.
    """
    from . import cli_cluster
    from .cluster.partition import ShardError, parse_shard

    try:
        cfg = load(config, overrides={"host": host, "port": port, "data_dir": data_dir, "database_url": database_url,
                                      "durability": durability, "market_data": market_data, "log_level": log_level,
                                      "log_format": log_format, "nats_url": nats_url})
        if role not in cli_cluster.ROLES:
            raise ConfigError(f"--role must be one of {', '.join(cli_cluster.ROLES)}, got {role!r}")
        if role != "single" and not cfg.nats_url:
            raise ConfigError(f"--role {role} needs --nats-url or OMS_NATS_URL")
        if role == "engine" and shard is None:
            raise ConfigError("--role engine needs --shard N/M")
        if role == "gateway" and (shards is None or shards < 1):
            raise ConfigError("--role gateway needs --shards M (M >= 1)")
        number, total = parse_shard(shard) if role == "engine" and shard is not None else (0, 1)
    except (ConfigError, ShardError) as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    from .ops.logs import configure_logging

    configure_logging(cfg.log_level, cfg.log_format)
    if role == "engine":
        raise typer.Exit(cli_cluster.run_engine(cfg, number, total, prefix))
    if role == "projector":
        raise typer.Exit(cli_cluster.run_projector(cfg, prefix, cli_cluster.read_models_path(cfg, read_models), projector_name))
    if role == "gateway":
        assert shards is not None
        raise typer.Exit(cli_cluster.run_gateway(cfg, shards, prefix, cli_cluster.read_models_path(cfg, read_models),
                                                  answer_timeout))

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
    if cfg.trust_user_header:  # through the log (it may be JSON), not the console
        logging.getLogger("openoms").warning("trust_user_header is on: X-OMS-User names the caller with no credential; "
                                             "never expose this port")
    api = create_app(oms, manage_lifecycle=True, trusted_header=cfg.trust_user_header)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler
    # that was installed before it; a no-op handler there lets a clean shutdown exit with status 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    # log_config=None: uvicorn's loggers go through the root handler set above, in the same format.
    uvicorn.run(api, host=cfg.host, port=cfg.port, log_level=cfg.log_level.lower(), access_log=cfg.access_log,
                log_config=None, ws_per_message_deflate=cfg.ws_compression)


@audit_app.command("verify")
def audit_verify(
    journal: Annotated[Optional[Path], typer.Option(help="Journal file (default: <data-dir>/journal.sqlite)")] = None,  # noqa: UP045
    data_dir: Annotated[Optional[Path], typer.Option(help="Data directory (env OMS_DATA_DIR)")] = None,  # noqa: UP045
    database_url: Annotated[Optional[str], typer.Option(help=DATABASE_URL_HELP)] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check the journal's hash chain end to end; name the first bad event. Works on a copy too."""
    from .journal import postgres, sqlite
    from .journal.chain import Record, verify
    from .journal.sqlite import JournalError

    try:
        cfg = load(overrides={"data_dir": data_dir, "database_url": database_url})
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    records: Iterator[Record]
    if journal is None and cfg.database_url:
        path: object = postgres.redact(cfg.database_url)
        records = postgres.open_readonly_records(cfg.database_url)
    else:
        path = journal or cfg.journal_path
        records = sqlite.open_readonly_records(journal or cfg.journal_path)
    try:
        report = verify(records)
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


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[Optional[str], typer.Option(help=DATABASE_URL_HELP)] = None,  # noqa: UP045
) -> None:
    """Apply the journal schema's Alembic migrations (`oms serve` also does when it opens the journal)."""
    from .journal.postgres import redact, upgrade
    from .journal.sqlite import JournalError

    try:
        url = load(overrides={"database_url": database_url}).database_url
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not url:
        console.print("[red]no database: give --database-url or OMS_DATABASE_URL (SQLite needs no migrations)[/red]")
        raise typer.Exit(2)
    try:
        revision = upgrade(url)
    except JournalError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    print(f"journal schema at {redact(url)}: revision {revision} (head)")


cli_audit.register(app, audit_app)
cli_posttrade.register(app)
cli_status.register(app)
cli_trading.register(app)  # orders, executions, positions, instruments, quotes: over a running server's API
cli_algos.register(app)  # execution algorithms and staged orders
cli_risk.register(app)
cli_client.register(app)  # login, logout


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
