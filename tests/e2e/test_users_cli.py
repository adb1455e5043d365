"""`oms users`: the bootstrap administrator and its API key, with no server running, and clear
one-line errors for what cannot be done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def users(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", "users", *args, "--data-dir", str(data_dir)],
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_create_admin_needs_a_real_password_and_then_issues_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    refused = users(data, "create-admin", "root")  # no password given: there is no default one
    assert refused.returncode == 2 and "12 characters" in refused.stderr and "Traceback" not in refused.stderr
    made = users(data, "create-admin", "root", stdin="root password 123\n")
    assert made.returncode == 0, made.stderr
    again = users(data, "create-admin", "root", stdin="root password 123\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    key = users(data, "api-key", "root", "--name", "ci")
    assert key.returncode == 0 and key.stdout.startswith("oms_")
    bad_role = users(data, "add", "eve", "--role", "boss", "--no-password")
    assert bad_role.returncode == 2 and "unknown role 'boss'" in bad_role.stderr and "Traceback" not in bad_role.stderr
    added = users(data, "add", "bob", "--role", "trader", "--desk", "RATES", "--no-password")
    assert added.returncode == 0, added.stderr
    listing = users(data, "list")
    assert "root" in listing.stdout and "administrator" in listing.stdout and "RATES" in listing.stdout
