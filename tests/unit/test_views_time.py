"""The views' ISO 8601 times: the cached date and time part must never show in another second."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.service.views import iso


def reference(ts: int) -> str:
    seconds, ns = divmod(ts, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=ns // 1000).isoformat().replace("+00:00", "Z")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 4_102_444_800 * 10**9 - 1), min_size=1, max_size=6), st.integers(0, 999_999_999))
def test_iso_is_what_datetime_writes_in_any_order_of_calls(moments: list[int], nudge: int) -> None:
    for ts in [*moments, moments[0] - moments[0] % 10**9 + nudge, moments[0] - moments[0] % 10**9]:
        assert iso(ts) == reference(ts)


def test_whole_seconds_have_no_fraction_as_isoformat() -> None:
    assert iso(1_790_000_000_000_000_000) == "2026-09-21T14:13:20Z"
    assert iso(1_790_000_000_000_001_000) == "2026-09-21T14:13:20.000001Z"
