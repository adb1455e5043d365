"""Event <-> bytes. msgpack via msgspec: typed, tagged by class name, Decimal kept as text."""

from __future__ import annotations

import msgspec

from ..domain.events import AnyEvent, Event
from ..posttrade.events import PostTradeEvent
from ..staging.events import StagingEvent

SCHEMA_VERSION = 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent | PostTradeEvent | StagingEvent)  # type: ignore[valid-type]

encode = _encoder.encode


def decode(data: bytes) -> Event:
    event: Event = _decoder.decode(data)
    return event


def to_builtins(event: Event) -> dict[str, object]:
    """A JSON-ready dict of an event, with its type name (for APIs and exports)."""
    data = msgspec.to_builtins(event)
    assert isinstance(data, dict)
    return data
