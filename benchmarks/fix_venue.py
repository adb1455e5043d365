"""FIX venue round trip: orders in over FIX, out to a FIX venue, fills back to the client.

``oms serve`` runs with a FIX client session and a ``[[fix.venues]]`` venue (MSFT routes
there). The venue is a raw-socket exchange in its own process: it answers each NewOrderSingle
with an ExecutionReport New and a Fill at the limit price (written together), using the OMS's
codec (the FIX tests check the gateway against QuickFIX; this process only has to be cheap).
The load generator, also its own process, writes pre-encoded NewOrderSingles (buy 1 MSFT at
420.00), keeping at most ``--window`` unfilled, and times each from write to its Fill report.
Per order that is: client D in, PendingNew out, D to the venue, New and Fill in from the
venue, New and Fill out to the client, eight journal events.

    python benchmarks/fix_venue.py [--orders 10000] [--window 100]

Ends with one JSON line: orders/s, fill latency p50/p99 and the OMS's CPU time per order.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from fix_orders import cpu_seconds, free_port, percentiles, serve  # noqa: E402

from openoms.fix import codec  # noqa: E402
from openoms.fix import tags as t  # noqa: E402

VENUE = """
[[fix.venues]]
venue_id = "EXCH"
port = {port}
target_comp_id = "EXCH"
symbols = ["MSFT"]
reconnect_s = 0.2
"""


def exchange(port: int) -> None:
    """One FIX acceptor connection: Logon answered, every order acknowledged and filled."""
    server = socket.create_server(("127.0.0.1", port))
    print("listening", flush=True)
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    framer = codec.Framer()
    seq = 1
    n = 0

    def message(msg_type: str, body: list[tuple[int, str]]) -> bytes:
        nonlocal seq
        seq += 1
        return codec.encode(msg_type, "EXCH", "OPENOMS", seq - 1, codec.utc_timestamp(time.time_ns()), body)

    while True:
        data = conn.recv(262144)
        if not data:
            return
        framer.feed(data)
        out = []
        for frame in framer.frames():
            if not isinstance(frame, bytes):
                continue
            fields = codec.parse(frame).fields
            kind = fields.get(t.MsgType)
            if kind == t.NEW_ORDER_SINGLE:
                n += 1
                common = [(t.ClOrdID, fields[t.ClOrdID]), (t.OrderID, f"X{n}"), (t.Symbol, fields[t.Symbol]),
                          (t.Side_, fields[t.Side_]), (t.OrderQty, fields[t.OrderQty]), (t.Price, fields[t.Price])]
                out.append(message(t.EXECUTION_REPORT, [*common, (t.ExecID, f"N{n}"), (t.ExecType, "0"), (t.OrdStatus_, "0"),
                                                        (t.LeavesQty, fields[t.OrderQty]), (t.CumQty, "0"), (t.AvgPx, "0")]))
                out.append(message(t.EXECUTION_REPORT, [*common, (t.ExecID, f"F{n}"), (t.ExecType, "F"), (t.OrdStatus_, "2"),
                                                        (t.LastQty, fields[t.OrderQty]), (t.LastPx, fields[t.Price]),
                                                        (t.LeavesQty, "0"), (t.CumQty, fields[t.OrderQty]),
                                                        (t.AvgPx, fields[t.Price])]))
            elif kind == t.LOGON:
                if fields.get(t.ResetSeqNumFlag) == "Y":
                    seq = 1
                out.append(message(t.LOGON, [(t.EncryptMethod, "0"), (t.HeartBtInt, fields[t.HeartBtInt]),
                                             *([(t.ResetSeqNumFlag, "Y")] if fields.get(t.ResetSeqNumFlag) == "Y" else [])]))
                print("logged on", flush=True)
            elif kind == t.TEST_REQUEST:
                out.append(message(t.HEARTBEAT, [(t.TestReqID, fields[t.TestReqID])]))
            elif kind == t.LOGOUT:
                conn.sendall(b"".join([*out, message(t.LOGOUT, [])]))
                return
        if out:
            conn.sendall(b"".join(out))


def load(port: int, orders: int, window: int) -> dict[str, Any]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stamp = codec.utc_timestamp(time.time_ns())
    sock.sendall(codec.encode(t.LOGON, "BENCH", "OPENOMS", 1, stamp,
                              [(t.EncryptMethod, "0"), (t.HeartBtInt, "30"), (t.ResetSeqNumFlag, "Y")]))
    prefix = f"V{time.time_ns() % 10**9}-"
    payloads = [codec.encode(t.NEW_ORDER_SINGLE, "BENCH", "OPENOMS", 2 + i, stamp, [
        (t.ClOrdID, f"{prefix}{i}"), (t.Account, "ACC-EQ-1"), (t.Symbol, "MSFT"), (t.Side_, "1"),
        (t.TransactTime, stamp), (t.OrderQty, "1"), (t.OrdType_, "2"), (t.Price, "420.00"), (t.TimeInForce_, "0")])
        for i in range(orders)]
    framer = codec.Framer()
    logged_on = False
    while not logged_on:
        framer.feed(sock.recv(65536))
        logged_on = any(isinstance(f, bytes) and b"\x0135=A\x01" in f for f in framer.frames())
    perf = time.perf_counter_ns
    sent_at = [0] * orders
    latencies: list[int] = []
    done = rejected = 0
    next_order = 0
    marker = b"\x0111=" + prefix.encode()
    started = perf()
    while done < orders:
        if next_order < orders and next_order - done < window:
            end = min(orders, done + window)
            now = perf()
            for i in range(next_order, end):
                sent_at[i] = now
            sock.sendall(b"".join(payloads[next_order:end]))
            next_order = end
        data = sock.recv(262144)
        if not data:
            raise SystemExit("the OMS closed the connection")
        framer.feed(data)
        now = perf()
        for frame in framer.frames():
            if not isinstance(frame, bytes) or b"\x0135=8\x01" not in frame:
                continue
            filled = b"\x01150=F\x01" in frame and b"\x0139=2\x01" in frame
            if not filled and b"\x01150=8\x01" not in frame:
                continue
            at = frame.find(marker)
            index = int(frame[at + len(marker): frame.index(b"\x01", at + 1)])
            latencies.append(now - sent_at[index])
            done += 1
            rejected += not filled
    seconds = (perf() - started) / 1e9
    sock.close()
    return {"orders": orders, "window": window, "rejected": rejected, "seconds": round(seconds, 3),
            "orders_per_s": round(orders / seconds), **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--exchange", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, type=int, metavar=("PORT", "ORDERS", "WINDOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.exchange:
        exchange(args.exchange)
        return
    if args.load:
        print(json.dumps(load(*args.load)))
        return
    venue_port = free_port()
    venue = subprocess.Popen([sys.executable, __file__, "--exchange", str(venue_port)], stdout=subprocess.PIPE, text=True)
    assert venue.stdout is not None and venue.stdout.readline().strip() == "listening"
    with tempfile.TemporaryDirectory(prefix="oms-fix-venue-bench-") as tmp:
        fix_port = free_port()
        proc = serve(Path(tmp) / "data", free_port(), fix_port, VENUE.format(port=venue_port))
        try:
            if venue.stdout.readline().strip() != "logged on":
                raise SystemExit("the OMS did not log on to the venue")
            cpu_before = cpu_seconds(proc.pid)
            out = subprocess.run([sys.executable, __file__, "--load", str(fix_port), str(args.orders), str(args.window)],
                                 capture_output=True, text=True, check=True, timeout=600)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["oms_cpu_us_per_order"] = round((cpu_seconds(proc.pid) - cpu_before) * 1e6 / args.orders, 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            venue.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
