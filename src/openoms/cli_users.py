"""``oms users``: people and systems, their roles, accounts, passwords and API keys.

Works on the user store beside the journal (``<data-dir>/users.sqlite``, or the journal's
PostgreSQL database with ``--database-url`` / ``OMS_DATABASE_URL``) whether or not the server
runs: having the data directory (or the database) is having the installation, as for ``oms audit``.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .access.policy import Role
from .access.users import UserError, UserStore, UserStoreUnavailable, open_user_store
from .config import ConfigError, load
from .journal.errors import JournalError

users_app = typer.Typer(help="Users, roles, account entitlements and API keys.", no_args_is_help=True)
console = Console(stderr=True)
DataDir = Annotated[Optional[Path], typer.Option(help="Data directory (env OMS_DATA_DIR; default ./oms-data)")]  # noqa: UP045
DatabaseUrl = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="The journal's PostgreSQL database, where the users then live too "
         "(env OMS_DATABASE_URL; default: users.sqlite in the data dir)")]
ROLES = ", ".join(r.value for r in Role)


def open_store(data_dir: Path | None, database_url: str | None = None) -> UserStore:
    try:
        cfg = load(overrides={"data_dir": data_dir, "database_url": database_url})
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        return open_user_store(cfg)
    except (JournalError, UserStoreUnavailable) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def read_password() -> str:
    """From a terminal: asked twice, not echoed. Piped: the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password (12 characters or more): ")
    if getpass.getpass("again: ") != first:
        console.print("[red]the passwords differ[/red]")
        raise typer.Exit(2)
    return first


def fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(2)


@users_app.command("create-admin")
def create_admin(username: Annotated[str, typer.Argument(help="The administrator's user name")], data_dir: DataDir = None,
                 database_url: DatabaseUrl = None) -> None:
    """Create an administrator (every role, every account) with a password you type: how a new
    installation gets its first user. There is no default password."""
    store = open_store(data_dir, database_url)
    try:
        store.create_admin(username, read_password(), actor="cli")
    except UserError as exc:
        raise fail(exc) from None
    console.print(f"administrator [bold]{username}[/bold] created; sign in at the blotter or POST /api/v1/auth/login")


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[list[str], typer.Option("--role", help=f"Repeat for several: {ROLES}")],
    account: Annotated[Optional[list[str]], typer.Option("--account", help="An account the user may trade and see (repeat)")] = None,  # noqa: UP045
    desk: Annotated[Optional[list[str]], typer.Option("--desk", help="Every account of this desk (repeat)")] = None,  # noqa: UP045
    password: Annotated[bool, typer.Option("--password/--no-password", help="Ask for a password (people); systems use API keys")] = True,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a person or a system with roles and account entitlements."""
    store = open_store(data_dir, database_url)
    try:
        store.create(username, role, account or [], desk or [], read_password() if password else None, actor="cli")
    except (UserError, ValueError) as exc:
        raise fail(exc) from None
    console.print(f"user [bold]{username}[/bold] created")


@users_app.command("update")
def update(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Optional[list[str]], typer.Option("--role", help="Replaces the roles (repeat)")] = None,  # noqa: UP045
    account: Annotated[Optional[list[str]], typer.Option("--account", help="Replaces the accounts (repeat)")] = None,  # noqa: UP045
    desk: Annotated[Optional[list[str]], typer.Option("--desk", help="Replaces the desks (repeat)")] = None,  # noqa: UP045
    disabled: Annotated[Optional[bool], typer.Option("--disable/--enable", help="A disabled user cannot sign in")] = None,  # noqa: UP045
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a user's roles, entitlements, or disable them (their sessions end)."""
    store = open_store(data_dir, database_url)
    try:
        store.update(username, "cli", role, account, desk, disabled)
    except (UserError, ValueError) as exc:
        raise fail(exc) from None
    console.print(f"user [bold]{username}[/bold] updated")


@users_app.command("set-password")
def set_password(username: Annotated[str, typer.Argument()], data_dir: DataDir = None,
                 database_url: DatabaseUrl = None) -> None:
    """Set a user's password; their open sessions end."""
    store = open_store(data_dir, database_url)
    try:
        store.set_password(username, read_password(), actor="cli")
    except UserError as exc:
        raise fail(exc) from None
    console.print(f"password of [bold]{username}[/bold] set")


@users_app.command("api-key")
def api_key(
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="Which system uses the key")] = "cli",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue an API key acting as this user; printed once on standard output, stored hashed."""
    store = open_store(data_dir, database_url)
    try:
        key = store.issue_api_key(username, name, actor="cli")
    except UserError as exc:
        raise fail(exc) from None
    print(key)


@users_app.command("revoke-key")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The id shown by `oms users list`")], data_dir: DataDir = None,
               database_url: DatabaseUrl = None) -> None:
    """Revoke an API key at once."""
    store = open_store(data_dir, database_url)
    try:
        store.revoke_api_key(key_id, actor="cli")
    except UserError as exc:
        raise fail(exc) from None
    console.print(f"API key {key_id} revoked")


@users_app.command("list")
def list_users(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Users with their roles, entitlements and API keys."""
    store = open_store(data_dir, database_url)
    table = Table("user", "roles", "accounts", "desks", "password", "disabled", "API keys")
    keys = store.api_keys()
    for user in store.all():
        mine = [f"{k['key_id']} ({k['name']}{', revoked' if k['revoked'] else ''})" for k in keys if k["username"] == user.username]
        table.add_row(user.username, ", ".join(sorted(user.roles)), ", ".join(sorted(user.accounts)), ", ".join(sorted(user.desks)),
                      "yes" if user.has_password else "no", "yes" if user.disabled else "", "; ".join(mine))
    Console().print(table)
