"""The web blotter through a cluster gateway (`oms serve --role gateway`, two engine shards as
processes on the local NATS, no projector), in headless Chromium: a trader signs in, the stream
goes live, orders sent from the ticket to accounts on both shards show with their cluster ids,
one fills live with its execution and position; the order detail, which needs the audit routes
of a single `oms serve`, says so instead of breaking the page."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_blotter import browser, row, send_order  # noqa: F401  (browser: the fixture)

from integration.test_nats_gateway import ON_SHARD_0, ON_SHARD_1, Process, delete_streams, free_port
from openoms.access.users import UserStore
from openoms.cluster.partition import Subjects

WAIT_MS = 15_000


@pytest.fixture
def gateway_url(tmp_path: Path, nats_url: str) -> Iterator[str]:
    """Two engine shards and a gateway, as processes; the gateway's URL."""
    subjects = Subjects(f"t{secrets.token_hex(4)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    users = UserStore(tmp_path / "gateway" / "users.sqlite")
    users.create("gtrader", ["trader"], [ON_SHARD_0, ON_SHARD_1], password="gtrader password 1")
    users.close()
    port = free_port()
    processes = [Process(f"shard{n}", ["--role", "engine", "--shard", f"{n}/2", "--data-dir", str(tmp_path / f"shard{n}"),
                                       *cluster], tmp_path) for n in (0, 1)]
    processes.append(Process("gateway", ["--role", "gateway", "--shards", "2", "--data-dir", str(tmp_path / "gateway"),
                                         "--read-models", str(tmp_path / "read_models.sqlite"), "--port", str(port),
                                         *cluster], tmp_path))
    for process in processes:
        process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, processes[-1].log.read_text()
            time.sleep(0.1)
        yield url
        assert [process.stop() for process in processes] == [0, 0, 0]
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()
        # In a thread of its own: Playwright's sync API keeps an event loop running on this one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, delete_streams(nats_url, subjects)).result()


def test_the_blotter_through_a_gateway_trades_on_both_shards_live(browser: Any, gateway_url: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_default_timeout(WAIT_MS)
        page.goto(gateway_url + "/")
        page.fill("#login-user", "gtrader")
        page.fill("#login-password", "gtrader password 1")
        page.click("#login-submit")
        page.wait_for_selector("#stream-status.live")  # the gateway's stream took the session token

        page.select_option("#t-account", ON_SHARD_0)
        resting = send_order(page, "AAPL", "10", "1.00")
        page.select_option("#t-account", ON_SHARD_1)
        filled = send_order(page, "AAPL", "10", "100000")  # marketable: fills at the shard's simulated venue
        assert resting.startswith("S0-O") and filled.startswith("S1-O")
        expect(row(page, resting)).to_contain_text("new")
        expect(row(page, filled)).to_contain_text("filled")
        expect(page.locator("#executions-table .vrow").first).to_contain_text(filled)
        expect(page.locator("#positions")).to_contain_text(ON_SHARD_1)

        row(page, filled).locator(".cell").first.click()
        expect(page.locator("#detail")).to_contain_text("not yet by a cluster gateway")
        assert errors == []
    finally:
        context.close()
