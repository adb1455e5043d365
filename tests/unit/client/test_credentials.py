"""The credentials file `oms login` writes: one token per server, owner-only, replaced whole."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openoms.client import OmsInputError, credentials


def test_tokens_are_kept_per_server_readable_only_by_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "config" / "openoms" / "credentials"
    credentials.save("http://127.0.0.1:8000/", "tok-\"1\"", path, user="alice", expires_at="2026-11-26T21:00:00Z")
    credentials.save("https://oms.example", "tok-2", path)
    assert credentials.token_for("http://127.0.0.1:8000", path) == 'tok-"1"'
    assert credentials.token_for("https://oms.example/", path) == "tok-2"
    assert credentials.token_for("http://elsewhere:8000", path) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.forget("http://127.0.0.1:8000", path) is True
    assert credentials.forget("http://127.0.0.1:8000", path) is False
    assert credentials.token_for("http://127.0.0.1:8000", path) is None
    assert credentials.token_for("https://oms.example", path) == "tok-2"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_missing_file_holds_no_token_and_a_broken_one_is_named(tmp_path: Path) -> None:
    assert credentials.token_for("http://127.0.0.1:8000", tmp_path / "none") is None
    broken = tmp_path / "credentials"
    broken.write_text("[unclosed\n")
    with pytest.raises(OmsInputError, match=f"credentials file {broken} is not valid TOML"):
        credentials.token_for("http://127.0.0.1:8000", broken)
