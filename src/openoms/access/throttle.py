"""Sign-in throttling: after repeated wrong passwords for one user name, or from one client
address, further sign-ins are refused for a while (HTTP 429 with Retry-After) without checking
the password, so passwords cannot be guessed at speed and the deliberately slow argon2 check
cannot be used to tie up the server.

Counted in a moving window (the ``limits`` library, in memory): ``per_user`` failures for one
user name, ``per_address`` failures from one address (a guesser trying many names) within
``window_seconds``. An attempt holds its place in both counts from before its password is
checked (``begin``) until the check is done (``end``), so parallel attempts cannot all pass
while the slow check runs: a wrong password then stays counted, a right one forgets its user
name's failures (not its address's). Counts are per process and start again when the server
restarts; every failure and every refusal is recorded with the user and address in the user
store (``GET /api/v1/users/changes``) and logged.
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
        self._checking: dict[tuple[str, str], int] = {}  # attempts whose password is being checked now

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().lower()

    def begin(self, username: str, address: str) -> Refusal | None:
        """Count a sign-in attempt before its password is checked; None when it may go on (then
        ``end`` must follow), else which count refuses it and for how long. Decided and counted
        in one synchronous step, so concurrent attempts on the event loop see each other."""
        keys = (("user", self._key(username)), ("address", address))
        for by, key in keys:
            item = self._limits[by]
            if item is None:
                continue
            reset_at, remaining = self._limiter.get_window_stats(item, by, key)
            if remaining - self._checking.get((by, key), 0) <= 0:
                return Refusal(by, key, max(1, math.ceil(reset_at - time.time())), item.amount)
        for place in keys:
            self._checking[place] = self._checking.get(place, 0) + 1
        return None

    def end(self, username: str, address: str, succeeded: bool | None) -> None:
        """The attempt ``begin`` let through is done: True signed in (forget the user name's
        failures), False wrong password (a failure in both counts), None not decided (an error)."""
        keys = (("user", self._key(username)), ("address", address))
        for place in keys:
            left = self._checking.get(place, 0) - 1
            if left > 0:
                self._checking[place] = left
            else:
                self._checking.pop(place, None)
        for by, key in keys:
            item = self._limits[by]
            if item is None:
                continue
            if succeeded is False:
                self._limiter.hit(item, by, key)
            elif succeeded and by == "user":
                self._limiter.clear(item, by, key)
