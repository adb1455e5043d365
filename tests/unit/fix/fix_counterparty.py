"""A scripted FIX counterparty for unit tests over a real TCP connection: our codec on the other
end of an initiator (FixVenue, FixMarketDataFeed), answering its Logon and sending what the
test says, with the sequence numbers the test chooses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from openoms.fix import codec
from openoms.fix.codec import FixMessage, Framer


class Counterparty:
    """The venue's end: answers the Logon, then sends what the test scripts and keeps what it got."""

    def __init__(self, sender: str = "EXCH", target: str = "OPENOMS") -> None:
        self.sender, self.target = sender, target
        self.seq = 1
        self.received: asyncio.Queue[FixMessage] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        framer = Framer()
        while data := await reader.read(65536):
            framer.feed(data)
            for frame in framer.frames():
                assert isinstance(frame, bytes)
                message = codec.parse(frame)
                if message.msg_type == "A":
                    self.send("A", [(98, "0"), (108, "30"), (141, "Y")])
                else:
                    await self.received.put(message)

    def send(self, msg_type: str, body: list[tuple[int, str]], poss_dup: bool = False) -> None:
        assert self.writer is not None
        now = codec.utc_timestamp(time.time_ns())
        self.writer.write(codec.encode(msg_type, self.sender, self.target, self.seq, now, body, poss_dup=poss_dup,
                                       orig_sending_time=now if poss_dup else None))
        self.seq += 1

    async def expect(self, msg_type: str) -> FixMessage:
        while True:
            message = await asyncio.wait_for(self.received.get(), 5)
            if message.msg_type == msg_type:
                return message

    async def drop(self) -> None:
        assert self.writer is not None and self.server is not None
        self.writer.close()
        self.server.close()


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")
