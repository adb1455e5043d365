"""FIX 4.4 NewOrderSingle round trip through `oms serve`, plus the codec's parse/encode rates.

1. Codec, in this process: encode NewOrderSingles and parse ExecutionReports with
   ``openoms.fix.codec`` (framing, CheckSum, simplefix) per second, on one core.
2. Raw load: starts ``oms serve`` (durable group commit, the default) with a FIX session on a
   free port; a load generator in another process logs on over a raw socket and writes
   pre-encoded NewOrderSingles (limit buys that rest on the simulated book), keeping at most
   ``--window`` awaiting their first report, and times each from write to its first
   ExecutionReport (ExecType=A, sent only once the order is journaled: the durable ack).
3. QuickFIX load: the test suite's QuickFIX peer (``tests/fix/peer.py``, burst mode) does the
   same as a real FIX engine, which checks every report; it is slower than the OMS (below).

    python benchmarks/fix_orders.py [--orders 20000] [--window 200] [--peer-orders 5000] [--skip-peer]

Ends with one JSON line: codec rates, and orders/s with first-report latency p50/p99 for both loads;
for the raw load also the OMS process's CPU time per order (user + system, all threads), which
the machine's other load does not change much.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from openoms.fix import codec  # noqa: E402
from openoms.fix import tags as t  # noqa: E402

SESSIONS = """
[[fix.sessions]]
sender_comp_id = "BENCH"
target_comp_id = "OPENOMS"
accounts = ["ACC-EQ-1", "ACC-EQ-2"]
user = "demo"

[[fix.sessions]]
sender_comp_id = "PEER"
target_comp_id = "OPENOMS"
accounts = ["ACC-EQ-1", "ACC-EQ-2"]
user = "demo"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return {f"p{label}_ms": round(ordered[min(n - 1, int(q * n))] / 1e6, 2)
            for label, q in (("50", 0.5), ("99", 0.99), ("999", 0.999))} | {"max_ms": round(ordered[-1] / 1e6, 2)}


def order_body(cl_ord_id: str, account: str = "ACC-EQ-1") -> list[tuple[int, str]]:
    return [(t.ClOrdID, cl_ord_id), (t.Account, account), (t.Symbol, "AAPL"), (t.Side_, "1"),
            (t.TransactTime, "20261126-12:00:00.000"), (t.OrderQty, "100"), (t.OrdType_, "2"), (t.Price, "100.00"),
            (t.TimeInForce_, "0")]


# --- 1. codec rates ------------------------------------------------------------------------------


def codec_rates(n: int) -> dict[str, float]:
    stamp = codec.utc_timestamp(time.time_ns())
    started = time.perf_counter()
    frames = [codec.encode(t.NEW_ORDER_SINGLE, "BENCH", "OPENOMS", i, stamp, order_body(f"C{i}")) for i in range(n)]
    encode_rate = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for frame in frames:
        codec.parse(frame)
    parse_nos = n / (time.perf_counter() - started)
    report = [(t.OrderID, "O1"), (t.ClOrdID, "C1"), (t.ExecID, "O1-7"), (t.ExecType, "F"), (t.OrdStatus_, "1"),
              (t.Account, "ACC-EQ-1"), (t.Symbol, "AAPL"), (t.Side_, "1"), (t.OrderQty, "100"), (t.OrdType_, "2"),
              (t.Price, "100.00"), (t.TimeInForce_, "0"), (t.LastQty, "40"), (t.LastPx, "100.00"), (t.LeavesQty, "60"),
              (t.CumQty, "40"), (t.AvgPx, "100"), (t.TransactTime, stamp)]
    reports = [codec.encode(t.EXECUTION_REPORT, "OPENOMS", "BENCH", i, stamp, report) for i in range(n)]
    stream = b"".join(reports)
    started = time.perf_counter()
    framer = codec.Framer()
    framer.feed(stream)
    count = 0
    for frame in framer.frames():
        codec.parse(frame)  # type: ignore[arg-type]
        count += 1
    parse_er = count / (time.perf_counter() - started)
    return {"encode_nos_per_s": round(encode_rate), "parse_nos_per_s": round(parse_nos),
            "frame_and_parse_er_per_s": round(parse_er)}


# --- 2. raw-socket load generator (own process) ----------------------------------------------------


def load(port: int, orders: int, window: int) -> dict[str, Any]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stamp = codec.utc_timestamp(time.time_ns())
    seq = 1
    sock.sendall(codec.encode(t.LOGON, "BENCH", "OPENOMS", seq, stamp,
                              [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")]))
    seq += 1
    prefix = f"B{time.time_ns() % 10**9}-"
    # Pre-encoded: the generator must cost far less than the OMS per order.
    payloads = [codec.encode(t.NEW_ORDER_SINGLE, "BENCH", "OPENOMS", seq + i, stamp,
                             order_body(f"{prefix}{i}", "ACC-EQ-1" if i % 2 else "ACC-EQ-2")) for i in range(orders)]
    framer = codec.Framer()
    sent_at: list[int] = [0] * orders
    latencies: list[int] = []
    answered = rejected = 0
    perf = time.perf_counter_ns
    logged_on = False
    while not logged_on:
        framer.feed(sock.recv(65536))
        logged_on = any(isinstance(f, bytes) and b"\x0135=A\x01" in f for f in framer.frames())
    started = perf()
    next_order = 0
    prefix_bytes = b"\x0111=" + prefix.encode()
    while answered < orders:
        while next_order < orders and next_order - answered < window:
            batch_end = min(orders, answered + window)
            now = perf()
            chunk = payloads[next_order:batch_end]
            for i in range(next_order, batch_end):
                sent_at[i] = now
            sock.sendall(b"".join(chunk))
            next_order = batch_end
        data = sock.recv(262144)
        if not data:
            raise SystemExit("the OMS closed the connection")
        framer.feed(data)
        now = perf()
        for frame in framer.frames():
            if not isinstance(frame, bytes) or b"\x0135=8\x01" not in frame:
                continue
            at = frame.find(prefix_bytes)
            if at < 0 or (b"\x01150=A\x01" not in frame and b"\x01150=8\x01" not in frame):
                continue  # only the first report of each order (PendingNew, or a reject) counts
            end = frame.index(b"\x01", at + 1)
            index = int(frame[at + len(prefix_bytes): end])
            latencies.append(now - sent_at[index])
            answered += 1
            if b"\x01150=8\x01" in frame:
                rejected += 1
    seconds = (perf() - started) / 1e9
    sock.close()
    return {"orders": orders, "window": window, "rejected": rejected, "seconds": round(seconds, 3),
            "orders_per_s": round(orders / seconds), **percentiles(latencies)}


# --- driver ----------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the OMS's cost, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(data_dir: Path, http_port: int, fix_port: int, extra_config: str = "") -> subprocess.Popen[bytes]:
    config = data_dir.parent / "oms.toml"
    config.write_text(SESSIONS + extra_config)
    env = dict(os.environ, OMS_FIX_PORT=str(fix_port), PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "openoms", "serve", "--port", str(http_port), "--data-dir", str(data_dir),
                             "--config", str(config), "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", fix_port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("oms serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--peer-orders", type=int, default=5000)
    parser.add_argument("--peer-window", type=int, default=50)
    parser.add_argument("--codec-messages", type=int, default=20000)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--load", nargs=3, metavar=("PORT", "ORDERS", "WINDOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(int(args.load[0]), int(args.load[1]), int(args.load[2]))))
        return

    result: dict[str, Any] = {"codec": codec_rates(args.codec_messages)}
    print(f"codec: {result['codec']}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="oms-fix-bench-") as tmp:
        fix_port = free_port()
        proc = serve(Path(tmp) / "data", free_port(), fix_port)
        try:
            cpu_before = cpu_seconds(proc.pid)
            out = subprocess.run([sys.executable, __file__, "--load", str(fix_port), str(args.orders), str(args.window)],
                                 capture_output=True, text=True, check=True, timeout=600)
            result["raw"] = json.loads(out.stdout.strip().splitlines()[-1])
            # CPU per order of the OMS process (all its threads): steadier than orders/s on a shared machine.
            result["raw"]["oms_cpu_us_per_order"] = round((cpu_seconds(proc.pid) - cpu_before) * 1e6 / args.orders, 1)
            print(f"raw socket load: {result['raw']}", file=sys.stderr)
            if not args.skip_peer:
                peer = [sys.executable, str(ROOT / "tests" / "fix" / "peer.py"), "--port", str(fix_port), "--sender", "PEER",
                        "--target", "OPENOMS", "--quiet", "--window", str(args.peer_window), "--timeout", "60",
                        f"burst {args.peer_orders} D Symbol=AAPL Side=1 OrderQty=100 OrdType=2 Price=100.00 "
                        "TimeInForce=0 Account=ACC-EQ-1"]
                out = subprocess.run(peer, capture_output=True, text=True, timeout=600)
                bursts = [json.loads(line) for line in out.stdout.splitlines() if '"burst"' in line]
                result["quickfix_peer"] = bursts[-1] if bursts else {"error": out.stdout[-500:] + out.stderr[-500:]}
                print(f"QuickFIX peer burst: {result['quickfix_peer']}", file=sys.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
