"""Scale-out on the local NATS JetStream: two engine shards (`oms serve --role engine`, real
processes, SQLite journals) and a gateway. Orders for different accounts are handled by the
shards that own them; one shard is killed (-9) in the middle of a burst and restarted: every
order is journaled exactly once, on its account's shard, and every caller gets its answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from openoms.bootstrap import OMS, build
from openoms.cluster.gateway import ClusterGateway
from openoms.cluster.partition import ShardError, Subjects, shard_of
from openoms.config import Config
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from openoms.domain.values import Side
from openoms.journal.codec import decode
from openoms.journal.sqlite import SqliteJournal
from pgproxy import Proxy, through
from stores import Store

TRADER = cmd.Actor("demo", "test")
NO_MARKET_LIMITS = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"
ON_SHARD_0, ON_SHARD_1 = "ACC-EQ-1", "ACC-EQ-2"


def submit(account: str, cl_ord_id: str) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(actor=TRADER, account=AccountId(account), cl_ord_id=ClientOrderId(cl_ord_id),
                           symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(10), price=Decimal("1.00"))


class Shard:
    def __init__(self, number: int, nats_url: str, prefix: str, root: Path) -> None:
        self.number = number
        self.data_dir = root / f"shard{number}"
        self.args = [sys.executable, "-m", "openoms", "serve", "--role", "engine", "--shard", f"{number}/2", "--nats-url", nats_url,
                     "--prefix", prefix, "--data-dir", str(self.data_dir), "--no-market-data"]
        self.log = root / f"shard{number}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Shard:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "OMS_LIMITS_FILE": str(NO_MARKET_LIMITS)})
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def accepted(self) -> list[tuple[str, str]]:
        """(account, ClOrdID) of every order this shard's journal accepted."""
        journal = SqliteJournal(self.data_dir / "journal.sqlite")
        try:
            return [(e.account, e.cl_ord_id) for e in journal.events() if isinstance(e, ev.OrderAccepted)]
        finally:
            journal.close()


def test_accounts_are_partitioned_stably() -> None:
    assert (shard_of(ON_SHARD_0, 2), shard_of(ON_SHARD_1, 2)) == (0, 1)
    assert all(shard_of(f"ACC-{i}", 4) in range(4) for i in range(100))
    assert len({shard_of(f"ACC-{i}", 4) for i in range(100)}) == 4


def test_two_shards_split_accounts_and_a_killed_shard_loses_nothing(tmp_path: Path, nats_url: str) -> None:
    prefix = f"t{secrets.token_hex(4)}"
    subjects = Subjects(prefix)
    shards = [Shard(n, nats_url, prefix, tmp_path).start() for n in (0, 1)]
    sent: list[tuple[str, str]] = []

    async def scenario() -> None:
        gateway = ClusterGateway(nats_url, 2, subjects)
        await gateway.connect()
        try:
            # Both shards up: each account's orders are answered by its own shard.
            commands = [submit(account, f"{account}-A{i}") for i in range(10) for account in (ON_SHARD_0, ON_SHARD_1)]
            sent.extend((c.account, c.cl_ord_id) for c in commands)
            answers = await asyncio.gather(*(gateway.execute(c, timeout=60) for c in commands))
            for command, answer in zip(commands, answers, strict=True):
                assert answer["rejected"] is None, answer
                assert answer["shard"] == shard_of(command.account, 2)
                assert answer["order"]["order_id"].startswith(f"S{answer['shard']}-O")

            # A burst to shard 1, and shard 1 is killed at once: some of it is journaled, some
            # perhaps journaled but not acknowledged to JetStream, the rest not even taken.
            burst = [submit(ON_SHARD_1, f"{ON_SHARD_1}-B{i}") for i in range(40)]
            sent.extend((c.account, c.cl_ord_id) for c in burst)
            pending = [asyncio.ensure_future(gateway.execute(c, timeout=90)) for c in burst]
            await asyncio.sleep(0.05)
            shards[1].kill()
            # More for shard 1 while it is down: they wait in the stream.
            late = [submit(ON_SHARD_1, f"{ON_SHARD_1}-L{i}") for i in range(10)]
            sent.extend((c.account, c.cl_ord_id) for c in late)
            pending += [asyncio.ensure_future(gateway.execute(c, timeout=90)) for c in late]
            # Shard 0 goes on serving its accounts meanwhile.
            during = [submit(ON_SHARD_0, f"{ON_SHARD_0}-C{i}") for i in range(5)]
            sent.extend((c.account, c.cl_ord_id) for c in during)
            for answer in await asyncio.gather(*(gateway.execute(c, timeout=60) for c in during)):
                assert answer["shard"] == 0 and answer["rejected"] is None
            shards[1].start()
            burst_answers = await asyncio.gather(*pending)
            assert [a["order"]["cl_ord_id"] for a in burst_answers] == [c.cl_ord_id for c in burst + late]
            assert all(a["shard"] == 1 and a["rejected"] is None for a in burst_answers)

            # Cancels reach the owning shard by the cluster order id.
            order_id = burst_answers[-1]["order"]["order_id"]
            canceled = await gateway.execute(cmd.CancelOrder(actor=TRADER, order_id=OrderId(order_id)), timeout=60)
            assert canceled["rejected"] is None and canceled["order"]["order_id"] == order_id
            with pytest.raises(ShardError):
                await gateway.execute(cmd.CancelOrder(actor=TRADER, order_id=OrderId("O1")))
        finally:
            await gateway.close()

    try:
        asyncio.run(scenario())
        assert [shard.terminate() for shard in shards] == [0, 0]
    finally:
        for shard in shards:
            if shard.proc is not None and shard.proc.poll() is None:
                shard.kill()
        asyncio.run(delete_streams(nats_url, subjects))

    on_shard = [shard.accepted() for shard in shards]
    for number, accepted in enumerate(on_shard):
        assert len(accepted) == len(set(accepted)), f"shard {number} accepted an order twice"
        assert {shard_of(account, 2) for account, _ in accepted} == {number}
    assert sorted(on_shard[0] + on_shard[1]) == sorted(sent)


async def delete_streams(url: str, subjects: Subjects) -> None:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for stream in (subjects.command_stream, subjects.event_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream)
    finally:
        await connection.close()



@contextlib.asynccontextmanager
async def shard_one(tmp_path: Path, nats_url: str, subjects: Subjects, **settings: Any) -> AsyncIterator[tuple[OMS, ClusterGateway, Any]]:
    """Shard 1 of 2 in this process (SQLite journal under tmp_path unless ``settings`` say
    otherwise), a gateway and a raw NATS connection; everything stopped and the test's streams
    deleted afterwards."""
    from openoms.cluster.shard import EngineShard

    oms = build(Config(data_dir=tmp_path / "shard1", market_data=False, limits_file=NO_MARKET_LIMITS, **settings))
    oms.recover()
    await oms.start()
    stop = asyncio.Event()
    shard = EngineShard(oms, nats_url, 1, 2, subjects)
    running = asyncio.create_task(shard.run(stop))
    gateway = ClusterGateway(nats_url, 2, subjects)
    await gateway.connect()
    connection = await nats.connect(nats_url)
    try:
        yield oms, gateway, connection
    finally:
        await connection.close()
        await gateway.close()
        stop.set()
        await running
        await oms.stop()
        await shard.close()
        await delete_streams(nats_url, subjects)



def test_a_command_delivered_twice_has_one_effect_and_the_same_answer(tmp_path: Path, nats_url: str) -> None:
    """What a shard killed between its commit and its JetStream ack sees on restart: the same
    command again. The engine refuses the duplicate ClOrdID; the shard answers with the order."""
    from openoms.cluster.wire import REPLY_HEADER, decode_reply, encode_command

    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with shard_one(tmp_path, nats_url, subjects) as (oms, gateway, connection):
            command = submit(ON_SHARD_1, "TWICE")
            first = await gateway.execute(command, timeout=30)
            inbox = connection.new_inbox()
            answers = await connection.subscribe(inbox)
            await connection.jetstream().publish(subjects.commands(1), encode_command(command),
                                                 headers={"Nats-Msg-Id": "redelivered", REPLY_HEADER: inbox})
            second = decode_reply((await answers.next_msg(timeout=30)).data)
            accepted = sum(1 for e in oms.journal.events() if isinstance(e, ev.OrderAccepted) and e.cl_ord_id == "TWICE")
        return first, second, accepted

    first, second, accepted = asyncio.run(scenario())
    assert accepted == 1
    assert second["rejected"] is None and second["order"]["order_id"] == first["order"]["order_id"]


async def send_raw(connection: nats.aio.client.Client, subjects: Subjects, command: cmd.Command, msg_id: str) -> dict[str, Any]:
    """Put ``command`` on shard 1's command stream as a redelivery would bring it (the gateway's
    publish is deduplicated by its message id) and wait for the shard's answer."""
    from openoms.cluster.wire import REPLY_HEADER, decode_reply, encode_command

    inbox = connection.new_inbox()
    answers = await connection.subscribe(inbox)
    await connection.jetstream().publish(subjects.commands(1), encode_command(command),
                                         headers={"Nats-Msg-Id": msg_id, REPLY_HEADER: inbox})
    answer: dict[str, Any] = decode_reply((await answers.next_msg(timeout=30)).data)
    await answers.unsubscribe()
    return answer


def test_a_new_order_reusing_a_clordid_with_other_terms_is_refused(tmp_path: Path, nats_url: str) -> None:
    """Only the same order again is answered with the order it made; another order under the same
    ClOrdID is refused as a duplicate, as a single `oms serve` refuses it."""
    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def scenario() -> list[dict[str, Any]]:
        async with shard_one(tmp_path, nats_url, subjects) as (_, gateway, connection):
            first = await gateway.execute(submit(ON_SHARD_1, "X1"), timeout=30)
            other = msgspec.structs.replace(submit(ON_SHARD_1, "X1"), symbol=Symbol("MSFT"), side=Side.SELL,
                                            quantity=Decimal(5000))
            cheaper = msgspec.structs.replace(submit(ON_SHARD_1, "X1"), price=Decimal("0.99"))
            return [first, await send_raw(connection, subjects, other, "other"),
                    await send_raw(connection, subjects, cheaper, "cheaper"),
                    await send_raw(connection, subjects, submit(ON_SHARD_1, "X1"), "same")]

    first, other, cheaper, same = asyncio.run(scenario())
    assert first["rejected"] is None
    for refused in (other, cheaper):
        assert refused["order"] is None and refused["rejected"]["code"] == "DUPLICATE_CL_ORD_ID"
        assert [e["type"] for e in refused["events"]] == ["CommandRejected"]
    assert same["rejected"] is None and same["order"]["order_id"] == first["order"]["order_id"] and same["events"] == []


def test_a_cancel_or_replace_delivered_twice_is_answered_with_the_order(tmp_path: Path, nats_url: str) -> None:
    """A cancel or replace journaled but not acknowledged comes again after a crash: the engine
    refuses it (already pending, duplicate ClOrdID, too late) with no second effect, and the shard
    answers with the order, as the first time. Another request under a used ClOrdID stays refused."""
    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def scenario() -> tuple[list[dict[str, Any]], list[ev.Event]]:
        async with shard_one(tmp_path, nats_url, subjects) as (oms, gateway, connection):

            async def settled(order_id: str) -> None:
                for _ in range(3000):
                    order = oms.engine.orders[OrderId(order_id)]
                    if order.pending is None and order.routes:
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError(f"order {order_id} still has a request pending")

            placed = await gateway.execute(submit(ON_SHARD_1, "P1"), timeout=30)
            cluster_id = placed["order"]["order_id"]
            local = OrderId(cluster_id.partition("-")[2])
            await settled(local)
            replace = cmd.ReplaceOrder(actor=TRADER, order_id=local, cl_ord_id=ClientOrderId("R1"), quantity=Decimal(5))
            answers = [await gateway.execute(msgspec.structs.replace(replace, order_id=OrderId(cluster_id)), timeout=30)]
            answers.append(await send_raw(connection, subjects, replace, "replace-again"))  # pending or done: either way
            await settled(local)
            answers.append(await send_raw(connection, subjects, replace, "replace-done"))
            answers.append(await send_raw(connection, subjects, msgspec.structs.replace(replace, quantity=Decimal(7)), "other-replace"))
            cancel = cmd.CancelOrder(actor=TRADER, order_id=local, cl_ord_id=ClientOrderId("C1"))
            answers.append(await gateway.execute(msgspec.structs.replace(cancel, order_id=OrderId(cluster_id)), timeout=30))
            await settled(local)
            answers.append(await send_raw(connection, subjects, cancel, "cancel-again"))
            answers.append(await send_raw(connection, subjects, msgspec.structs.replace(cancel, cl_ord_id=ClientOrderId("C2")),
                                          "other-cancel"))
            return answers, list(oms.journal.events())

    answers, journal = asyncio.run(scenario())
    replaced, replace_again, replace_done, other_replace, canceled, cancel_again, other_cancel = answers
    order_id = replaced["order"]["order_id"]
    for first in (replaced, canceled):
        assert first["rejected"] is None and first["events"]
    for again in (replace_again, replace_done, cancel_again):
        assert again["rejected"] is None and again["order"]["order_id"] == order_id and again["events"] == []
    assert replace_done["order"]["cl_ord_id"] == "R1" and replace_done["order"]["quantity"] == "5"
    assert cancel_again["order"]["status"] == "canceled" and cancel_again["order"]["cl_ord_id"] == "C1"
    assert other_replace["rejected"]["code"] == "DUPLICATE_CL_ORD_ID" and other_cancel["rejected"]["code"] == "TOO_LATE"
    assert [e.cl_ord_id for e in journal if isinstance(e, ev.ReplaceRequested | ev.CancelRequested)] == ["R1", "C1"]


def test_commands_that_come_while_the_journal_reconnects_keep_their_order(pg_url: str, pg_proxy: Proxy, tmp_path: Path,
                                                                          nats_url: str) -> None:
    """PostgreSQL goes away under a shard: the runtime is suspended. A command that comes then
    waits for it to resume and is executed in its place in the stream, before a command sent
    after the journal is back (not given out again after the ack wait, behind it)."""
    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(3000):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached in time")

    async def scenario() -> list[dict[str, Any]]:
        async with shard_one(tmp_path, nats_url, subjects, database_url=through(pg_url, pg_proxy.port),
                             fix_enabled=False) as (oms, gateway, _):
            try:
                answers = [await gateway.execute(submit(ON_SHARD_1, "BEFORE"), timeout=30)]
                await asyncio.wait_for(oms.runtime.drain(), 30)
                pg_proxy.cut()
                during = asyncio.ensure_future(gateway.execute(submit(ON_SHARD_1, "DURING"), timeout=60))
                await until(lambda: oms.runtime.suspended is not None)
                waits = asyncio.ensure_future(gateway.execute(submit(ON_SHARD_1, "WAITS"), timeout=60))
                await asyncio.sleep(0.5)  # taken by the shard while the journal is away
                pg_proxy.restore()
                await until(lambda: oms.runtime.suspended is None)
                after = await gateway.execute(submit(ON_SHARD_1, "AFTER"), timeout=60)
                return [*answers, await during, await waits, after]
            finally:
                pg_proxy.restore()  # before the shard stops: its journal must be reachable to close

    answers = asyncio.run(scenario())
    assert all(answer["rejected"] is None and answer["order"] is not None for answer in answers), answers
    # Read from the database directly (the OMS's reading session was cut with the proxy).
    journal = (decode(payload) for _, payload in Store("postgresql", tmp_path / "shard1", pg_url).rows())
    assert [e.cl_ord_id for e in journal if isinstance(e, ev.OrderAccepted)] == ["BEFORE", "DURING", "WAITS", "AFTER"]


def test_the_shard_judges_with_the_user_the_gateway_authenticated(tmp_path: Path, nats_url: str) -> None:
    """Users the shard's reference data does not know trade on their entitled accounts only, and
    may amend only orders of accounts they trade: checked on the shard, which knows the account."""
    from openoms.access.policy import Principal, Role

    subjects = Subjects(f"t{secrets.token_hex(4)}")
    alice = Principal("alice", frozenset({Role.TRADER}), frozenset({ON_SHARD_1}))
    bob = Principal("bob", frozenset({Role.TRADER}), frozenset({ON_SHARD_0}))
    auditor = Principal("carol", frozenset({Role.COMPLIANCE}), frozenset())  # sees every account, trades none

    async def scenario() -> list[dict[str, Any]]:
        async with shard_one(tmp_path, nats_url, subjects) as (_, gateway, _connection):
            def as_(user: str, account: str, cl_ord_id: str) -> cmd.SubmitOrder:
                return msgspec.structs.replace(submit(account, cl_ord_id), actor=cmd.Actor(user, "test"))

            placed = await gateway.execute(as_("alice", ON_SHARD_1, "A1"), principal=alice)
            refused = await gateway.execute(as_("bob", ON_SHARD_1, "B1"), principal=bob)
            order_id = OrderId(placed["order"]["order_id"])
            answers = [placed, refused]
            for who in (bob, auditor, alice):
                answers.append(await gateway.execute(cmd.CancelOrder(actor=cmd.Actor(who.user, "test"), order_id=order_id),
                                                     principal=who))
            return answers

    placed, refused, by_bob, by_auditor, by_alice = asyncio.run(scenario())
    assert placed["rejected"] is None and placed["order"]["account"] == ON_SHARD_1
    assert refused["rejected"]["code"] == "NOT_PERMITTED"
    assert (by_bob["error"]["code"], by_bob["error"]["status"]) == ("UNKNOWN_ORDER", 404)
    assert (by_auditor["error"]["code"], by_auditor["error"]["status"]) == ("NOT_ENTITLED", 403)
    assert by_alice["rejected"] is None and by_alice["order"]["status"] == "pending_cancel"


def test_a_caller_that_timed_out_sends_again_and_gets_the_one_order(tmp_path: Path, nats_url: str) -> None:
    """The shard is down: the caller's wait ends (the gateway's 504); the command waits in the
    stream. Sent again with the same ClOrdID once the shard is up, it is answered with the order
    the first send made: one order, whichever copy the shard decided first."""
    from openoms.bootstrap import build
    from openoms.cluster.shard import EngineShard
    from openoms.config import Config

    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def scenario() -> tuple[dict[str, Any], int]:
        gateway = ClusterGateway(nats_url, 2, subjects)
        await gateway.connect()
        oms = build(Config(data_dir=tmp_path / "shard1", market_data=False, limits_file=NO_MARKET_LIMITS))
        oms.recover()
        try:
            with pytest.raises(TimeoutError):
                await gateway.execute(submit(ON_SHARD_1, "AGAIN"), timeout=0.3)  # no shard 1 yet
            await oms.start()
            stop = asyncio.Event()
            engine_shard = EngineShard(oms, nats_url, 1, 2, subjects)
            running = asyncio.create_task(engine_shard.run(stop))
            try:
                again = await gateway.execute(submit(ON_SHARD_1, "AGAIN"), timeout=30)
            finally:
                stop.set()
                await running
                await oms.stop()
                await engine_shard.close()
            accepted = sum(1 for e in oms.journal.events() if isinstance(e, ev.OrderAccepted) and e.cl_ord_id == "AGAIN")
        finally:
            await gateway.close()
            await delete_streams(nats_url, subjects)
        return again, accepted

    again, accepted = asyncio.run(scenario())
    assert accepted == 1
    assert again["rejected"] is None and again["order"]["cl_ord_id"] == "AGAIN" and again["order"]["order_id"] == "S1-O1"


def test_the_event_stream_is_the_journal_complete_and_in_order(store: Store, nats_url: str) -> None:
    """Events journaled while no shard process was sending (as just before a crash) go out when
    the shard next starts, before anything new: the stream holds every journal seq once, in order."""
    from openoms.bootstrap import build
    from openoms.cluster.shard import EngineShard
    from openoms.cluster.wire import SEQ_HEADER, decode_events

    subjects = Subjects(f"t{secrets.token_hex(4)}")

    async def shard_run(orders: list[str]) -> None:
        oms = build(store.config(market_data=False, limits_file=NO_MARKET_LIMITS))
        oms.recover()
        await oms.start()
        stop = asyncio.Event()
        engine_shard = EngineShard(oms, nats_url, 1, 2, subjects)
        running = asyncio.create_task(engine_shard.run(stop))
        gateway = ClusterGateway(nats_url, 2, subjects)
        await gateway.connect()
        try:
            for cl_ord_id in orders:
                assert (await gateway.execute(submit(ON_SHARD_1, cl_ord_id), timeout=30))["rejected"] is None
        finally:
            await gateway.close()
            stop.set()
            await running
            await oms.stop()
            await engine_shard.close()

    async def unsent(orders: list[str]) -> None:  # the engine alone: journaled, never sent
        oms = build(store.config(market_data=False, limits_file=NO_MARKET_LIMITS))
        oms.recover()
        await oms.start()
        try:
            for cl_ord_id in orders:
                assert (await oms.runtime.execute(submit(ON_SHARD_1, cl_ord_id))).rejected is None
        finally:
            await oms.stop()

    async def stream() -> list[tuple[str, list[ev.Event]]]:
        connection = await nats.connect(nats_url)
        try:
            js = connection.jetstream()
            last = (await js.stream_info(subjects.event_stream)).state.last_seq
            messages = [await js.get_msg(subjects.event_stream, seq) for seq in range(1, last + 1)]
            return [((m.headers or {})[SEQ_HEADER], decode_events(m.data or b"")) for m in messages]
        finally:
            await connection.close()

    async def scenario() -> list[tuple[str, list[ev.Event]]]:
        try:
            await shard_run(["E1", "E2"])
            await unsent(["U1", "U2", "U3"])
            await shard_run(["E3"])
            return await stream()
        finally:
            await delete_streams(nats_url, subjects)

    sent = asyncio.run(scenario())
    journal = store.journal()
    try:
        journaled = list(journal.events())
    finally:
        journal.close()
    seqs = [e.seq for _, events in sent for e in events]
    assert seqs == [e.seq for e in journaled] == list(range(1, len(journaled) + 1))
    assert [e for _, events in sent for e in events] == journaled
    assert all(span == f"{events[0].seq}-{events[-1].seq}" for span, events in sent)
    assert {e.cl_ord_id for _, events in sent for e in events if isinstance(e, ev.OrderAccepted)} == {"E1", "E2", "U1", "U2", "U3", "E3"}
