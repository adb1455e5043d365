"""What both clients share: the server URL, the credential, timeouts and the retry policy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpx

from .. import __version__
from .errors import OmsInputError


@dataclass(frozen=True, slots=True)
class ClientSettings:
    url: str
    token: str | None
    user: str | None
    timeout: float
    retries: int
    backoff: float

    @classmethod
    def of(cls, url: str, token: str | None, user: str | None, timeout: float, retries: int,
           backoff: float) -> ClientSettings:
        base = url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise OmsInputError(f"server URL must be http://host:port or https://host:port, got {url!r}")
        if not timeout > 0:
            raise OmsInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if retries < 0 or backoff < 0:
            raise OmsInputError("retries and backoff cannot be negative")
        for name, value in (("token", token), ("user", user)):
            if value is not None and (not value.strip() or any(c in value for c in "\r\n")):
                raise OmsInputError(f"{name} must be a non-empty single line")
        return cls(base, token.strip() if token else None, user.strip() if user else None, timeout, retries, backoff)

    def headers(self, with_body: bool) -> dict[str, str]:
        headers = {"accept": "application/json", "user-agent": f"openoms-client/{__version__}"}
        if with_body:
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.user:
            headers["x-oms-user"] = self.user
        return headers

    def with_token(self, token: str | None) -> ClientSettings:
        return replace(self, token=token)

    def unreachable(self, exc: httpx.TransportError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer from {self.url} within {self.timeout:g} s ({type(exc).__name__})"
        return f"no OpenOMS answering at {self.url}: {exc or type(exc).__name__}"

    def stream_delay(self, failures: int) -> float:
        """Seconds before reconnecting the stream after ``failures`` failures in a row."""
        return float(min(self.backoff * 2**failures, 5.0))
