"""What the ``oms`` commands that talk to a running server share: connection options, the
credential, one-line errors with exit codes, JSON output; and ``oms login`` / ``oms logout``.

Exit codes: 0 done; 1 the server refused (its code and message are printed); 2 nothing was
asked of the server (bad input) or no server answered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Optional

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from .client import OmsApiError, OmsClient, OmsConnectionError, OmsInputError, credentials

err = Console(stderr=True)
out = Console()

DEFAULT_URL = "http://127.0.0.1:8000"
UrlOpt = Annotated[str, typer.Option("--url", envvar="OMS_URL", help="Server URL")]
TokenOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--token", envvar="OMS_TOKEN", help="Session token or API key, sent as Authorization: Bearer "
    "(default: the one `oms login` saved for this server)")]
UserOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--user", envvar="OMS_USER", help="Act as this user (X-OMS-User header, for servers without logins)")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each answer")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON instead of a table")]


class Target(msgspec.Struct, frozen=True):
    """Where and as whom to connect, from the common options."""

    url: str
    token: str | None
    user: str | None
    timeout: float
    as_json: bool


def target(url: str, token: str | None, user: str | None, timeout: float, as_json: bool = False) -> Target:
    return Target(url, token, user, timeout, as_json)


def say(line: str) -> None:
    """One line of plain text on stdout: no markup (ids and messages may hold brackets), no wrapping."""
    out.print(line, markup=False, highlight=False, soft_wrap=True)


def say_error(message: str) -> None:
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)


def refusal_line(error: OmsApiError) -> str:
    line = f"refused ({error.status} {error.code}): {error.message}"
    if isinstance(error.detail, dict):
        # The detail's scalar fields (rule, scope, limit, value...) say why in a few words.
        facts = [f"{k}={v}" for k, v in error.detail.items() if isinstance(v, str | int | Decimal) and str(v) not in line]
        if facts:
            line += f" [{', '.join(facts)}]"
    return line


@contextmanager
def connected(where: Target) -> Iterator[OmsClient]:
    """A client for the command, and every failure as one line and an exit code, never a traceback."""
    try:
        token = where.token
        if token is None and where.user is None:
            token = credentials.token_for(where.url)
        with OmsClient(where.url, token=token, user=where.user, timeout=where.timeout) as client:
            yield client
    except OmsApiError as error:
        if where.as_json:
            emit(error.as_dict())
        say_error(refusal_line(error))
        raise typer.Exit(1) from None
    except OmsConnectionError as error:
        say_error(str(error))
        raise typer.Exit(2) from None
    except OmsInputError as error:
        say_error(f"bad input: {error}")
        raise typer.Exit(2) from None


def fail_input(message: str) -> typer.Exit:
    say_error(f"bad input: {message}")
    return typer.Exit(2)


def emit(value: Any) -> None:
    """JSON on stdout: Decimals as strings, times in ISO 8601, as the API sends them."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")


def moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail_input(f"{name} must be an ISO 8601 time, e.g. 2026-11-26T14:30:00Z; got {text!r}") from None
    if value.tzinfo is None:
        raise fail_input(f"{name} needs a timezone, e.g. 2026-11-26T14:30:00Z")
    return value


def text(value: object) -> str:
    """A cell: empty for nothing, plain decimal text for numbers (never exponent notation)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def table(title: str, columns: list[str], rows: list[list[object]], numeric: frozenset[str] = frozenset()) -> None:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, justify="right" if column in numeric else "left", overflow="fold")
    for row in rows:
        grid.add_row(*(text(cell) for cell in row))
    out.print(grid)


def register(app: typer.Typer) -> None:
    @app.command()
    def login(
        username: Annotated[str, typer.Option(prompt=True, help="Your user name")],
        password: Annotated[str, typer.Option(prompt=True, hide_input=True, envvar="OMS_PASSWORD",
                                              help="Your password (prompted, never echoed, when not given)")],
        url: UrlOpt = DEFAULT_URL,
        timeout: TimeoutOpt = 10.0,
    ) -> None:
        """Sign in and keep the session token in ~/.config/openoms/credentials for later commands."""
        with connected(target(url, None, None, timeout)) as client:
            try:
                session = client.login(username, password)
            except OmsApiError as error:
                if error.status in (404, 405):
                    raise fail_server(f"{url} has no sign-in (POST /api/v1/auth/login); "
                                      "use --user, or --token with an API key") from None
                raise
            path = credentials.save(url, session.token, user=session.user,
                                    expires_at=text(session.expires_at) if session.expires_at else None)
        expiry = f", until {text(session.expires_at)}" if session.expires_at else ""
        say(f"signed in to {url} as {session.user}{expiry}; token saved in {path}")

    @app.command()
    def logout(url: UrlOpt = DEFAULT_URL, timeout: TimeoutOpt = 10.0) -> None:
        """End the saved session on the server and forget its token."""
        try:
            token = credentials.token_for(url)
        except OmsInputError as error:
            raise fail_input(str(error)) from None
        if token is None:
            say(f"no saved session for {url}")
            return
        with connected(target(url, token, None, timeout)) as client:
            try:
                client.logout()
            except OmsApiError as error:
                if error.status not in (401, 404, 405):  # expired, or no sessions there: forget it all the same
                    raise
            credentials.forget(url)
        say(f"signed out of {url}")


def fail_server(message: str) -> typer.Exit:
    say_error(message)
    return typer.Exit(1)
