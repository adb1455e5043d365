"""WebSocket stream fan-out: what the stream costs the engine, and how fast updates reach clients.

Two parts, one JSON line at the end:

- ``hub`` (in process): the real runtime, engine, SQLite journal (group commit) and simulated
  venue take ``--orders`` orders (``--window`` in flight) with the stream hub attached and 0, 1,
  10 and 100 subscribers (queues, no sockets); orders/s and updates queued/s. Baseline: 0
  subscribers, same run.
- ``socket``: starts ``oms serve`` (signed-in mode, an API key made with ``oms users``),
  connects ``--clients`` WebSocket clients from a separate process, submits orders over HTTP
  from this one (20 raw keep-alive connections), and counts the updates the clients receive: messages/s delivered
  in total and the delay from an order's HTTP answer to its first update at a client (p50/p99).
  Baseline: the same submissions with no client connected, same run.

    python benchmarks/stream_fanout.py [--orders 20000] [--window 50] [--socket-orders 2000] [--clients 20] [--socket-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_lifecycle import SYMBOL, deep_quote  # the same deep simulated market

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config
from openoms.domain import commands as cmd
from openoms.domain.ids import AccountId, ClientOrderId
from openoms.domain.values import Side

TRADER = cmd.Actor("demo", "bench")
CONNECTIONS = 20  # HTTP connections submitting in the socket part (closed loop)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else 0.0


async def hub_run(orders: int, window: int, subscribers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        # One quote at start (the risk reference price), then none: the workload is the stream, not market data.
        oms = build(Config(data_dir=Path(tmp), market_data_interval_ms=3_600_000, reference_max_age_ms=3_600_000_000))
        app = create_app(oms, trusted_header=True)
        hub = app.state.stream_hub
        await oms.start()
        subs = [hub.subscribe(f"u{n}", None, None)[0] for n in range(subscribers)]
        for sub in subs:
            sub.max_pending = 10**9
        queued = [0]

        async def consume() -> None:
            # What each socket's task does between batches, less the socket write: take the frames, make the text.
            while True:
                for sub in subs:
                    pending = sub.pending
                    queued[0] += len(pending)
                    while pending:
                        seq, prev, text = pending.popleft()
                        _ = f'{{"seq":{seq},"prev":{prev},{text}' if seq else text
                await asyncio.sleep(0.005)

        consumer = asyncio.create_task(consume())
        semaphore = asyncio.Semaphore(window)

        quote = deep_quote(time.time_ns())  # deep liquidity at 100.00: every order fills at once
        oms.quotes.update(quote)
        for venue in oms.venues.values():
            venue.on_quote(quote)

        async def one(n: int) -> None:
            async with semaphore:  # marketable buys (sells would meet working buys: self-trade prevention)
                outcome = await oms.runtime.execute(cmd.SubmitOrder(
                    actor=TRADER, account=AccountId("ACC-EQ-1"), cl_ord_id=ClientOrderId(f"B{n}"), symbol=SYMBOL,
                    side=Side.BUY, quantity=Decimal(100), price=Decimal("100.05")))
                assert outcome.rejected is None, outcome.rejected

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(orders)))
        await oms.runtime.drain()
        elapsed = time.perf_counter() - started
        consumer.cancel()
        queued[0] += sum(len(s.pending) for s in subs)
        published = hub.published
        await oms.stop()
    return {"subscribers": subscribers, "orders_per_s": round(orders / elapsed), "updates": published,
            "frames_per_s": round(queued[0] / elapsed)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc): what the server spends,
    whatever else the machine runs at the same time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clients_process(url: str, key: str, clients: int, expect_orders: int, ready: Any, result: Any) -> None:
    """Runs in its own process: ``clients`` WebSocket subscribers; records when each order's first update arrives."""
    import websockets

    async def main() -> None:
        first_seen: dict[str, float] = {}
        counts = [0] * clients

        async def client(index: int) -> None:
            done: set[str] = set()
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(json.dumps({"type": "subscribe", "token": key}))
                await ws.recv()  # the snapshot
                ready.put(index)
                while True:
                    frame = json.loads(await ws.recv())
                    for message in frame if isinstance(frame, list) else [frame]:
                        if message.get("type") != "order":
                            continue
                        counts[index] += 1
                        cl_ord_id = message["order"]["cl_ord_id"]
                        if cl_ord_id not in first_seen:
                            first_seen[cl_ord_id] = time.time()
                        if message["order"]["status"] == "new":
                            done.add(cl_ord_id)
                    if len(done) == expect_orders:
                        return

        started = time.time()
        await asyncio.gather(*(client(n) for n in range(clients)))
        result.put({"first_seen": first_seen, "messages": sum(counts), "seconds": time.time() - started})

    asyncio.run(main())


async def socket_run(orders: int, clients: int) -> dict[str, Any]:
    import httpx

    orders -= orders % CONNECTIONS

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "openoms", "users", "create-admin", "bench", "--data-dir", str(data)],
                       input="bench password 1\n", text=True, check=True, capture_output=True)
        key = subprocess.run([sys.executable, "-m", "openoms", "users", "api-key", "bench", "--data-dir", str(data)],
                             text=True, check=True, capture_output=True).stdout.strip()
        port = free_port()
        env = dict(os.environ, OMS_FIX_ENABLED="false", OMS_LOG_LEVEL="warning", OMS_MARKET_DATA_INTERVAL_MS="3600000",
                   OMS_REFERENCE_MAX_AGE_MS="3600000000")
        server = subprocess.Popen([sys.executable, "-m", "openoms", "serve", "--port", str(port), "--data-dir", str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
                for _ in range(300):
                    try:
                        if (await http.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                context = multiprocessing.get_context("spawn")
                ready, result = context.Queue(), context.Queue()
                process = context.Process(target=clients_process, args=(f"ws://127.0.0.1:{port}/api/v1/stream", key, clients,
                                                                        orders, ready, result))
                if clients:
                    process.start()
                    for _ in range(clients):
                        await asyncio.to_thread(ready.get, True, 60)
                answered: dict[str, float] = {}

                async def connection(worker: int, count: int) -> None:
                    # Raw keep-alive HTTP/1.1, as benchmarks/http_submit.py: an HTTP client library would be the bottleneck.
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    for i in range(count):
                        n = worker * count + i
                        body = (f'{{"account":"ACC-EQ-1","symbol":"AAPL","side":"buy","quantity":"1",'
                                f'"price":"{100 + n % 50 / 100:.2f}","cl_ord_id":"S{n}"}}').encode()
                        writer.write((f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                      f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
                        head = await reader.readuntil(b"\r\n\r\n")
                        length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
                        await reader.readexactly(length)
                        assert head[9:12] == b"201", head
                        answered[f"S{n}"] = time.time()
                    writer.close()

                started = time.perf_counter()
                cpu_before = cpu_seconds(server.pid)
                await asyncio.gather(*(connection(w, orders // CONNECTIONS) for w in range(CONNECTIONS)))
                outcome: dict[str, Any] = {"first_seen": {}, "messages": 0}
                if clients:
                    outcome = await asyncio.to_thread(result.get, True, 300)
                    process.join(30)
                elapsed = time.perf_counter() - started
                server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(30)
    delays = [max(0.0, outcome["first_seen"][c] - t) for c, t in answered.items() if c in outcome["first_seen"]]
    return {"clients": clients, "orders": orders, "submit_orders_per_s": round(orders / elapsed),
            "messages_delivered": outcome["messages"], "messages_per_s": round(outcome["messages"] / elapsed),
            "answer_to_update_p50_ms": percentile(delays, 0.5), "answer_to_update_p99_ms": percentile(delays, 0.99),
            "server_cpu_us_per_order": round(server_cpu / orders * 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--socket-orders", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--socket-only", action="store_true", help="skip the in-process part")
    args = parser.parse_args()
    hub: list[dict[str, Any]] = []
    for subscribers in () if args.socket_only else (0, 1, 10, 100):
        run = asyncio.run(hub_run(args.orders, args.window, subscribers))
        hub.append(run)
        print(f"hub, {subscribers:>3} subscribers: {run['orders_per_s']:>7,} orders/s, "
              f"{run['frames_per_s']:>10,} frames/s made for subscribers", file=sys.stderr)
    for run in hub:
        run["vs_no_subscribers"] = round(run["orders_per_s"] / hub[0]["orders_per_s"], 2)
    wire = []
    for clients in (0, args.clients):
        run = asyncio.run(socket_run(args.socket_orders, clients))
        run["vs_no_clients"] = round(run["submit_orders_per_s"] / wire[0]["submit_orders_per_s"], 2) if wire else 1.0
        wire.append(run)
        print(f"socket, {clients} clients: {run['submit_orders_per_s']:,} orders/s submitted over HTTP, "
              f"{run['messages_per_s']:,} order updates/s delivered, HTTP answer -> first update "
              f"p50 {run['answer_to_update_p50_ms']} ms, p99 {run['answer_to_update_p99_ms']} ms, "
              f"server CPU {run['server_cpu_us_per_order']} us/order", file=sys.stderr)
    print(json.dumps({"benchmark": "stream_fanout", "hub": hub, "socket": wire, "orders": args.orders, "window": args.window}))


if __name__ == "__main__":
    main()
