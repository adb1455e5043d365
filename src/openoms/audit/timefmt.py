"""Fixed-width UTC timestamps for the audit record and exports (always the same number of digits,
so they sort as text and parse the same way everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_us(ts: int) -> str:
    """ns since the epoch -> ``2026-03-02T14:30:00.000000Z`` (microseconds, truncated)."""
    seconds, ns = divmod(ts, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{ns // 1000:06d}Z"


def iso_ms(ts: int) -> str:
    """ns since the epoch -> ``2026-03-02T14:30:00.000Z`` (milliseconds, truncated)."""
    seconds, ns = divmod(ts, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{ns // 1_000_000:03d}Z"
