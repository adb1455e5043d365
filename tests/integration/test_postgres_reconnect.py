"""PostgreSQL goes away and comes back while the OMS runs: the engine refuses new commands while
the journal is unreachable (and says why), reconnects on its own with backoff, settles the
batch whose commit was cut by the server's tail and hash, and resumes without a restart.
Nothing acknowledged is lost, nothing is written twice, nothing refused takes effect.

The database is reached through a TCP proxy in this test that can be cut and restored (the
shared server is never stopped), or the writer's session is terminated on the server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from builders import snapshot
from openoms.api.ops_routes import readiness
from openoms.bootstrap import OMS, build
from openoms.config import Config
from openoms.domain import commands as cmd
from openoms.domain import events as ev
from openoms.domain.ids import AccountId, ClientOrderId, Symbol
from openoms.domain.values import Side
from openoms.journal.chain import verify
from openoms.journal.codec import decode
from openoms.journal.postgres import PostgresJournal
from openoms.service.runtime import EngineUnavailable
from pgproxy import Proxy, through
from stores import Store

TRADER = cmd.Actor("demo", "test")
NO_MARKET_LIMITS = Path(__file__).resolve().parents[1] / "limits_without_collar.toml"
WAIT = 20.0  # bound on every await: a hang is a failure, not a stuck run


def submit(cl_ord_id: str) -> cmd.SubmitOrder:
    return cmd.SubmitOrder(actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(cl_ord_id),
                           symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(10), price=Decimal("1.00"))


def config(url: str, tmp_path: Path, **settings: object) -> Config:
    return Config(data_dir=tmp_path / "data", database_url=url, market_data=False, limits_file=NO_MARKET_LIMITS,
                  fix_enabled=False, **settings)  # type: ignore[arg-type]


async def accepted(oms: OMS, cl_ord_id: str) -> None:
    """Submitted, acknowledged, and the simulated venue's answer journaled: nothing left in flight."""
    outcome = await asyncio.wait_for(oms.runtime.execute(submit(cl_ord_id)), WAIT)
    assert outcome.rejected is None, outcome.rejected
    order_id = outcome.order["order_id"] if outcome.order else ""
    await until(lambda: oms.engine.orders[order_id].status.value == "new")  # type: ignore[index]
    await asyncio.wait_for(oms.runtime.drain(), WAIT)


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def journaled_cl_ord_ids(store: Store) -> list[str]:
    """Every accepted order's ClOrdID as the database holds it (read directly, not through the OMS)."""
    return [str(e.cl_ord_id) for e in (decode(p) for _, p in store.rows()) if isinstance(e, ev.OrderAccepted)]


def check_journal(store: Store, live: dict[str, object]) -> None:
    """The hash chain is whole and replaying it gives exactly the state the running engine held."""
    reader = store.reader()
    report = verify(reader.records())
    reader.close()
    assert report.ok, report
    reopened = build(Config(data_dir=store.data_dir, database_url=store.url, market_data=False,
                            limits_file=NO_MARKET_LIMITS, fix_enabled=False))
    reopened.recover()
    assert snapshot(reopened.engine) == live
    reopened.journal.close()


def test_database_cut_refuses_new_orders_then_reconnects_and_resumes(pg_url: str, pg_proxy: Proxy, tmp_path: Path) -> None:
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> dict[str, object]:
        oms = build(config(through(pg_url, pg_proxy.port), tmp_path))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            pg_proxy.cut()
            # Decided, then its commit fails: the caller is not answered until the journal settles.
            during = asyncio.ensure_future(oms.runtime.execute(submit("DURING")))
            await until(lambda: oms.runtime.suspended is not None)
            ready, checks = readiness(oms)
            assert not ready and "journal unavailable, reconnecting" in checks["journal"]["detail"]
            with pytest.raises(EngineUnavailable, match="reconnecting"):  # new work is refused meanwhile
                await oms.runtime.execute(submit("REFUSED"))
            await asyncio.sleep(0.5)  # several reconnect attempts fail while the server stays away
            assert not during.done() and oms.runtime.failure is None
            pg_proxy.restore()
            outcome = await asyncio.wait_for(during, WAIT)
            assert outcome.rejected is None and outcome.order is not None and outcome.order["cl_ord_id"] == "DURING"
            assert oms.runtime.suspended is None and oms.runtime.reconnects == 1
            assert readiness(oms)[0]
            await accepted(oms, "AFTER")
            return snapshot(oms.engine)
        finally:
            pg_proxy.restore()
            await oms.stop()

    live = asyncio.run(scenario())
    assert journaled_cl_ord_ids(store) == ["BEFORE", "DURING", "AFTER"]
    check_journal(store, live)


@pytest.mark.parametrize("durability", ["group", "event"])  # event: a commit per event, so a prefix of the batch lands
def test_a_commit_whose_answer_was_lost_is_found_on_the_server_and_not_written_twice(pg_url: str, pg_proxy: Proxy,
                                                                                       tmp_path: Path, durability: str) -> None:
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> dict[str, object]:
        oms = build(config(through(pg_url, pg_proxy.port), tmp_path, durability=durability))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            pg_proxy.swallow_next_reply()
            await accepted(oms, "LANDED")  # committed on the server; the answer never came back
            assert pg_proxy.swallowed.is_set() and oms.runtime.reconnects == 1
            await accepted(oms, "AFTER")
            return snapshot(oms.engine)
        finally:
            await oms.stop()

    live = asyncio.run(scenario())
    assert journaled_cl_ord_ids(store) == ["BEFORE", "LANDED", "AFTER"]
    check_journal(store, live)


def test_the_writer_session_terminated_on_the_server_is_replaced_on_its_own(pg_url: str, tmp_path: Path) -> None:
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> dict[str, object]:
        oms = build(config(pg_url, tmp_path))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            writer = oms.journal.writer_backend_pid  # type: ignore[attr-defined]
            with psycopg.connect(pg_url, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (writer,)).fetchone() == (True,)
            await accepted(oms, "AFTER")
            assert oms.runtime.reconnects == 1 and oms.journal.writer_backend_pid != writer  # type: ignore[attr-defined]
            # Readers (order history) whose sessions were cut get a new connection on their next read.
            history = oms.journal.events_at(oms.engine.orders[next(iter(oms.engine.orders))].seqs)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = 'openoms-journal-reader' AND datname = current_database() AND pid <> pg_backend_pid()").fetchall()
            assert cut and all(ok for (ok,) in cut)
            await asyncio.sleep(0.1)
            assert oms.journal.events_at(oms.engine.orders[next(iter(oms.engine.orders))].seqs) == history
            return snapshot(oms.engine)
        finally:
            await oms.stop()

    live = asyncio.run(scenario())
    assert journaled_cl_ord_ids(store) == ["BEFORE", "AFTER"]
    check_journal(store, live)


def test_a_database_that_stays_away_fails_the_engine_closed_after_the_bound(pg_url: str, pg_proxy: Proxy, tmp_path: Path) -> None:
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> None:
        oms = build(config(through(pg_url, pg_proxy.port), tmp_path, database_reconnect_s=1.0))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            pg_proxy.cut()
            with pytest.raises(EngineUnavailable, match="journal not back within 1s"):
                await asyncio.wait_for(oms.runtime.execute(submit("LOST")), WAIT)
            assert oms.runtime.failure is not None and oms.runtime.suspended is None
            pg_proxy.restore()
            await asyncio.sleep(0.2)
            with pytest.raises(EngineUnavailable):  # failed closed: only a restart (replay) brings it back
                await oms.runtime.execute(submit("LATER"))
        finally:
            pg_proxy.restore()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(oms.stop(), WAIT)

    asyncio.run(scenario())
    # The refused order was never written; a restart replays what was acknowledged.
    assert journaled_cl_ord_ids(store) == ["BEFORE"]


def test_a_server_lost_while_idle_is_noticed_before_the_next_order(pg_url: str, pg_proxy: Proxy, tmp_path: Path) -> None:
    """No order is being written when the server goes: the once-a-second probe notices, /ready
    says why, and the journal is reconnected before anyone needs it."""
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> dict[str, object]:
        oms = build(config(through(pg_url, pg_proxy.port), tmp_path))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            pg_proxy.cut()
            await until(lambda: oms.runtime.suspended is not None)  # within about a second, with no write
            ready, checks = readiness(oms)
            assert not ready and "journal unavailable, reconnecting" in checks["journal"]["detail"]
            with pytest.raises(EngineUnavailable, match="reconnecting"):
                await oms.runtime.execute(submit("REFUSED"))
            pg_proxy.restore()
            await until(lambda: oms.runtime.suspended is None)
            assert oms.runtime.reconnects == 1 and oms.runtime.failure is None and readiness(oms)[0]
            await accepted(oms, "AFTER")
            return snapshot(oms.engine)
        finally:
            pg_proxy.restore()
            await oms.stop()

    live = asyncio.run(scenario())
    assert journaled_cl_ord_ids(store) == ["BEFORE", "AFTER"]
    check_journal(store, live)


def test_a_writer_session_left_behind_by_a_silent_network_is_ended_so_the_reconnect_gets_the_lock(
        pg_url: str, pg_proxy: Proxy, tmp_path: Path) -> None:
    """The network goes silent: the OMS's side of the writer connection breaks (as its keepalive
    gives up), the server never hears of it and its session keeps the writer lock. The reconnect
    ends that session (it is this process's previous writer) instead of waiting it out."""
    store = Store("postgresql", tmp_path / "data", pg_url)

    async def scenario() -> dict[str, object]:
        oms = build(config(through(pg_url, pg_proxy.port), tmp_path, database_reconnect_s=12.0))
        await oms.start()
        try:
            await accepted(oms, "BEFORE")
            old = oms.journal.writer_backend_pid  # type: ignore[attr-defined]
            pg_proxy.go_silent()
            # The proxy takes new connections at once, so the engine can be suspended and back
            # between two polls: wait for the reconnect it leaves behind, not the passing state.
            await until(lambda: oms.runtime.reconnects >= 1 and oms.runtime.suspended is None)
            assert oms.runtime.failure is None and oms.runtime.reconnects == 1
            with psycopg.connect(pg_url, autocommit=True) as admin:  # the lingering session is gone
                assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (old,)).fetchone() == (0,)
            await accepted(oms, "AFTER")
            return snapshot(oms.engine)
        finally:
            await oms.stop()

    live = asyncio.run(scenario())
    assert journaled_cl_ord_ids(store) == ["BEFORE", "AFTER"]
    check_journal(store, live)


def test_journal_connections_carry_tcp_keepalive_and_user_timeout_unless_the_url_sets_them(pg_url: str, tmp_path: Path) -> None:
    """A silent network is noticed by the kernel (keepalive probes, unacknowledged-write bound) in
    seconds instead of ~15 min; read from the writer's and a reader's sockets, and a setting the
    URL gives (keepalives_idle=30) wins."""
    separator = "&" if "?" in pg_url else "?"
    journal = PostgresJournal(f"{pg_url}{separator}keepalives_idle=30")
    try:
        journal.records()  # opens this thread's reader connection
        for conn in (journal._conn, journal._local.conn):
            with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 2
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 10_000
    finally:
        journal.close()
