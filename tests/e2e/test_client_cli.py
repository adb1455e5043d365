"""The `oms` client commands against a real `oms serve` subprocess, as a trader and a risk officer
use them: tables, --json, exit codes (0 done, 1 refused by the server, 2 bad input or no
server), one-line errors and never a traceback. The commands run in this process (Typer's
runner) to keep the suite fast; the last test runs the installed command itself."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import Server, free_port
from openoms.cli import app
from stores import Store

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


DATA: dict[str, Store] = {}


@pytest.fixture(scope="module")
def url(module_store: Store) -> Iterator[str]:
    """One server for the module's tests and backend (each starts in 2-5 s on a loaded machine)."""
    DATA["store"] = module_store
    server = Server(module_store.data_dir, free_port(), database_url=module_store.url).start()
    try:
        with server.client() as http:
            deadline = time.monotonic() + 10
            while http.get("/api/v1/marketdata/AAPL").status_code != 200:  # risk needs a market price
                assert time.monotonic() < deadline, "no market data"
                time.sleep(0.05)
        yield server.url
    finally:
        server.terminate()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def oms(*args: str, home: Path, url: str, stdin: str | None = None, **env: str) -> Result:
    result = CliRunner().invoke(app, list(args), input=stdin, env={"HOME": str(home), "OMS_URL": url, "COLUMNS": "200", **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def until(probe: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_trading_session_from_the_command_line(url: str, home: Path) -> None:
    ask = Decimal(as_json(oms("quotes", "AAPL", "--json", home=home, url=url))["quotes"][0]["ask"])
    filled = as_json(oms("orders", "submit", "buy", "100", "AAPL", "--price", str(ask + 1), "--account", "ACC-EQ-2",
                         "--json", "--cl-ord-id", "CLI-1", home=home, url=url))["order"]
    assert (filled["status"], filled["quantity"], filled["cl_ord_id"]) == ("pending_new", "100", "CLI-1")
    resting = oms("orders", "submit", "buy", "50", "AAPL", "-p", "200.00", "-a", "ACC-EQ-2", "--user", "alice", home=home, url=url)
    assert resting.exit_code == 0 and " pending_new: buy 50 AAPL @ 200.00 limit day on ACC-EQ-2" in resting.stdout
    rest_id = resting.stdout.split()[0]
    replaced = oms("orders", "replace", rest_id, "--quantity", "80", "--price", "201.00", "--user", "alice", home=home, url=url)
    assert replaced.exit_code == 0 and "replace to quantity 80, price 201.00 requested" in replaced.stdout
    until(lambda: as_json(oms("orders", "show", rest_id, "--json", home=home, url=url))["order"]["quantity"] == "80")
    assert oms("orders", "cancel", rest_id, "--user", "alice", home=home, url=url).stdout.startswith(f"{rest_id} pending_cancel")

    blotter = oms("orders", "list", "--account", "ACC-EQ-2", home=home, url=url).stdout
    assert "2 orders" in blotter and filled["order_id"] in blotter and rest_id in blotter
    shown = oms("orders", "show", rest_id, home=home, url=url).stdout
    assert "ReplaceRequested" in shown and "alice" in shown
    until(lambda: as_json(oms("positions", "--account", "ACC-EQ-2", "--json", home=home, url=url))["count"] == 1)
    position = as_json(oms("positions", "--account", "ACC-EQ-2", "--json", home=home, url=url))["positions"][0]
    assert position["quantity"] == "100" and Decimal(position["avg_price"]) <= ask + 1
    assert "ACC-EQ-2" in oms("positions", home=home, url=url).stdout
    assert as_json(oms("executions", "--order", filled["order_id"], "--json", home=home, url=url))["count"] >= 1
    assert "UST-10Y" in oms("instruments", home=home, url=url).stdout
    assert "AAPL" in oms("quotes", home=home, url=url).stdout

    refused = oms("orders", "submit", "buy", "2000000", "AAPL", "-p", str(ask), "-a", "ACC-EQ-2", home=home, url=url)
    assert refused.exit_code == 1
    assert refused.stderr == ("refused (422 RISK_MAX_QUANTITY): quantity 2000000 is above the desk:EQUITIES limit of "
                              "1000000 [rule=max_order_quantity]\n")
    too_late = oms("orders", "cancel", filled["order_id"], "--json", home=home, url=url)
    assert too_late.exit_code == 1 and json.loads(too_late.stdout)["error"]["code"] == "TOO_LATE"
    assert oms("orders", "show", "O999", home=home, url=url).stderr == "refused (404 UNKNOWN_ORDER): unknown order 'O999'\n"
    assert oms("quotes", "NOPE", home=home, url=url).exit_code == 1

    bad = oms("orders", "submit", "buy", "1.5x", "AAPL", "-p", "1", "-a", "ACC-EQ-2", home=home, url=url)
    assert bad.exit_code == 2 and bad.stderr == "bad input: quantity must be a decimal number, got '1.5x'\n"
    assert oms("orders", "submit", "purchase", "1", "AAPL", "-a", "ACC-EQ-2", home=home, url=url).exit_code == 2
    assert oms("orders", "list", "--since", "yesterday", home=home, url=url).exit_code == 2
    assert oms("orders", "replace", rest_id, home=home, url=url).stderr.startswith("bad input: a replace needs")
    assert oms("positions", home=home, url="ftp://nowhere").exit_code == 2


def test_algorithms_and_staged_orders_from_the_command_line(url: str, home: Path) -> None:
    from datetime import UTC, datetime, timedelta

    bid = Decimal(as_json(oms("quotes", "MSFT", "--json", home=home, url=url))["quotes"][0]["bid"])
    limit = str((bid * Decimal("0.95")).quantize(Decimal("0.01")))  # children rest
    end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    alice = ("--user", "alice")
    started = oms("algos", "start", "twap", "buy", "1000", "MSFT", "--limit", limit, "--end", end, "-a", "ACC-EQ-1", *alice,
                  home=home, url=url)
    assert started.exit_code == 0, started.stderr
    assert f" working: twap buy 1000 MSFT limit {limit} until " in started.stdout
    algo_id = started.stdout.split()[0]
    children = as_json(oms("algos", "show", algo_id, "--json", home=home, url=url))["children"]
    assert children and {c["parent_id"] for c in children} == {algo_id}
    assert children[0]["order_id"] in oms("algos", "show", algo_id, home=home, url=url).stdout  # the children's table
    assert algo_id in oms("algos", "list", home=home, url=url).stdout
    assert f"{algo_id} paused (lunch)" in oms("algos", "pause", algo_id, "--reason", "lunch", *alice, home=home, url=url).stdout
    assert f"{algo_id} working" in oms("algos", "resume", algo_id, *alice, home=home, url=url).stdout
    assert as_json(oms("algos", "modify", algo_id, "-q", "800", "--json", *alice, home=home, url=url))["quantity"] == "800"
    assert f"{algo_id} done" in oms("algos", "cancel", algo_id, *alice, home=home, url=url).stdout
    early = oms("algos", "start", "twap", "buy", "10", "MSFT", "--end", "2020-01-01T00:00:00Z", "-a", "ACC-EQ-1", *alice,
                home=home, url=url)
    assert early.exit_code == 1 and "INVALID_ALGO" in early.stderr and "end time must be after the start time" in early.stderr
    bad = oms("algos", "start", "sniper", "buy", "10", "MSFT", "-a", "ACC-EQ-1", home=home, url=url)
    assert bad.exit_code == 2 and bad.stderr.startswith("bad input: kind must be one of twap, vwap, pov, iceberg")

    staged = oms("staged", "stage", "buy", "30", "MSFT", "-p", limit, "-a", "ACC-EQ-1", "--for", "alice", "--note", "add",
                 "--user", "demo", home=home, url=url)
    assert staged.exit_code == 0 and " staged: buy 30 MSFT @ " in staged.stdout and "for alice" in staged.stdout, staged.stderr
    staged_id = staged.stdout.split()[0]
    assert staged_id in oms("staged", "list", home=home, url=url).stdout
    assert "picked up by alice" in oms("staged", "pick-up", staged_id, *alice, home=home, url=url).stdout
    released = oms("staged", "release", staged_id, *alice, home=home, url=url)
    assert released.exit_code == 0 and f"{staged_id} released" in released.stdout and " pending_new: buy 30 MSFT" in released.stdout
    late = oms("staged", "cancel", staged_id, "--user", "demo", home=home, url=url)
    assert late.exit_code == 1 and late.stderr.startswith("refused (409 TOO_LATE)")
    # Leave no working order behind (the next test counts what a kill switch cancels).
    made = re.search(r"order (O\d+)", released.stdout)
    assert made is not None
    assert oms("orders", "cancel", made.group(1), *alice, home=home, url=url).exit_code == 0
    until(lambda: as_json(oms("orders", "show", made.group(1), "--json", home=home, url=url))["order"]["status"] == "canceled")


def test_risk_commands_of_a_risk_officer(url: str, home: Path) -> None:
    limits = oms("risk", "limits", home=home, url=url)
    assert limits.exit_code == 0 and "desk:EQUITIES" in limits.stdout and "kill switches: none" in limits.stdout
    assert as_json(oms("risk", "limits", "--json", home=home, url=url))["limits"]["firm:DEMO"]["price_collar_pct"] == "10"

    too_big = oms("risk", "what-if", "buy", "2000000", "AAPL", "-a", "ACC-EQ-1", "-p", "230", home=home, url=url)
    assert too_big.exit_code == 1 and "RISK_MAX_QUANTITY" in too_big.stdout and "WOULD BE REFUSED" in too_big.stdout
    assert oms("risk", "what-if", "buy", "10", "AAPL", "-a", "ACC-EQ-1", "-p", "230", home=home, url=url).exit_code == 0
    basket = [{"account": "ACC-EQ-1", "symbol": "AAPL", "side": "buy", "quantity": 10, "price": "230"},
              {"account": "ACC-EQ-2", "symbol": "AAPL", "side": "buy", "quantity": "30000", "price": 230.5}]
    answer = oms("risk", "what-if", "--basket", "-", "--json", home=home, url=url, stdin=json.dumps(basket))
    assert answer.exit_code == 1, answer.stderr
    assert [o["would_be_accepted"] for o in json.loads(answer.stdout)["orders"]] == [True, False]
    assert json.loads(answer.stdout)["credit"]["ACC-EQ-2"]["basket_buys"] == "6915000.0"  # 230.5 read as text, not a float
    typo = oms("risk", "what-if", "--basket", "-", home=home, url=url, stdin='[{"acount": "ACC-EQ-1"}]')
    assert typo.exit_code == 2 and "basket order 0" in typo.stderr

    order_id = as_json(oms("orders", "submit", "buy", "5", "AAPL", "-p", "200", "-a", "ACC-EQ-1", "--json", home=home,
                           url=url))["order"]["order_id"]
    usage = as_json(oms("risk", "usage", "--account", "ACC-EQ-1", "--json", home=home, url=url))
    assert usage["usage"][0]["working_buys"] == "5"
    assert "order-to-trade" in oms("risk", "usage", home=home, url=url).stdout
    killed = oms("risk", "kill", "account:ACC-EQ-1", "--reason", "review", "--user", "risk", home=home, url=url)
    assert killed.exit_code == 0 and killed.stdout == f"kill switch engaged on account:ACC-EQ-1; canceling {order_id}\n"
    denied = oms("risk", "release", "account:ACC-EQ-1", "--reason", "mine", "--user", "alice", home=home, url=url)
    assert denied.exit_code == 1 and denied.stderr.startswith("refused (403 NOT_PERMITTED)")
    assert oms("risk", "release", "account:ACC-EQ-1", "--reason", "done", home=home, url=url, OMS_USER="risk").exit_code == 0

    # Wrong credentials: refused in one line, nothing saved.
    login = oms("login", "--username", "alice", "--password", "not-her-password", home=home, url=url)
    assert login.exit_code == 1 and login.stderr.startswith("refused (401 BAD_CREDENTIALS)")
    assert not (home / ".config" / "openoms" / "credentials").exists()


def test_login_saves_a_session_the_next_commands_use_and_logout_ends_it(url: str, home: Path) -> None:
    store = DATA["store"].users()  # the server's own user store, as `oms users add` writes it
    store.create("carol", ["trader"], ["ACC-EQ-1"], actor="test")
    store.set_password("carol", "carol-long-passphrase", actor="test")
    store.close()
    login = oms("login", "--username", "carol", "--password", "carol-long-passphrase", home=home, url=url)
    assert login.exit_code == 0, login.stderr
    assert (home / ".config" / "openoms" / "credentials").exists()
    listed = oms("orders", "list", "--json", home=home, url=url)
    assert listed.exit_code == 0, listed.stderr
    assert oms("logout", home=home, url=url).exit_code == 0


def test_the_installed_command_answers_and_says_when_no_server_answers(url: str, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "openoms", *args], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "HOME": str(tmp_path), "COLUMNS": "200"})
        assert "Traceback" not in result.stdout + result.stderr
        return result

    listed = run("orders", "list", "--url", url, "--json")
    assert listed.returncode == 0 and "orders" in json.loads(listed.stdout)
    nowhere = f"http://127.0.0.1:{free_port()}"
    dead = run("positions", "--url", nowhere, "--timeout", "2")
    assert dead.returncode == 2 and dead.stderr.startswith(f"no OpenOMS answering at {nowhere}")
    assert len(dead.stderr.strip().splitlines()) == 1


def readme_section() -> str:
    text = README.read_text()
    start = text.index("## CLI and Python SDK\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_examples_run_as_written(server_factory: Any, tmp_path: Path) -> None:
    """Each command line of the section, then its first Python example, against a fresh server."""
    server = server_factory().start()
    with server.client() as http:
        until(lambda: all(http.get(f"/api/v1/marketdata/{s}").status_code == 200 for s in ("AAPL", "MSFT")))
    section = readme_section()
    printed = []
    for line in re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "oms", line
        result = oms(*words[1:], home=tmp_path, url=server.url)
        assert result.exit_code == 0, f"{line}: {result.stdout}{result.stderr}"
        printed.append(result.stdout)
    assert printed[1].startswith("O1 pending_new: buy 100 AAPL @ 240.00") and "kill switch released" in printed[-1]

    example = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0].replace("http://127.0.0.1:8000", server.url)
    with contextlib.redirect_stdout(io.StringIO()) as output:
        exec(compile(example, "README.md", "exec"), {})
    lines = output.getvalue().splitlines()
    assert lines[0].endswith(" pending_new") and lines[1] == "RISK_MAX_QUANTITY 1000000" and lines[2].startswith("True ")
