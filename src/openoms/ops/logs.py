"""Logging set-up: plain text (default) or one JSON object per line (``log_format = "json"``).

JSON lines carry ``timestamp`` (UTC ISO), ``level``, ``logger``, ``message`` and whatever the
call passed in ``extra`` (``order_id``, ``cl_ord_id``, ``account``, ``seq``, ``code``...), so a log
pipeline can follow an order by id. ``OrderEventLog`` writes those lines for the order events
that operations care about (refusals, venue rejects, kill switches, limit changes) at INFO,
and every order event at DEBUG; it checks the level once per batch, so at INFO it costs one
type test per event.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from ..domain import events as ev

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_NOTABLE = frozenset({ev.CommandRejected, ev.OrderRejected, ev.KillSwitchEngaged, ev.KillSwitchReleased,
                      ev.LimitsChanged, ev.RestrictedListChanged, ev.TradeBusted, ev.TradeCorrected})


def json_formatter() -> logging.Formatter:
    return JsonFormatter("{levelname}{name}{message}", style="{", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"})


def configure_logging(level: str, log_format: str = "text") -> None:
    """Root logging for ``oms serve``: every logger (uvicorn's too) goes to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())


def event_fields(event: ev.Event) -> dict[str, Any]:
    """The ``extra`` of an order-event log line: ids first, then who."""
    fields: dict[str, Any] = {"seq": event.seq, "event": type(event).__name__, "user": event.actor.user,
                              "channel": event.actor.source}
    for name in ("order_id", "cl_ord_id", "account", "route_id", "exec_id", "scope"):
        value = getattr(event, name, None)
        if value is not None:
            fields[name] = value
    reason = getattr(event, "reason", None)
    if reason is not None and not isinstance(reason, str):
        fields["code"] = reason.code.value
        fields["detail"] = reason.detail
    return fields


class OrderEventLog:
    """A runtime subscriber that logs durable order events with their ids (logger ``openoms.orders``)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("openoms.orders")

    def __call__(self, events: Sequence[ev.Event]) -> None:
        log = self.log
        if log.isEnabledFor(logging.DEBUG):
            for event in events:
                log.debug("%s %s", type(event).__name__, getattr(event, "order_id", "") or "", extra=event_fields(event))
            return
        if not log.isEnabledFor(logging.INFO):
            return
        for event in events:
            if type(event) in _NOTABLE:
                log.info("%s %s", type(event).__name__, _summary(event), extra=event_fields(event))


def _summary(event: ev.Event) -> str:
    reason = getattr(event, "reason", None)
    subject = getattr(event, "order_id", None) or getattr(event, "scope", None) or getattr(event, "cl_ord_id", None) or ""
    if reason is None:
        return str(subject)
    message = reason if isinstance(reason, str) else f"{reason.code.value}: {reason.message}"
    return f"{subject} {message}".strip()
