"""Sign-in throttling over HTTP: repeated wrong passwords for one user, or from one address, get
429 with Retry-After (even with the right password), recorded and logged; the lock lifts when
the failures leave the window, and a successful sign-in forgets its user's failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from openoms.access.users import UserStore
from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config, ConfigError

WINDOW_S = 2
PASSWORDS = {"ann": "ann's password 1", "ben": "ben's password 1"}


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Any, UserStore]]:
    """``request.param`` (indirect): the failure window in seconds, WINDOW_S unless a test says."""
    window = getattr(request, "param", WINDOW_S)
    data = tmp_path / "data"
    users = UserStore(data / "users.sqlite")
    for name, password in PASSWORDS.items():
        users.create(name, ["trader"], ["ACC-EQ-1"], password=password)
    oms = build(Config(data_dir=data, market_data=False, gc_threshold=0, gil_switch_interval_us=0, login_max_failures=3,
                       login_max_failures_per_address=5, login_failure_window_seconds=window))
    app = create_app(oms, manage_lifecycle=True)
    with TestClient(app, raise_server_exceptions=False, client=("10.0.0.1", 40000)):
        yield app, users


def sign_in(app: Any, user: str, password: str, address: str = "10.0.0.1") -> Any:
    client = TestClient(app, raise_server_exceptions=False, client=(address, 40001))
    return client.post("/api/v1/auth/login", json={"username": user, "password": password})


def test_wrong_passwords_for_one_user_lock_it_with_429_and_retry_after(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    app, users = server
    for _ in range(3):
        assert sign_in(app, "ann", "not the password").status_code == 401
    caplog.set_level(logging.WARNING, logger="openoms.access")
    locked = sign_in(app, "ann", PASSWORDS["ann"])  # the right password, but too late
    assert locked.status_code == 429, locked.text
    error = locked.json()["error"]
    assert error["code"] == "TOO_MANY_SIGN_INS" and error["detail"]["by"] == "user" and error["detail"]["max_failures"] == 3
    assert "too many failed sign-ins for user 'ann'" in error["message"]
    assert 1 <= int(locked.headers["Retry-After"]) <= WINDOW_S
    assert sign_in(app, "ANN", PASSWORDS["ann"], address="10.0.0.2").status_code == 429  # the user, from anywhere
    assert sign_in(app, "ben", PASSWORDS["ben"]).status_code == 200  # others from the same address are not
    assert any("sign-in throttled: user 'ann'" in r.getMessage() for r in caplog.records)
    denials = [(d["username"], d["target"]) for d in users.denials()]
    assert ("ann", "wrong username or password (from 10.0.0.1)") in denials
    assert any(u == "ann" and t.startswith("throttled: too many failed sign-ins for user 'ann'") for u, t in denials)

    time.sleep(int(locked.headers["Retry-After"]) + 0.2)  # the failures leave the window
    assert sign_in(app, "ann", PASSWORDS["ann"]).status_code == 200
    # A successful sign-in forgets the user's failures: two more are not yet a lock.
    assert [sign_in(app, "ann", "wrong again!").status_code for _ in range(2)] == [401, 401]
    assert sign_in(app, "ann", PASSWORDS["ann"]).status_code == 200


# A long window: five argon2 checks on a loaded CI machine can take longer than WINDOW_S.
@pytest.mark.parametrize("server", [60], indirect=True)
def test_one_address_guessing_many_names_is_locked_out(server: Any) -> None:
    app, _ = server
    for name in ("a1", "a2", "a3", "a4", "a5"):  # one failure per name: no user lock, five for the address
        assert sign_in(app, name, "guess guess guess", address="192.0.2.9").status_code == 401
    locked = sign_in(app, "ben", PASSWORDS["ben"], address="192.0.2.9")
    assert locked.status_code == 429 and locked.json()["error"]["detail"]["by"] == "address"
    assert "address 192.0.2.9" in locked.json()["error"]["message"]
    assert sign_in(app, "ben", PASSWORDS["ben"], address="192.0.2.10").status_code == 200


@pytest.mark.parametrize("settings", [{"login_max_failures": -1}, {"login_max_failures_per_address": -2},
                                      {"login_failure_window_seconds": 0}])
def test_throttle_settings_are_checked(tmp_path: Path, settings: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="login_"):
        Config(data_dir=tmp_path, **settings).validate()  # type: ignore[arg-type]


def test_a_limit_of_zero_turns_the_count_off(tmp_path: Path) -> None:
    data = tmp_path / "data"
    UserStore(data / "users.sqlite").create("cy", ["trader"], ["ACC-EQ-1"], password="cy's password 12")
    oms = build(Config(data_dir=data, market_data=False, login_max_failures=0, login_max_failures_per_address=0))
    app = create_app(oms, manage_lifecycle=True)
    with TestClient(app, raise_server_exceptions=False):
        assert {sign_in(app, "cy", "wrong password").status_code for _ in range(8)} == {401}
        assert sign_in(app, "cy", "cy's password 12").status_code == 200


def test_parallel_wrong_passwords_are_counted_before_the_password_check(server: Any) -> None:
    """Attempts count from before the slow password check: of many guesses sent at once, only
    the limit's worth are checked (401), the rest are refused (429) without being checked."""
    app, _ = server

    async def guesses(count: int) -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40002))
        async with httpx.AsyncClient(transport=transport, base_url="http://oms") as client:
            answers = await asyncio.gather(*(client.post("/api/v1/auth/login", json={"username": "ann", "password": f"guess {i}"})
                                             for i in range(count)))
        return [a.status_code for a in answers]

    statuses = asyncio.run(guesses(12))  # the fixture's client runs the app's lifespan; these only sign in
    assert sorted(statuses) == [401] * 3 + [429] * 9, statuses
    assert sign_in(app, "ann", PASSWORDS["ann"], address="198.51.100.8").status_code == 429  # locked for everyone
