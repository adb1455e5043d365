"""Operations routes: Prometheus ``/metrics`` and the readiness probe ``/ready``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from ..bootstrap import OMS
from ..ops.metrics import CONTENT_TYPE, venue_connected
from .rest import json_response

# A journal write taking longer than this means the disk (or database) is stuck: not ready.
JOURNAL_STALL_SECONDS = 5.0


def readiness(oms: OMS) -> tuple[bool, dict[str, Any]]:
    """Whether this instance should get traffic, with each check and why it failed."""
    runtime = oms.runtime
    writing_since = runtime.writing_since
    stalled = bool(writing_since) and time.perf_counter() - writing_since > JOURNAL_STALL_SECONDS
    checks: dict[str, Any] = {
        "engine": {"ok": runtime.running and runtime.unavailable is None,
                   "detail": runtime.unavailable or ("running" if runtime.running else "not started")},
        "journal": {"ok": runtime.unavailable is None and not stalled,
                    "detail": runtime.unavailable or (f"a commit has been in progress for over {JOURNAL_STALL_SECONDS:g} s"
                                                      if stalled else "writable"),
                    "reconnects": runtime.reconnects,
                    "committed_seq": runtime.committed_seq, "durability": oms.journal.durability},
    }
    venues = {venue_id: {"ok": venue_connected(gateway), "session_open": bool(getattr(gateway, "session_open", True))}
              for venue_id, gateway in sorted(oms.runtime.venues.items())}
    checks["venues"] = {"ok": bool(venues) and all(v["ok"] for v in venues.values()), "detail": venues}
    return all(check["ok"] for check in checks.values()), checks


def register_ops_routes(app: FastAPI, oms: OMS) -> None:
    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(oms.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/ready", tags=["operations"],
             summary="Readiness: 200 when the engine runs, the journal commits and every venue is connected; else 503")
    async def ready() -> Response:
        ok, checks = readiness(oms)
        return json_response({"ready": ok, "checks": checks}, 200 if ok else 503)
