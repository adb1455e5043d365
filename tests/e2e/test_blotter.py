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
from decimal import Decimal
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
    oms(module_store, "add", "busy", "--role", "trader", "--account", "ACC-EQ-2", password="busy password 1")
    oms(module_store, "add", "pm1", "--role", "portfolio_manager", "--account", "ACC-EQ-1", password="pm1 password 12")
    oms(module_store, "add", "risk1", "--role", "risk_officer", password="risk1 password 12")
    running = Server(module_store.data_dir, free_port(), trusted_header=False, database_url=module_store.url).start()
    yield running
    running.terminate()


@pytest.fixture
def page_of(browser: Any, server: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Signed-in pages; each one is saved as a screenshot if the test fails."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)  # 5 s by default: too short on a loaded 2-core CI machine
    contexts: list[Any] = []

    def open_as(user: str, password: str) -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)  # waits and actions; `expect` has its own default (set below)
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
    expect(page.locator("#usage")).to_contain_text("no limits in use")  # nothing traded yet
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
        ask = Decimal(client.get("/api/v1/marketdata/AAPL", headers={"Authorization": f"Bearer {token}"}).json()["ask"])
    # Through the offer by 0.5 %: the simulated market moves between the quote and the order, and
    # a limit at the old ask can come to rest instead of filling (inside the collar either way).
    taken = send_order(page, "AAPL", "100", str((ask * Decimal("1.005")).quantize(Decimal("0.01"))))
    expect(row(page, taken)).to_contain_text("filled")
    expect(page.locator("#executions-table .vrow").first).to_contain_text(taken)
    expect(page.locator("#positions")).to_contain_text("ACC-EQ-1")
    expect(page.locator("#positions")).to_contain_text("100")
    expect(page.locator("#usage")).to_contain_text("credit limit")  # limit usage arrives on the stream, no reload
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


def clock(page: Any, minutes: int) -> str:
    """HH:MM:SS in the browser's time zone, ``minutes`` from now (what a trader types in a time field)."""
    return str(page.evaluate(f"new Date(Date.now() + {minutes} * 60000).toTimeString().slice(0, 8)"))


def algo_row(page: Any, algo_id: str) -> Any:
    return page.locator("#algos-table .vrow").filter(has=page.locator(".cell", has_text=re.compile(f"^{algo_id}$")))


def test_a_trader_works_a_twap_from_the_ticket_and_pauses_resumes_and_cancels_it(page_of: Any, server: Any) -> None:
    from playwright.sync_api import expect

    page = page_of("trader1", "trader password 1")
    token = page.evaluate("sessionStorage.getItem('oms-token')")
    with httpx.Client(base_url=server.url, timeout=5) as client:
        bid = Decimal(client.get("/api/v1/marketdata/AAPL", headers={"Authorization": f"Bearer {token}"}).json()["bid"])
    resting = str((bid * Decimal("0.95")).quantize(Decimal("0.01")))  # children rest below the bid, inside the collar

    page.select_option("#t-algo", "twap")
    expect(page.locator("#algo-fields")).to_be_visible()
    expect(page.locator("#t-type")).to_be_disabled()
    expect(page.locator("#a-display")).to_be_hidden()  # an iceberg's parameter, not a TWAP's
    page.fill("#t-symbol", "AAPL")
    page.fill("#t-quantity", "1000")
    page.fill("#t-price", resting)
    # Checked in the page before sending: the end must come after the start.
    page.fill("#a-start", clock(page, 5))
    page.fill("#a-end", clock(page, 2))
    page.click("#t-submit")
    expect(page.locator('.field-error[data-for="time"]')).to_contain_text("end time must be after the start time")
    # Refused by the server's pre-trade risk, judging the parent as a whole: its reason, under the quantity.
    page.fill("#a-start", "")
    page.fill("#a-end", clock(page, 10))
    page.fill("#t-quantity", "200000")
    page.click("#t-submit")
    expect(page.locator('.field-error[data-for="quantity"]')).to_contain_text("notional")
    expect(page.locator("#t-result .error")).to_contain_text("RISK_MAX_NOTIONAL")

    page.fill("#t-quantity", "1000")
    page.fill("#a-interval", "60")
    page.click("#t-submit")
    page.wait_for_selector("#t-result .ok")
    found = re.search(r"algo (\S+) started", page.inner_text("#t-result"))
    assert found, page.inner_text("#t-result")
    algo_id = found.group(1)
    expect(algo_row(page, algo_id)).to_contain_text("working")
    expect(algo_row(page, algo_id)).to_contain_text("twap")

    # Its children are orders on the blotter, each naming the parent.
    algo_row(page, algo_id).get_by_role("button", name=re.compile("▸")).click()
    expect(page.locator("#f-parent")).to_have_value(algo_id)
    children = page.locator("#orders-table .vrow")
    expect(children.first).to_contain_text(algo_id)
    expect(children.first).to_contain_text(resting)
    expect(children.first).to_contain_text("new")

    algo_row(page, algo_id).get_by_role("button", name="Pause").click()
    expect(algo_row(page, algo_id)).to_contain_text("paused")
    expect(children.first).to_contain_text("canceled")  # pausing cancels the working children
    expect(algo_row(page, algo_id).get_by_role("button", name="Pause")).to_have_count(0)

    algo_row(page, algo_id).get_by_role("button", name="Resume").click()
    expect(algo_row(page, algo_id)).to_contain_text("working")
    working = page.locator("#orders-table .vrow .status-new")
    expect(working).to_have_count(1)  # a new slice

    # Modify: only what changed is sent; the server's reason shows inline; the row follows the stream.
    algo_row(page, algo_id).get_by_role("button", name="Modify").click()
    expect(page.locator("#am-quantity")).to_have_value("1000")
    page.fill("#am-limit", "1.001")
    page.click("#am-send")
    expect(page.locator("#am-result .error")).to_contain_text("TICK_SIZE_VIOLATION")
    page.fill("#am-limit", resting)
    page.fill("#am-quantity", "800")
    page.click("#am-send")
    expect(page.locator("#am-result .ok")).to_contain_text(f"{algo_id} modified: quantity")
    expect(algo_row(page, algo_id).locator(".cell").nth(5)).to_have_text("800")
    page.click("#am-close")

    algo_row(page, algo_id).get_by_role("button", name="Cancel").click()
    expect(algo_row(page, algo_id)).to_contain_text("done")
    expect(page.locator("#algo-result")).to_contain_text(f"cancel of {algo_id} done")
    expect(working).to_have_count(0)
    assert page.locator("#orders-table .vrow").count() >= 2  # the first slice and the one after the resume


def staged_row(page: Any, staged_id: str) -> Any:
    return page.locator("#staged-table .vrow").filter(has=page.locator(".cell", has_text=re.compile(f"^{staged_id}$")))


def test_a_pm_stages_an_order_and_a_trader_picks_it_up_and_releases_it_live(page_of: Any, server: Any) -> None:
    from playwright.sync_api import expect

    pm = page_of("pm1", "pm1 password 12")
    trader = page_of("trader1", "trader password 1")
    expect(pm.locator("#t-stage")).to_be_visible()
    expect(trader.locator("#t-stage")).to_be_hidden()  # staging is a portfolio manager's
    token = pm.evaluate("sessionStorage.getItem('oms-token')")
    with httpx.Client(base_url=server.url, timeout=5) as client:
        bid = Decimal(client.get("/api/v1/marketdata/MSFT", headers={"Authorization": f"Bearer {token}"}).json()["bid"])
    price = str((bid * Decimal("0.95")).quantize(Decimal("0.01")))

    pm.fill("#t-symbol", "MSFT")
    pm.fill("#t-quantity", "40")
    pm.fill("#t-price", "12.345")
    pm.click("#t-stage")
    expect(pm.locator('.field-error[data-for="price"]')).to_contain_text("tick size")  # checked before staging too
    pm.fill("#t-price", price)
    pm.fill("#t-for", "trader1")
    pm.fill("#t-note", "trim the tech overweight")
    pm.click("#t-stage")
    pm.wait_for_selector("#t-result .ok")
    found = re.search(r"staged (\S+) for trader1", pm.inner_text("#t-result"))
    assert found, pm.inner_text("#t-result")
    staged_id = found.group(1)
    expect(staged_row(pm, staged_id)).to_contain_text("staged")
    expect(staged_row(pm, staged_id).get_by_role("button", name="Pick up")).to_have_count(0)  # a PM does not trade

    # The trader sees it arrive without reloading, picks it up and releases it to the market.
    expect(staged_row(trader, staged_id)).to_contain_text("trim the tech overweight")
    expect(staged_row(trader, staged_id).get_by_role("button", name="Withdraw")).to_have_count(0)
    staged_row(trader, staged_id).get_by_role("button", name="Pick up").click()
    expect(staged_row(trader, staged_id)).to_contain_text("picked_up")
    expect(staged_row(pm, staged_id)).to_contain_text("picked_up")  # the PM sees who has it, live
    expect(staged_row(pm, staged_id)).to_contain_text("trader1")
    staged_row(trader, staged_id).get_by_role("button", name="Release").click()
    expect(trader.locator("#staged-result")).to_contain_text(f"{staged_id} released: order")
    order_id = re.search(r"order (\S+)", trader.inner_text("#staged-result")).group(1)  # type: ignore[union-attr]
    expect(row(trader, order_id)).to_contain_text("MSFT")
    expect(row(trader, order_id)).to_contain_text(price)
    expect(staged_row(pm, staged_id)).to_contain_text("released")
    expect(staged_row(pm, staged_id)).to_contain_text(order_id)
    expect(staged_row(pm, staged_id).get_by_role("button", name="Withdraw")).to_have_count(0)
    row(trader, order_id).get_by_role("button", name="Cancel").click()  # tidy: the other tests count open orders
    expect(row(trader, order_id)).to_contain_text("canceled")


def submit_many(url: str, token: str, count: int) -> list[str]:
    """``count`` resting buy orders on ACC-EQ-2 over REST, 16 at a time: AAPL, MSFT and NVDA in
    turn, quantities 1-50, prices 8-9 % under the bid (inside the 10 % collar, never filled)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def run() -> list[str]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
            bids = {s: Decimal((await client.get(f"/api/v1/marketdata/{s}")).json()["bid"]) for s in ("AAPL", "MSFT", "NVDA")}
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> str:
                symbol = ("AAPL", "MSFT", "NVDA")[i % 3]
                price = (bids[symbol] * Decimal("0.91")).quantize(Decimal("0.01")) + Decimal(i % 100) / 100
                async with gate:
                    answer = await client.post("/api/v1/orders", json={
                        "account": "ACC-EQ-2", "symbol": symbol, "side": "buy", "quantity": str(1 + i % 50), "price": str(price)})
                assert answer.status_code == 201, answer.text
                return str(answer.json()["order"]["order_id"])

            return list(await asyncio.gather(*(one(i) for i in range(count))))

    # Playwright's sync API keeps an event loop running in this thread: the load goes from another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_three_thousand_orders_from_the_api_stay_usable_and_live(page_of: Any, server: Any) -> None:
    """A busy account's day: the blotter opens on 3,000 working orders (the stream's snapshot),
    keeps only the rows in view in the page, filters and sorts all of them, and still shows an
    order placed and one canceled afterwards without a reload."""
    from playwright.sync_api import expect

    with httpx.Client(base_url=server.url, timeout=10) as client:
        token = client.post("/api/v1/auth/login", json={"username": "busy", "password": "busy password 1"}).json()["token"]
    placed = submit_many(server.url, token, 3000)
    page = page_of("busy", "busy password 1")
    expect(page.locator("#order-count")).to_have_text("3000 shown of 3000")
    assert page.locator("#orders-table .vrow").count() < 60  # virtualized: not 3,000 rows in the page

    page.fill("#f-symbol", "MSFT")
    expect(page.locator("#order-count")).to_have_text("1000 shown of 3000")
    page.locator('#orders-table .vhead .cell[data-key="quantity"]').click()  # ascending by quantity
    first_cells = page.locator("#orders-table .vrow").first.locator(".cell")
    expect(first_cells.nth(6)).to_have_text("1")
    expect(first_cells.nth(4)).to_have_text("MSFT")
    page.locator("#orders-table").evaluate("el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
    expect(page.locator("#orders-table .vrow").last.locator(".cell").nth(6)).to_have_text("50")

    # Live, on top of the 3,000: a cancel and a new order arrive over the stream.
    with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.post(f"/api/v1/orders/{placed[1]}/cancel", json={}).status_code == 202  # MSFT (i = 1); the venue confirms
        bid = Decimal(client.get("/api/v1/marketdata/SAP").json()["bid"])
        late = client.post("/api/v1/orders", json={"account": "ACC-EQ-2", "symbol": "SAP", "side": "buy", "quantity": "7",
                                                   "price": str((bid * Decimal("0.95") / 2).quantize(Decimal("0.01")) * 2)})  # tick 0.02
        assert late.status_code == 201, late.text
    page.select_option("#f-status", "canceled")
    expect(row(page, placed[1])).to_contain_text("canceled")
    expect(page.locator("#order-count")).to_have_text("1 shown of 3001")
    page.select_option("#f-status", "open")
    page.fill("#f-symbol", "SAP")
    expect(row(page, late.json()["order"]["order_id"])).to_contain_text("new")
    page.fill("#f-symbol", "")
    expect(page.locator("#order-count")).to_have_text("3000 shown of 3001")  # 2,999 of the first and the late one


def test_a_risk_officer_engages_and_releases_a_kill_switch_seen_live_by_a_trader(page_of: Any) -> None:
    from playwright.sync_api import expect

    risk = page_of("risk1", "risk1 password 12")
    trader = page_of("trader1", "trader password 1")
    expect(risk.locator("#kill-form")).to_be_visible()
    expect(trader.locator("#kill-note")).to_contain_text("for risk officers")
    expect(risk.locator("#usage")).to_contain_text("ACC-EQ-1")  # limit usage of the accounts in use

    risk.fill("#k-scope", "account:ACC-EQ-1")
    risk.fill("#k-reason", "runaway algo")
    risk.click("#k-engage")
    expect(risk.locator("#kill-switches")).to_contain_text("KILL SWITCH account:ACC-EQ-1: runaway algo")
    expect(trader.locator("#kill-switches")).to_contain_text("KILL SWITCH account:ACC-EQ-1")  # over the stream
    trader.fill("#t-symbol", "AAPL")
    trader.fill("#t-quantity", "10")
    trader.fill("#t-price", "200.00")
    trader.click("#t-submit")
    expect(trader.locator("#t-result .error")).to_contain_text("KILL_SWITCH")
    risk.click("#k-release")
    expect(risk.locator("#kill-switches")).to_contain_text("no kill switch engaged")
    expect(trader.locator("#kill-switches")).to_contain_text("no kill switch engaged")


def test_the_market_data_panel_follows_a_watch_list_and_pnl_is_charted(page_of: Any) -> None:
    from playwright.sync_api import expect

    page = page_of("trader1", "trader password 1")
    quotes = page.locator("#quotes tr")
    expect(quotes.filter(has_text="SAP")).to_have_count(1)  # nothing watched yet: every instrument
    for symbol in ("MSFT", "NVDA", "NOPE"):
        page.fill("#w-symbol", symbol)
        page.click("#w-add")
    expect(page.locator("#watch-error")).to_contain_text("unknown instrument NOPE")
    expect(quotes).to_have_count(2)
    expect(quotes.first).to_contain_text("MSFT")
    page.reload()  # the list is kept (per user, in this browser)
    page.wait_for_selector("#stream-status.live")
    expect(quotes).to_have_count(2)
    quotes.filter(has_text="MSFT").get_by_title("stop watching").click()
    expect(quotes).to_have_count(1)
    expect(quotes.first).to_contain_text("NVDA")
    quotes.first.locator("td").first.click()  # a row fills the ticket
    expect(page.locator("#t-symbol")).to_have_value("NVDA")

    # trader1 holds AAPL from the first test: marked twice a second, its P&L is sampled and drawn.
    page.wait_for_function("state.pnl.length >= 3")
    expect(page.locator("#pnl-total")).to_contain_text("USD")
    assert page.evaluate("(() => { const c = document.getElementById('pnl-chart');"
                         " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0); })()")


def test_the_stream_does_not_compress_frames_unless_configured(server: Any) -> None:
    """A client offering permessage-deflate (browsers and `websockets` do) gets plain frames from
    `oms serve`: compressing costs the server more per frame than anything else (ws_compression)."""
    from websockets.sync.client import connect

    with connect(server.url.replace("http", "ws") + "/api/v1/stream", compression="deflate") as ws:
        assert ws.response is not None and ws.response.status_code == 101
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        ws.send('{"type": "subscribe", "token": "not a token"}')
        assert '"UNAUTHENTICATED"' in str(ws.recv(timeout=10))
