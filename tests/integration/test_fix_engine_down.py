"""When the journal fails the engine stops accepting commands; a FIX client must then get a
refusal for everything it sent, including orders that were already on their way in. When the
journal's PostgreSQL server only went away, orders on their way in are answered once it is back.

The first test injects a failing SQLite journal (it tests the FIX gateway, not the store); the
second runs on PostgreSQL behind a TCP proxy the test cuts and restores."""

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
from pgproxy import Proxy, through

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
        self.seen: list[FixMessage] = []  # every message received, matched or not

    def send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        self.writer.write(codec.encode(msg_type, "DEMO-CLIENT", "OPENOMS", self.seq, codec.utc_timestamp(0), body))
        self.seq += 1

    async def expect(self, **want: str) -> FixMessage:
        tags = {getattr(t, name): value for name, value in want.items()}
        while True:
            for frame in self.framer.frames():
                if isinstance(frame, bytes):
                    message = codec.parse(frame)
                    self.seen.append(message)
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


def test_a_fix_order_in_flight_while_postgresql_reconnects_is_answered_once_durable_not_refused(
    pg_url: str, pg_proxy: Proxy, tmp_path: Path
) -> None:
    """The journal's server goes away with a FIX order on its way in: it is not refused (it was
    decided and will be journaled), new orders are refused with the reason meanwhile, and once
    the server is back the order is acknowledged and the session goes on, with no restart."""

    async def scenario() -> None:
        config = Config(data_dir=tmp_path / "data", database_url=through(pg_url, pg_proxy.port), market_data=False,
                        limits_file=NO_COLLAR, fix_port=free_port(), gc_threshold=0, gil_switch_interval_us=0)
        oms = build(config)
        oms.serve_fix = True
        await oms.start()
        try:
            client = Client(*await asyncio.open_connection("127.0.0.1", config.fix_port))
            client.send(t.LOGON, [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")])
            await client.expect(MsgType="A")
            client.send(t.NEW_ORDER_SINGLE, order("P1"))
            await client.expect(ClOrdID="P1", ExecType="0")
            await asyncio.sleep(0.2)  # the simulated venue's ack journaled: nothing in flight
            await oms.runtime.drain()
            pg_proxy.cut()
            client.send(t.NEW_ORDER_SINGLE, order("P2"))  # decided; its commit finds the server gone
            while oms.runtime.suspended is None:
                await asyncio.sleep(0.01)
            client.send(t.NEW_ORDER_SINGLE, order("P3"))  # refused at once, with the reason
            refused = await client.expect(ClOrdID="P3", ExecType="8")
            assert "ENGINE_UNAVAILABLE" in refused.fields[t.Text] and "reconnecting" in refused.fields[t.Text]
            await asyncio.sleep(1.5)  # past the gateway's once-a-second check for orders to abandon
            pg_proxy.restore()
            await client.expect(ClOrdID="P2", ExecType="0")  # acknowledged, not rejected
            client.send(t.NEW_ORDER_SINGLE, order("P4"))
            await client.expect(ClOrdID="P4", ExecType="0")
            assert oms.runtime.reconnects == 1
            p2 = [m.fields.get(t.ExecType) for m in client.seen if m.fields.get(t.ClOrdID) == "P2"]
            assert p2 == ["A", "0"], p2  # pending new, then new at the venue: never refused and then done anyway
            assert {str(o.cl_ord_id) for o in oms.engine.orders.values()} == {"P1", "P2", "P4"}
            client.writer.close()
        finally:
            pg_proxy.restore()
            await oms.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
