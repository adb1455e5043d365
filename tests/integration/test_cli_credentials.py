"""Which credential the `oms` client commands send, and `oms login`/`oms logout` keeping a token.

A small HTTP server records the headers it receives and answers like the API. Its sign-in
follows the contract of POST /api/v1/auth/login being built with access control (issue 8):
``{"username", "password"}`` -> ``{"token", "expires_at", "user", "roles"}``; UNTESTED against
`oms serve` until that lands (there, `oms login` today says the server has no sign-in).
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from openoms.cli import app
from openoms.client import credentials


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None, str | None]] = []

    def answer(self, body: dict[str, object], status: int = 200) -> None:
        self.seen.append((f"{self.command} {self.path}", self.headers.get("authorization"), self.headers.get("x-oms-user")))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.answer({"instruments": []})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path == "/api/v1/auth/login":
            if body.get("password") != "right":
                self.answer({"error": {"code": "BAD_CREDENTIALS", "message": "wrong username or password", "detail": {}}}, 401)
            else:
                self.answer({"token": "session-1", "expires_at": "2026-11-26T21:00:00Z", "user": body["username"],
                             "roles": ["trader"]})
        else:
            self.answer({"signed_out": True})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def oms(*args: str, home: Path, **env: str) -> Result:
    result = CliRunner().invoke(app, list(args), env={"HOME": str(home), "OMS_TOKEN": None, "OMS_USER": None, **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_the_credential_sent_comes_from_the_flag_the_environment_or_the_saved_login(url: str, tmp_path: Path) -> None:
    credentials.save(url, "saved", tmp_path / ".config" / "openoms" / "credentials")
    assert oms("instruments", "--url", url, home=tmp_path).exit_code == 0
    assert oms("instruments", "--url", url, "--token", "flag", home=tmp_path).exit_code == 0
    assert oms("instruments", "--url", url, home=tmp_path, OMS_TOKEN="env").exit_code == 0
    assert oms("instruments", "--url", url, "--user", "bob", home=tmp_path).exit_code == 0  # a user named: no saved token
    assert oms("instruments", "--url", url, home=tmp_path / "elsewhere").exit_code == 0
    assert [(auth, user) for _, auth, user in Recorder.seen] == [
        ("Bearer saved", None), ("Bearer flag", None), ("Bearer env", None), (None, "bob"), (None, None)]


def test_login_keeps_the_session_token_for_later_commands_and_logout_forgets_it(url: str, tmp_path: Path) -> None:
    wrong = oms("login", "--url", url, "--username", "alice", "--password", "wrong", home=tmp_path)
    assert wrong.exit_code == 1 and wrong.stderr == "refused (401 BAD_CREDENTIALS): wrong username or password\n"
    signed = oms("login", "--url", url, "--username", "alice", home=tmp_path, OMS_PASSWORD="right")
    assert signed.exit_code == 0 and "signed in" in signed.stdout and "as alice, until 2026-11-26T21:00:00.000Z" in signed.stdout
    saved = tmp_path / ".config" / "openoms" / "credentials"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and "right" not in saved.read_text()
    assert oms("instruments", "--url", url, home=tmp_path).exit_code == 0
    assert oms("logout", "--url", url, home=tmp_path).stdout == f"signed out of {url}\n"
    assert credentials.token_for(url, saved) is None
    assert [(request, auth) for request, auth, _ in Recorder.seen] == [
        ("POST /api/v1/auth/login", None), ("POST /api/v1/auth/login", None), ("GET /api/v1/instruments", "Bearer session-1"),
        ("POST /api/v1/auth/logout", "Bearer session-1")]
