"""One engine shard against two, on the same workload, over the local NATS JetStream.

Starts M ``oms serve --role engine`` processes (SQLite journals, group commit, market data off)
and drives them with ``--orders`` new orders alternating between two accounts (``ACC-EQ-1`` and
``ACC-EQ-2``, which hash to different shards when M=2), with ``--window`` in flight: by default
from a ``ClusterGateway`` in this process (NATS only); with ``--rest`` over HTTP through an
``oms serve --role gateway`` process (and a projector process, so the whole cluster runs), the
gateway signing in the caller by API key. Latency is submit until the owning shard's answer
(the order durable in its journal). Streams are created under a random prefix and deleted
afterwards.

    python benchmarks/shards.py [--orders 20000] [--window 500] [--rest] [--nats-url nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats

from openoms.cluster.gateway import ClusterGateway
from openoms.cluster.partition import Subjects
from openoms.domain import commands as cmd
from openoms.domain.ids import AccountId, ClientOrderId, Symbol
from openoms.domain.values import Side

LIMITS = Path(__file__).resolve().parents[1] / "tests" / "limits_without_collar.toml"
ACCOUNTS = ("ACC-EQ-1", "ACC-EQ-2")
TRADER = cmd.Actor("demo", "bench")


Probe = Callable[[], dict[str, float]]


def cpu_probe(processes: dict[str, list[int]]) -> Probe:
    """CPU seconds (user + system) used so far by each role's processes, by this one (the
    driver) and by the NATS server when it runs here: what the work costs, whatever else the machine is doing (orders/s on a shared
    2-core machine mostly says how busy the neighbours were)."""
    tick = os.sysconf("SC_CLK_TCK")

    servers = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "nats-server":
                servers.append(int(comm.parent.name))
    if servers:  # the local NATS server (read only: its CPU counters)
        processes = {**processes, "nats": servers}

    def probe() -> dict[str, float]:
        used = {"driver": time.process_time()}
        for role, pids in processes.items():
            total = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            used[role] = total / tick
        return used

    return probe


def cpu_per_order(before: dict[str, float], after: dict[str, float], orders: int) -> dict[str, float]:
    return {role: round((after[role] - before[role]) * 1000 / orders, 3) for role in before}


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {name: round(ordered[min(n - 1, int(q * n))] / 1e6, 2) for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999))}


async def drive(nats_url: str, shards: int, subjects: Subjects, orders: int, window: int, probe: Probe) -> dict[str, Any]:
    gateway = ClusterGateway(nats_url, shards, subjects)
    await gateway.connect()
    latencies: list[int] = []
    slots = asyncio.Semaphore(window)

    async def one(i: int) -> None:
        async with slots:
            account = ACCOUNTS[i % 2]
            command = cmd.SubmitOrder(actor=TRADER, account=AccountId(account), cl_ord_id=ClientOrderId(f"B{i}"),
                                      symbol=Symbol("AAPL"), side=Side.BUY, quantity=Decimal(10), price=Decimal("1.00"))
            started = time.perf_counter_ns()
            answer = await gateway.execute(command, timeout=120)
            assert answer["rejected"] is None, answer
            latencies.append(time.perf_counter_ns() - started)

    # Warm-up: both shards connected and consuming before the clock starts.
    await asyncio.gather(*(one(-1 - i) for i in range(2 * shards)))
    latencies.clear()
    cpu = probe()
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(orders)))
    elapsed = time.perf_counter() - started
    cpu_ms = cpu_per_order(cpu, probe(), orders)
    await gateway.close()
    return {"shards": shards, "orders": orders, "orders_per_s": round(orders / elapsed), "answer": percentiles(latencies),
            "seconds": round(elapsed, 2), "cpu_ms_per_order": cpu_ms}


async def delete_streams(nats_url: str, subjects: Subjects) -> None:
    connection = await nats.connect(nats_url)
    for stream in (subjects.command_stream, subjects.event_stream):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(stream)
    await connection.close()


async def drive_rest(port: int, key: str, shards: int, orders: int, window: int, probe: Probe) -> dict[str, Any]:
    """``window`` keep-alive connections of http_submit.py's raw HTTP/1.1 load generator, each
    sending its next order when the previous answer came (a Python HTTP client would be the
    bottleneck on this machine)."""
    import http_submit  # benchmarks/ is on sys.path when this file is run
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"Authorization": f"Bearer {key}"}) as http:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            await asyncio.sleep(0.2)
        for i in range(2 * shards):  # warm-up: every shard connected and consuming
            body = {"account": ACCOUNTS[i % 2], "cl_ord_id": f"W{i}", "symbol": "AAPL", "side": "buy", "quantity": "10", "price": "1.00"}
            assert (await http.post("/api/v1/orders", json=body)).status_code == 201
    http_submit.AUTHORIZATION = key
    cpu = probe()
    result = await http_submit.load("submit", port, orders, window)
    cpu_ms = cpu_per_order(cpu, probe(), result["requests"])
    assert result["statuses"] == {"201": result["requests"]}, result["statuses"]
    return {"shards": shards, "orders": result["requests"], "orders_per_s": result["requests_per_s"],
            "answer": {k.replace("_us", "_ms"): round(v / 1000, 2) for k, v in result["latency"].items()},
            "seconds": result["seconds"], "via": "rest", "cpu_ms_per_order": cpu_ms}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(nats_url: str, shards: int, orders: int, window: int, workdir: Path, rest: bool) -> dict[str, Any]:
    subjects = Subjects(f"bench{secrets.token_hex(3)}")
    cluster = ["--nats-url", nats_url, "--prefix", subjects.prefix]
    env = {**os.environ, "OMS_LIMITS_FILE": str(LIMITS)}
    roles = [["--role", "engine", "--shard", f"{n}/{shards}", "--data-dir", str(workdir / f"{shards}-{n}"), "--no-market-data"]
             for n in range(shards)]
    port, key = free_port(), ""
    if rest:
        from openoms.access.users import UserStore

        gateway_dir = workdir / f"{shards}-gateway"
        users = UserStore(gateway_dir / "users.sqlite")
        users.create("bench", ["trader"], list(ACCOUNTS))
        key = users.issue_api_key("bench", "bench", actor="bench")
        users.close()
        read_models = str(workdir / f"{shards}-read_models.sqlite")
        roles += [["--role", "projector", "--read-models", read_models],
                  ["--role", "gateway", "--shards", str(shards), "--data-dir", str(gateway_dir), "--read-models", read_models,
                   "--port", str(port), "--log-level", "warning"]]
    processes = [subprocess.Popen([sys.executable, "-m", "openoms", "serve", *role, *cluster], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for role in roles]
    names = [role[1] for role in roles]
    probe = cpu_probe({name: [p.pid for p, n in zip(processes, names, strict=True) if n == name] for name in set(names)})
    try:
        if rest:
            return asyncio.run(drive_rest(port, key, shards, orders, window, probe))
        return asyncio.run(drive(nats_url, shards, subjects, orders, window, probe))
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        asyncio.run(delete_streams(nats_url, subjects))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=500, help="orders in flight")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--rest", action="store_true", help="through an `oms serve --role gateway` process over HTTP")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for shards in (1, 2):
            result = run(args.nats_url, shards, args.orders, args.window, Path(tmp), args.rest)
            print(f"{shards} shard(s): {result['orders_per_s']:>6} orders/s  answer p50 {result['answer']['p50_ms']} ms "
                  f"p99 {result['answer']['p99_ms']} ms  CPU ms/order {result['cpu_ms_per_order']}", file=sys.stderr)
            results.append(result)
    print(json.dumps({"benchmark": "shards", "via": "rest" if args.rest else "nats", "window": args.window, "results": results,
                      "two_vs_one": round(results[1]["orders_per_s"] / results[0]["orders_per_s"], 3),
                      "cores": os.cpu_count(), "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
