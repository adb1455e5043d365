"""Make docs/images/blotter.png: a fresh `oms serve` with sign-in, a trader's day in progress
(fills, resting orders, a TWAP, a staged order), seen in headless Chromium (the Debian package).

    .venv/bin/python scripts/blotter_screenshot.py [--out docs/images/blotter.png]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def users(data_dir: Path, *args: str, password: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "openoms", "users", *args, "--data-dir", str(data_dir)], check=True,
                          input=f"{password}\n" if password else "", capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images" / "blotter.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        users(data, "add", "alice", "--role", "trader", "--account", "ACC-EQ-1", password="alice password 1")
        users(data, "add", "paula", "--role", "portfolio_manager", "--account", "ACC-EQ-1", "--no-password")
        pm_key = users(data, "api-key", "paula", "--name", "screenshot")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            fix_port = s.getsockname()[1]
        env = {"OMS_FIX_PORT": str(fix_port), "OMS_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"}
        server = subprocess.Popen([sys.executable, "-m", "openoms", "serve", "--port", str(port), "--data-dir", str(data)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = httpx.post(url + "/api/v1/auth/login", json={"username": "alice", "password": "alice password 1"}).json()["token"]
            alice = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            pm = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {pm_key}"}, timeout=10)
            time.sleep(1)  # a few quotes
            for symbol, quantity in (("AAPL", "300"), ("MSFT", "200"), ("NVDA", "500")):
                ask = alice.get(f"/api/v1/marketdata/{symbol}").json()["ask"]
                alice.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": symbol, "side": "buy", "quantity": quantity,
                                                   "price": ask})
            for n in range(12):
                bid = Decimal(alice.get("/api/v1/marketdata/AAPL").json()["bid"])
                alice.post("/api/v1/orders", json={"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": str(10 * (n + 1)),
                                                   "price": str((bid * Decimal("0.97")).quantize(Decimal("0.01")) - n)})
            bid = Decimal(alice.get("/api/v1/marketdata/MSFT").json()["bid"])
            alice.post("/api/v1/algos", json={"account": "ACC-EQ-1", "symbol": "MSFT", "side": "buy", "quantity": "2000", "kind": "twap",
                                              "limit_price": str((bid * Decimal("0.98")).quantize(Decimal("0.01"))),
                                              "end_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(), "interval_s": 60})
            pm.post("/api/v1/staged", json={"account": "ACC-EQ-1", "symbol": "SAP", "side": "buy", "quantity": "400",
                                            "price": "200.00", "for_trader": "alice", "note": "rebalance into EU"})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1180})
                page.goto(url + "/")
                page.fill("#login-user", "alice")
                page.fill("#login-password", "alice password 1")
                page.click("#login-submit")
                page.wait_for_selector("#stream-status.live")
                page.select_option("#t-algo", "twap")
                page.fill("#t-symbol", "MSFT")
                page.fill("#t-quantity", "1500")
                time.sleep(4)  # marks: a few points of intraday P&L
                page.locator("#orders-table .vrow").first.locator(".cell").first.click()
                time.sleep(1)
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
