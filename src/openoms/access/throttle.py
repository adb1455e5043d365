"""Sign-in throttling: after repeated wrong passwords for one user name, or from one client
address, further sign-ins are refused for a while (HTTP 429 with Retry-After) without checking
the password, so passwords cannot be guessed at speed and the deliberately slow argon2 check
cannot be used to tie up the server.

Counted in a moving window (the ``limits`` library, in memory): ``per_user`` failures for one
user name, ``per_address`` failures from one address (a guesser trying many names) within
``window_seconds``. A successful sign-in forgets its user name's failures (not its address's).
Counts start again when the server restarts; every failure and every refusal is recorded with
the user and address in ``users.sqlite`` (``GET /api/v1/users/changes``) and logged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class Refusal:
    by: str  # "user" or "address": which count is over its limit
    key: str
    retry_after_s: int
    failures: int


class SignInThrottle:
    def __init__(self, per_user: int, per_address: int, window_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # A limit of 0 turns that count off.
        self._limits = {"user": RateLimitItemPerSecond(per_user, window_seconds) if per_user > 0 else None,
                        "address": RateLimitItemPerSecond(per_address, window_seconds) if per_address > 0 else None}

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().lower()

    def refused(self, username: str, address: str) -> Refusal | None:
        """None when a sign-in may be tried now; else which count refuses it and for how long."""
        for by, key in (("user", self._key(username)), ("address", address)):
            item = self._limits[by]
            if item is not None and not self._limiter.test(item, by, key):
                reset_at, _ = self._limiter.get_window_stats(item, by, key)
                return Refusal(by, key, max(1, math.ceil(reset_at - time.time())), item.amount)
        return None

    def failed(self, username: str, address: str) -> None:
        for by, key in (("user", self._key(username)), ("address", address)):
            item = self._limits[by]
            if item is not None:
                self._limiter.hit(item, by, key)

    def succeeded(self, username: str) -> None:
        item = self._limits["user"]
        if item is not None:
            self._limiter.clear(item, "user", self._key(username))
