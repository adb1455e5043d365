"""The live stream's bookkeeping, without I/O: where to (re)connect and which messages are new.

Contract (``GET /api/v1/stream``, WebSocket): the server sends JSON objects with a ``type``;
numbered ones carry ``seq``. The first message is a ``snapshot`` (or ``resumed`` when the
server still holds what followed the client's ``from_seq``); updates follow. A client that
loses the connection reconnects with ``?from_seq=<last seq it holds>`` (plus ``epoch`` when the
server named one), and gets what it missed or a fresh snapshot.

The cursor drops any update whose ``seq`` it already holds, so it does not matter whether the
server reads ``from_seq`` as "after" or "from" it. When updates carry ``prev`` (the number of
the previous update sent to this client), a ``prev`` beyond the last ``seq`` held means
something was missed: ``StreamGap`` makes the client reconnect from there. A change of
``epoch`` means the server's numbering restarted: the cursor forgets its ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from .calls import OmsProtocolError
from .models import StreamMessage

STREAM_PATH = "/api/v1/stream"
_decode = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal).decode


class StreamGap(Exception):
    """An update says an earlier one never arrived: reconnect from the last ``seq`` held."""


@dataclass(slots=True)
class StreamCursor:
    last_seq: int | None = None
    epoch: str | None = None

    def url(self, base_url: str, path: str = STREAM_PATH) -> str:
        parts = urlsplit(base_url.rstrip("/"))
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        query = {}
        if self.last_seq is not None:
            query["from_seq"] = str(self.last_seq)
            if self.epoch is not None:
                query["epoch"] = self.epoch
        return urlunsplit((scheme, parts.netloc, parts.path + path, urlencode(query), ""))

    def accept(self, raw: str | bytes) -> StreamMessage | None:
        """The message to hand on, or None for one already held."""
        try:
            data = _decode(raw)
        except msgspec.DecodeError as exc:
            raise OmsProtocolError(f"the stream sent something that is not JSON: {exc}") from None
        kind = data.get("type")
        if not isinstance(kind, str):
            raise OmsProtocolError(f"a stream message without a type: {str(data)[:200]}")
        seq = data.get("seq")
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        epoch = data.get("epoch")
        if isinstance(epoch, str):
            if self.epoch is not None and epoch != self.epoch:
                self.last_seq = None  # another run of the server: its numbers are not ours
            self.epoch = epoch
        if kind in ("snapshot", "resumed"):
            if seq is not None:
                self.last_seq = seq
            return StreamMessage(type=kind, seq=seq, data=data)
        if seq is None:
            return StreamMessage(type=kind, data=data)  # unnumbered (quotes, marks): the latest value counts
        if self.last_seq is not None:
            if seq <= self.last_seq:
                return None
            prev = data.get("prev")
            if isinstance(prev, int) and not isinstance(prev, bool) and prev > self.last_seq:
                raise StreamGap(f"updates {self.last_seq + 1}..{prev} were missed")
        self.last_seq = seq
        return StreamMessage(type=kind, seq=seq, data=data)
