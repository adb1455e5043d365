"""When the journal fails the engine stops accepting commands; a FIX client must then get a
refusal for everything it sent, including orders that were already on their way in."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from pathlib import Path

from openoms.bootstrap import build
from openoms.config import Config
from openoms.domain import events as ev
from openoms.fix import codec
from openoms.fix import tags as t
from openoms.fix.codec import FixMessage, Framer
from openoms.journal.sqlite import SqliteJournal

NO_COLLAR = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"


class BreakableJournal(SqliteJournal):
    broken = False

    def append(self, events: Sequence[ev.Event]) -> None:
        if self.broken:
            raise OSError("disk is gone")
        super().append(events)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.seq, self.framer = reader, writer, 1, Framer()

    def send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        self.writer.write(codec.encode(msg_type, "DEMO-CLIENT", "OPENOMS", self.seq, codec.utc_timestamp(0), body))
        self.seq += 1

    async def expect(self, **want: str) -> FixMessage:
        tags = {getattr(t, name): value for name, value in want.items()}
        while True:
            for frame in self.framer.frames():
                if isinstance(frame, bytes):
                    message = codec.parse(frame)
                    if all(message.fields.get(tag) == value for tag, value in tags.items()):
                        return message
            self.framer.feed(await asyncio.wait_for(self.reader.read(65536), 5))


def order(cl_ord_id: str) -> list[tuple[int, str]]:
    return [(t.ClOrdID, cl_ord_id), (t.Symbol, "AAPL"), (t.Side_, "1"), (t.TransactTime, "20261126-12:00:00"),
            (t.OrderQty, "10"), (t.OrdType_, "2"), (t.Price, "100.00")]


def test_orders_in_flight_when_the_journal_fails_are_refused_not_forgotten(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = Config(data_dir=tmp_path / "data", market_data=False, limits_file=NO_COLLAR, fix_port=free_port(),
                        gc_threshold=0, gil_switch_interval_us=0)
        journal = BreakableJournal(config.journal_path)
        oms = build(config, journal=journal)
        oms.serve_fix = True
        await oms.start()
        try:
            client = Client(*await asyncio.open_connection("127.0.0.1", config.fix_port))
            client.send(t.LOGON, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")])
            await client.expect(MsgType="A")
            client.send(t.NEW_ORDER_SINGLE, order("A1"))
            await client.expect(ClOrdID="A1", ExecType="0")
            journal.broken = True
            client.send(t.NEW_ORDER_SINGLE, order("A2"))  # posted, then its batch fails to commit
            client.send(t.ORDER_CANCEL_REQUEST, [(t.OrigClOrdID, "A1"), (t.ClOrdID, "A1-C"), (t.Symbol, "AAPL"),
                                                 (t.Side_, "1"), (t.TransactTime, "20261126-12:00:00")])
            refused = await client.expect(ClOrdID="A2", ExecType="8")
            assert "ENGINE_UNAVAILABLE" in refused.fields[t.Text]
            answer = await client.expect(ClOrdID="A1-C")
            assert answer.msg_type in (t.ORDER_CANCEL_REJECT, t.BUSINESS_MESSAGE_REJECT)
            client.send(t.NEW_ORDER_SINGLE, order("A3"))  # after the failure: refused at once
            assert "ENGINE_UNAVAILABLE" in (await client.expect(ClOrdID="A3", ExecType="8")).fields[t.Text]
            client.writer.close()
        finally:
            oms.runtime.running = False
            if oms.fix is not None:
                await oms.fix.stop()
                oms.fix.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
