"""The `oms` command as a user meets it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_serve_help_explains_every_option() -> None:
    result = oms("serve", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--data-dir", "--config", "--durability", "OMS_PORT", "OMS_DATA_DIR"):
        assert option in result.stdout, option


def test_bad_configuration_is_reported_without_a_traceback(tmp_path: Path) -> None:
    result = oms("serve", "--durability", "sometimes", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "durability must be one of" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_version() -> None:
    assert oms("version").stdout.strip() == "0.1.0"
