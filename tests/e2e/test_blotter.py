"""The web blotter in real headless Chromium against a real `oms serve` with sign-in required:
a trader logs in, places, replaces and cancels orders, sees fills, positions and the order's
history arrive live; a read-only user is refused an order. A failing step leaves a screenshot.

Chromium is the Debian package (/usr/bin/chromium; `.ci/run` installs it), driven by Playwright
for Python: `playwright install` downloads are not possible here. Under CI=true a missing
browser fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stores import Store

CHROMIUM = Path(os.environ.get("OMS_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
WAIT_MS = 15_000  # how long a live update may take to show (a bound on waiting, not a speed check)


def oms(store: Store, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "openoms", "users", *args, *store.cli_args()],
                            input=f"{password}\n" if password else "", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extras install it
        problem = f"playwright is not installed: {exc}"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the blotter tests need a browser under CI: {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(module_store: Store) -> Iterator[Any]:
    """One server for the module and backend, signed-in mode, users made with the CLI as an operator would."""
    from e2e.conftest import Server, free_port

    oms(module_store, "create-admin", "admin", password="admin password 1")
    oms(module_store, "add", "trader1", "--role", "trader", "--account", "ACC-EQ-1", password="trader password 1")
    oms(module_store, "add", "viewer", "--role", "read_only", "--account", "ACC-EQ-1", password="viewer password 1")
    running = Server(module_store.data_dir, free_port(), trusted_header=False, database_url=module_store.url).start()
    yield running
    running.terminate()


@pytest.fixture
def page_of(browser: Any, server: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Signed-in pages; each one is saved as a screenshot if the test fails."""
    contexts: list[Any] = []

    def open_as(user: str, password: str) -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url + "/")
        page.fill("#login-user", user)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.wait_for_selector("#stream-status.live")
        return page

    yield open_as
    failed = getattr(request.node, "rep_call", None)
    for index, context in enumerate(contexts):
        if failed is not None and failed.failed:
            shots = Path(os.environ.get("OMS_TEST_ARTIFACTS", tmp_path)) / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            for page in context.pages:
                path = shots / f"{request.node.name}-{index}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot of the failure: {path}")
        context.close()


def send_order(page: Any, symbol: str, quantity: str, price: str) -> str:
    page.fill("#t-symbol", symbol)
    page.fill("#t-quantity", quantity)
    page.fill("#t-price", price)
    page.click("#t-submit")
    page.wait_for_selector("#t-result .ok")
    found = re.search(r"order (\S+) accepted", page.inner_text("#t-result"))
    assert found, page.inner_text("#t-result")
    return found.group(1)


def row(page: Any, order_id: str) -> Any:
    return page.locator("#orders-table .vrow").filter(has=page.locator(".cell", has_text=re.compile(f"^{order_id}$")))


def test_trader_places_replaces_cancels_and_sees_fills_live(page_of: Any, server: Any) -> None:
    from playwright.sync_api import expect

    page = page_of("trader1", "trader password 1")
    expect(page.locator("#who")).to_contain_text("trader1")
    expect(page.locator("#kill-form")).to_be_hidden()  # the kill switch is a risk officer's

    # Inline validation: a price off the tick never leaves the browser.
    page.fill("#t-symbol", "AAPL")
    page.fill("#t-quantity", "10")
    page.fill("#t-price", "200.001")
    page.click("#t-submit")
    expect(page.locator('.field-error[data-for="price"]')).to_contain_text("tick size 0.01")

    resting = send_order(page, "AAPL", "50", "200.00")
    expect(row(page, resting)).to_contain_text("new")
    row(page, resting).get_by_role("button", name="Replace").click()
    page.fill("#r-quantity", "80")
    page.fill("#r-price", "201.00")
    page.click("#r-send")
    expect(row(page, resting)).to_contain_text("201.00")
    expect(row(page, resting)).to_contain_text("80")
    expect(page.locator("#detail")).to_contain_text("OrderReplaced")
    row(page, resting).get_by_role("button", name="Cancel").click()
    expect(row(page, resting)).to_contain_text("canceled")

    with httpx.Client(base_url=server.url, timeout=5) as client:
        token = page.evaluate("sessionStorage.getItem('oms-token')")
        ask = client.get("/api/v1/marketdata/AAPL", headers={"Authorization": f"Bearer {token}"}).json()["ask"]
    taken = send_order(page, "AAPL", "100", ask)
    expect(row(page, taken)).to_contain_text("filled")
    expect(page.locator("#executions-table .vrow").first).to_contain_text(taken)
    expect(page.locator("#positions")).to_contain_text("ACC-EQ-1")
    expect(page.locator("#positions")).to_contain_text("100")
    row(page, taken).locator(".cell").first.click()
    expect(page.locator("#detail")).to_contain_text("OrderFilled")
    expect(page.locator("#detail")).to_contain_text("trader1")

    # Cancel all shown: only the open orders in the filter, each answered by the venue.
    first, second = send_order(page, "AAPL", "5", "150.00"), send_order(page, "AAPL", "6", "151.00")
    page.select_option("#f-status", "open")
    expect(row(page, second)).to_contain_text("new")
    page.click("#cancel-all")
    expect(page.locator("#t-result")).to_contain_text("cancel sent for 2 order(s)")
    page.select_option("#f-status", "canceled")
    for order_id in (first, second, resting):
        expect(row(page, order_id)).to_contain_text("canceled")


def test_a_read_only_user_is_refused_an_order_and_sees_why(page_of: Any) -> None:
    from playwright.sync_api import expect

    page = page_of("viewer", "viewer password 1")
    expect(page.locator("#t-hint")).to_contain_text("do not include trading")
    page.fill("#t-symbol", "AAPL")
    page.fill("#t-quantity", "10")
    page.fill("#t-price", "200.00")
    page.click("#t-submit")
    expect(page.locator("#t-result .error")).to_contain_text("NOT_PERMITTED")
    expect(page.locator("#t-result .error")).to_contain_text("trade needs one of the roles")


def test_a_wrong_password_keeps_the_login_form(browser: Any, server: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    page.fill("#login-user", "trader1")
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("wrong username or password", timeout=WAIT_MS)
    expect(page.locator("#app-view")).to_be_hidden()
    context.close()


def test_thousands_of_orders_keep_only_the_rows_in_view_in_the_page(page_of: Any) -> None:
    from playwright.sync_api import expect

    page = page_of("viewer", "viewer password 1")
    before = page.evaluate("state.orders.size")  # the other tests' orders, on the same server
    # 5,000 order updates through the page's own stream handler, as a busy day would deliver them.
    page.evaluate("""() => {
        const base = state.seq;
        for (let i = 0; i < 5000; i++) {
            onMessage({seq: base + i + 1, prev: base + i, type: "order", order: {
                order_id: `X${i}`, account: "ACC-EQ-1", symbol: i % 2 ? "MSFT" : "AAPL", side: "buy", quantity: String(i + 1),
                price: "100.00", ord_type: "limit", tif: "day", status: i % 3 ? "new" : "filled", cum_qty: "0", avg_px: "0",
                created_at: "2026-11-26T10:00:00Z"}});
        }
    }""")
    expect(page.locator("#order-count")).to_contain_text(f"of {before + 5000}")
    assert page.locator("#orders-table .vrow").count() < 60
    page.fill("#f-symbol", "MSFT")
    expect(page.locator("#order-count")).to_contain_text("2500 shown")  # the other tests trade AAPL only
    page.locator('#orders-table .vhead .cell[data-key="quantity"]').click()  # ascending by quantity
    expect(page.locator("#orders-table .vrow").first).to_contain_text("X1")
    page.locator("#orders-table").evaluate("el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
    expect(page.locator("#orders-table .vrow").last).to_contain_text("X4999")
