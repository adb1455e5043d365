"""Start ``oms serve`` as a real subprocess, as a user would, on a free port and a temp data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stores import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int, extra: list[str] | None = None, trusted_header: bool = True,
                 database_url: str = "") -> None:
        self.data_dir = data_dir
        self.database_url = database_url  # the PostgreSQL journal (and user store); empty: SQLite in data_dir
        # These tests act as the demo users by X-OMS-User (trusted-header mode); the README, access
        # control and blotter tests start the server as a user would, with real sign-in.
        self.trusted_header = trusted_header
        self.port = port
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"serve-{port}.log"
        self.fix_port = free_port()  # `oms serve` runs the FIX acceptor too: never on a fixed port in tests

    def start(self, timeout: float = 30.0) -> Server:
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMS_FIX_PORT=str(self.fix_port),
                   OMS_TRUST_USER_HEADER="true" if self.trusted_header else "false")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "openoms", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 *(["--database-url", self.database_url] if self.database_url else []), *self.extra],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"oms serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"oms serve did not become healthy in {timeout}s:\n{self.log.read_text()}")

    def cli_args(self) -> list[str]:
        """How `oms audit verify` / `oms users` are pointed at this server's store."""
        return ["--data-dir", str(self.data_dir), *(["--database-url", self.database_url] if self.database_url else [])]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@pytest.fixture
def server_factory(store: Store) -> Iterator[type[Server]]:
    """`oms serve` on the test's store: every test that uses it runs on SQLite and on PostgreSQL."""
    started: list[Server] = []

    class _Factory(Server):
        def __init__(self, data_dir: Path | None = None, port: int | None = None, extra: list[str] | None = None,
                     trusted_header: bool = True) -> None:
            super().__init__(data_dir or store.data_dir, port or free_port(), extra, trusted_header, store.url)
            started.append(self)

    yield _Factory
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each phase's report on the test item (``item.rep_call``): the blotter tests take
    screenshots of their pages when the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
