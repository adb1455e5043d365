"""The live stream's bookkeeping, without I/O: where to (re)connect, what to subscribe with, and
which messages are new.

Protocol (``/api/v1/stream``, WebSocket; README "Stream protocol"): the client's first message is
``{"type": "subscribe", "token", "resume": {"epoch", "seq"} | null}``; the server answers a
``snapshot`` (or ``resumed`` when it still holds what followed ``seq`` of that ``epoch``), then
numbered updates (``seq``, and ``prev``: the number of the previous update sent to this client)
and unnumbered ones (quotes, marks). Messages waiting together come as one JSON array.

The cursor drops any update whose ``seq`` it already holds. A ``prev`` beyond the last ``seq``
held means something was missed: ``StreamGap`` makes the client reconnect and resume from
there, as does the server's ``SLOW_CONSUMER``; ``ENTITLEMENTS_CHANGED`` starts over with a fresh
snapshot; ``UNAUTHENTICATED`` and ``SESSION_ENDED`` raise ``Unauthorized``. A change of ``epoch``
means the server's numbering restarted: the cursor forgets its ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from .calls import OmsProtocolError
from .errors import api_error
from .models import StreamMessage

STREAM_PATH = "/api/v1/stream"
_decode = msgspec.json.Decoder(Any, float_hook=Decimal).decode
_encode = msgspec.json.Encoder().encode


class StreamGap(Exception):
    """An update says an earlier one never arrived: reconnect from the last ``seq`` held."""


@dataclass(slots=True)
class StreamCursor:
    last_seq: int | None = None
    epoch: str | None = None

    def url(self, base_url: str, path: str = STREAM_PATH) -> str:
        parts = urlsplit(base_url.rstrip("/"))
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path + path, "", ""))

    def subscribe(self, token: str | None) -> str:
        """The first message on a new connection: resume from the last ``seq`` held, if any."""
        resume = {"epoch": self.epoch or "", "seq": self.last_seq} if self.last_seq is not None else None
        return _encode({"type": "subscribe", "token": token, "resume": resume}).decode()

    def accept(self, raw: str | bytes) -> list[StreamMessage]:
        """The messages of one frame to hand on (those already held are left out)."""
        try:
            data = _decode(raw)
        except msgspec.DecodeError as exc:
            raise OmsProtocolError(f"the stream sent something that is not JSON: {exc}") from None
        out = []
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict):
                raise OmsProtocolError(f"a stream message that is not an object: {str(item)[:200]}")
            message = self._one(item)
            if message is not None:
                out.append(message)
        return out

    def _one(self, data: dict[str, Any]) -> StreamMessage | None:
        kind = data.get("type")
        if not isinstance(kind, str):
            raise OmsProtocolError(f"a stream message without a type: {str(data)[:200]}")
        if kind == "error":
            self._refused(data)
        if kind == "pong":
            return None
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

    def _refused(self, data: dict[str, Any]) -> None:
        code, message = str(data.get("code", "")), str(data.get("message", ""))
        if code in ("UNAUTHENTICATED", "SESSION_ENDED"):
            raise api_error(401, code, message, data)
        if code == "SLOW_CONSUMER":
            raise StreamGap(f"the server cut the stream off as too far behind: {message}")
        if code == "ENTITLEMENTS_CHANGED":
            self.last_seq = None  # what this user sees changed: a fresh snapshot, not a resume
            raise StreamGap(message or "your accounts changed")
        raise OmsProtocolError(f"the stream refused the subscription: {code}: {message}")
