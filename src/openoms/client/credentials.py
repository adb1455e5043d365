"""Tokens kept between commands: ``~/.config/openoms/credentials``, one TOML table per server.

    ["http://127.0.0.1:8000"]
    token = "..."
    user = "alice"
    expires_at = "2026-11-26T21:00:00Z"

Written by ``oms login`` (owner-only permissions, replaced atomically), read by every ``oms``
command that talks to that server when no ``--token``/``OMS_TOKEN`` or ``--user`` is given.
This is the client's own file, apart from the server's configuration (``openoms.config``).
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .errors import OmsInputError


def default_path() -> Path:
    return Path.home() / ".config" / "openoms" / "credentials"


def _key(url: str) -> str:
    return url.strip().rstrip("/")


def read_all(path: Path) -> dict[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise OmsInputError(f"cannot read credentials {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OmsInputError(f"credentials file {path} is not valid TOML: {exc}") from None
    return {key: value for key, value in data.items() if isinstance(value, dict)}


def token_for(url: str, path: Path | None = None) -> str | None:
    """The token saved for this server, if any."""
    entry = read_all(path or default_path()).get(_key(url), {})
    token = entry.get("token")
    return token if isinstance(token, str) and token else None


def save(url: str, token: str, path: Path | None = None, **extra: str | None) -> Path:
    """Keep ``token`` (and ``extra`` strings such as the user and expiry) for this server."""
    target = path or default_path()
    entries = read_all(target)
    entries[_key(url)] = {"token": token, **{k: v for k, v in extra.items() if v is not None}}
    _write(target, entries)
    return target


def forget(url: str, path: Path | None = None) -> bool:
    """Drop this server's token; whether there was one."""
    target = path or default_path()
    entries = read_all(target)
    if entries.pop(_key(url), None) is None:
        return False
    _write(target, entries)
    return True


def _write(target: Path, entries: dict[str, dict[str, Any]]) -> None:
    # JSON string literals are valid TOML basic strings (same escapes), so no TOML writer is needed.
    lines = []
    for url, values in sorted(entries.items()):
        lines.append(f"[{json.dumps(url)}]")
        lines += [f"{name} = {json.dumps(str(value))}" for name, value in values.items()]
        lines.append("")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".credentials-")
        try:
            os.fchmod(handle, 0o600)  # a token is a password: owner only, before a byte is written
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("\n".join(lines))
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OmsInputError(f"cannot write credentials {target}: {exc.strerror or exc}") from None
