"""HTTP submit throughput and latency, from a separate load-generator process.

Starts ``oms serve`` (durable group commit, the default) on a free port and a temporary data
directory, then runs a load generator in another process: ``--connections`` keep-alive HTTP/1.1
connections, each sending its next request when the previous answer arrived (closed loop).
First a baseline of ``GET /health`` (the HTTP stack alone), then ``POST /api/v1/orders``
(limit buys that rest on the simulated book, each journaled before its 201). Ends with one JSON
line: requests/s, latency percentiles in microseconds, and submit/baseline ratios.

    python benchmarks/http_submit.py [--requests 20000] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return {f"p{label}_us": round(ordered[min(n - 1, int(q * n))] / 1000, 1)
            for label, q in (("50", 0.5), ("99", 0.99), ("999", 0.999))} | {"max_us": round(ordered[-1] / 1000, 1)}


# --- load generator (runs in its own process) --------------------------------------------------


AUTHORIZATION = os.environ.get("OMS_BENCH_TOKEN", "")  # the API key the driver made with `oms users`


def request_bytes(kind: str, port: int, i: int, worker: int) -> bytes:
    if kind == "health":
        return f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    body = (f'{{"account":"ACC-EQ-{1 + worker % 2}","symbol":"AAPL","side":"buy","quantity":"100",'
            f'"price":"100.00","cl_ord_id":"H{worker}-{i}"}}').encode()
    head = (f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {AUTHORIZATION}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def connection(kind: str, port: int, worker: int, count: int, latencies: list[int], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    perf = time.perf_counter_ns
    for i in range(count):
        request = request_bytes(kind, port, i, worker)
        started = perf()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(perf() - started)
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


async def load(kind: str, port: int, requests: int, connections: int) -> dict[str, Any]:
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    per = requests // connections
    started = time.perf_counter()
    await asyncio.gather(*(connection(kind, port, w, per, latencies, statuses) for w in range(connections)))
    elapsed = time.perf_counter() - started
    return {"kind": kind, "requests": len(latencies), "requests_per_s": round(len(latencies) / elapsed),
            "latency": percentiles(latencies), "statuses": {str(k): v for k, v in statuses.items()}, "seconds": round(elapsed, 3)}


# --- driver -------------------------------------------------------------------------------------


def run_loadgen(kind: str, port: int, requests: int, connections: int, token: str = "") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen", kind, "--port", str(port), "--requests", str(requests),
         "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=600, env=dict(os.environ, OMS_BENCH_TOKEN=token),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--durability", default="group")
    parser.add_argument("--loadgen", choices=["health", "submit"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        print(json.dumps(asyncio.run(load(args.loadgen, args.port, args.requests, args.connections))))
        return

    port = free_port()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        env = dict(os.environ, OMS_LOG_LEVEL="warning", OMS_FIX_ENABLED="false")  # HTTP alone, as measured before FIX
        # Sign-in is required: an administrator and an API key, as an operator would make them.
        users = [sys.executable, "-m", "openoms", "users"]
        subprocess.run([*users, "create-admin", "bench", "--data-dir", str(Path(tmp) / "data")], input="bench password 1\n",
                       text=True, check=True, capture_output=True)
        token = subprocess.run([*users, "api-key", "bench", "--data-dir", str(Path(tmp) / "data")], text=True, check=True,
                               capture_output=True).stdout.strip()
        server = subprocess.Popen(
            [sys.executable, "-m", "openoms", "serve", "--port", str(port), "--data-dir", str(Path(tmp) / "data"),
             "--durability", args.durability],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("oms serve did not start") from None
                    time.sleep(0.1)
            run_loadgen("health", port, 1000, 8)  # warm-up
            baseline = run_loadgen("health", port, args.requests, args.connections)
            submit = run_loadgen("submit", port, args.requests, args.connections, token)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    for r in (baseline, submit):
        print(f"{r['kind']:>7}: {r['requests_per_s']:>6} req/s  p50 {r['latency']['p50_us']} us  "
              f"p99 {r['latency']['p99_us']} us  statuses {r['statuses']}", file=sys.stderr)
    print(json.dumps({
        "benchmark": "http_submit", "orders_per_s": submit["requests_per_s"], "durability": args.durability,
        "connections": args.connections, "submit": submit, "baseline_get_health": baseline,
        "ratios": {"throughput_vs_health": round(submit["requests_per_s"] / baseline["requests_per_s"], 3),
                   "p99_vs_health": round(submit["latency"]["p99_us"] / baseline["latency"]["p99_us"], 2)},
    }))


if __name__ == "__main__":
    main()
