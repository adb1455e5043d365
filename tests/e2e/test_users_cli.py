"""`oms users`: the bootstrap administrator and its API key, with no server running, and clear
one-line errors for what cannot be done; on SQLite (users.sqlite in the data dir) and on
PostgreSQL (`--database-url`: the users live in the journal's database, shared by every gateway)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stores import Store


def users(store: Store, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", "users", *args, *store.cli_args()],
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_create_admin_needs_a_real_password_and_then_issues_keys(store: Store) -> None:
    refused = users(store, "create-admin", "root")  # no password given: there is no default one
    assert refused.returncode == 2 and "12 characters" in refused.stderr and "Traceback" not in refused.stderr
    made = users(store, "create-admin", "root", stdin="root password 123\n")
    assert made.returncode == 0, made.stderr
    again = users(store, "create-admin", "root", stdin="root password 123\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    key = users(store, "api-key", "root", "--name", "ci")
    assert key.returncode == 0 and key.stdout.startswith("oms_")
    bad_role = users(store, "add", "eve", "--role", "boss", "--no-password")
    assert bad_role.returncode == 2 and "unknown role 'boss'" in bad_role.stderr and "Traceback" not in bad_role.stderr
    added = users(store, "add", "bob", "--role", "trader", "--desk", "RATES", "--no-password")
    assert added.returncode == 0, added.stderr
    listing = users(store, "list")
    assert "root" in listing.stdout and "administrator" in listing.stdout and "RATES" in listing.stdout
    # Where they went: the store the server opens (PostgreSQL leaves no users.sqlite behind).
    shared = store.users()
    user = shared.get("root")
    assert user is not None and user.has_password and shared.authenticate(key.stdout.strip()) is not None
    assert (store.data_dir / "users.sqlite").exists() == (store.backend == "sqlite")


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    down = Store("postgresql", tmp_path / "data", "postgresql://postgres@127.0.0.1:1/nothing")
    result = users(down, "list")
    assert result.returncode == 2 and "127.0.0.1" in result.stderr and "Traceback" not in result.stderr
