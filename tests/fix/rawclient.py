"""A minimal blocking FIX client over a raw socket, for session-level tests (it can send what a
real engine never would: wrong checksums, gaps, garbage) and for the benchmark's load."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from openoms.fix import codec
from openoms.fix import tags as t
from openoms.fix.codec import FixMessage, Framer, Garbled


class RawClient:
    def __init__(self, port: int, sender: str = "DEMO-CLIENT", target: str = "OPENOMS", host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sender, self.target = sender, target
        self.seq = 1
        self.framer = Framer()
        self.received: list[FixMessage] = []

    def message(self, msg_type: str, body: Iterable[tuple[int, str]] = (), seq: int | None = None,
                poss_dup: bool = False, orig_sending_time: str | None = None) -> bytes:
        if seq is None:
            seq = self.seq
            self.seq += 1
        return codec.encode(msg_type, self.sender, self.target, seq, codec.utc_timestamp(time.time_ns()), list(body),
                            poss_dup=poss_dup, orig_sending_time=orig_sending_time)

    def send(self, msg_type: str, body: Iterable[tuple[int, str]] = (), **kw: object) -> None:
        self.sock.sendall(self.message(msg_type, body, **kw))  # type: ignore[arg-type]

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def logon(self, reset: bool = True, heartbeat: int = 30) -> FixMessage:
        body = [(t.EncryptMethod, "0"), (t.HeartBtInt, str(heartbeat))]
        if reset:
            body.append((t.ResetSeqNumFlag, "Y"))
        self.send(t.LOGON, body)
        return self.expect(lambda m: m.msg_type == t.LOGON)

    def read(self, timeout: float = 10.0) -> FixMessage | None:
        """The next message, or None when the connection is closed."""
        self.sock.settimeout(timeout)
        while True:
            for frame in self.framer.frames():
                if not isinstance(frame, Garbled):
                    message = codec.parse(frame)
                    self.received.append(message)
                    return message
            data = self.sock.recv(65536)
            if not data:
                return None
            self.framer.feed(data)

    def drain(self) -> bool:
        """Read whatever has arrived without waiting; True if the connection is closed."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.framer.feed(data)
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)

    def expect(self, match: object, timeout: float = 10.0) -> FixMessage:
        """Read until a message satisfies ``match`` (a predicate, or a dict of tag -> value)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(0.01, deadline - time.monotonic()))
            if message is None:
                raise AssertionError(f"connection closed while waiting; got {[m.fields for m in self.received[-5:]]}")
            if callable(match):
                if match(message):
                    return message
            elif all(message.fields.get(tag) == value for tag, value in match.items()):  # type: ignore[attr-defined]
                return message

    def close(self) -> None:
        self.sock.close()


def new_order(cl_ord_id: str, symbol: str = "AAPL", side: str = "1", qty: str = "100", ord_type: str = "2",
              price: str | None = "100.00", tif: str = "0", **extra: str) -> list[tuple[int, str]]:
    body = [(t.ClOrdID, cl_ord_id), (t.Symbol, symbol), (t.Side_, side), (t.TransactTime, codec.utc_timestamp(time.time_ns())),
            (t.OrderQty, qty), (t.OrdType_, ord_type), (t.TimeInForce_, tif)]
    if price is not None:
        body.append((t.Price, price))
    body += [(int(k.lstrip("_")), v) for k, v in extra.items()]
    return body
