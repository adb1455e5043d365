"""The code stays ruff-clean and mypy-strict-clean on src/ (a failing check fails the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_src() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_imports_no_io_or_clock() -> None:
    """The domain is pure: no sockets, files, asyncio, clocks or randomness."""
    forbidden = ("import asyncio", "import socket", "import random", "import time", "import sqlite3", "import uuid",
                 "open(", "time.time", "datetime.now", "uuid4")
    offenders = []
    for path in (ROOT / "src" / "openoms" / "domain").glob("*.py"):
        text = path.read_text()
        offenders += [f"{path.name}: {word}" for word in forbidden if word in text]
    assert not offenders, offenders
