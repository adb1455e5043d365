"""``oms status``: the running system at a glance, asked of its HTTP API (``/health`` and ``/ready``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import ConfigError, load

console = Console(stderr=True)
out = Console()


def fetch(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """GET a JSON document; 503 answers (not ready) are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        url: Annotated[Optional[str], typer.Option(help="Server URL (default: http://<host>:<port> from the configuration)")] = None,  # noqa: UP045
        timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer")] = 5.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the server's answers as JSON")] = False,
    ) -> None:
        """Show the running OMS: engine, journal, venues, open orders, kill switches. Exit 1 if not ready."""
        if url is None:
            try:
                cfg = load()
            except ConfigError as exc:
                console.print(f"[red]configuration error:[/red] {exc}")
                raise typer.Exit(2) from None
            url = f"http://{cfg.host}:{cfg.port}"
        base = url.rstrip("/")
        try:
            _, health = fetch(base + "/health", timeout)
            ready_status, ready = fetch(base + "/ready", timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            console.print(f"[red]no OpenOMS answering at {base}:[/red] {reason}")
            raise typer.Exit(2) from None
        if as_json:
            print(json.dumps({"health": health, "ready": ready}, indent=2))
        else:
            render(base, health, ready)
        raise typer.Exit(0 if ready_status == 200 else 1)


def render(base: str, health: dict[str, Any], ready: dict[str, Any]) -> None:
    engine = health.get("engine", {})
    journal = health.get("journal", {})
    verdict = "[green]READY[/green]" if ready.get("ready") else "[red]NOT READY[/red]"
    uptime = health.get("uptime_seconds")
    out.print(f"OpenOMS {health.get('version', '?')} at {base}: {verdict}"
              + (f", up {uptime:.0f} s" if isinstance(uptime, int | float) else ""))
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("engine", "running" if engine.get("running") else "stopped")
    if engine.get("failure"):
        table.add_row("failure", f"[red]{engine['failure']}[/red]")
    table.add_row("journal", f"{journal.get('path', '?')} ({journal.get('durability', '?')}), "
                  f"last seq {engine.get('last_seq')}, committed {engine.get('committed_seq')}")
    replay = health.get("replay")
    if replay:
        table.add_row("replay", f"{replay['events']} events in {replay['seconds']} s")
    table.add_row("orders", f"{engine.get('orders', 0)} in memory, {engine.get('open_orders', 0)} open")
    by_status = health.get("open_orders_by_status") or {}
    if by_status:
        table.add_row("open by status", ", ".join(f"{status} {count}" for status, count in by_status.items()))
    venues = (ready.get("checks", {}).get("venues", {}) or {}).get("detail", {})
    for venue_id, venue in venues.items():
        state = "[green]connected[/green]" if venue.get("ok") else "[red]down[/red]"
        table.add_row(f"venue {venue_id}", f"{state}, session {'open' if venue.get('session_open') else 'closed'}")
    switches = health.get("kill_switches") or {}
    table.add_row("kill switches", ", ".join(f"[red]{scope}[/red] ({reason})" for scope, reason in switches.items()) or "none")
    for name, check in (ready.get("checks") or {}).items():
        if not check.get("ok"):
            table.add_row(f"[red]{name}[/red]", str(check.get("detail")))
    out.print(table)
