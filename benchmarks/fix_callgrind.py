"""Instructions per FIX order of the whole ``oms serve`` process, under valgrind's callgrind.

Runs ``oms serve`` under ``valgrind --tool=callgrind`` (all threads) twice, with the raw-socket
load of ``fix_orders.py`` for a short and a long run, and prints the difference of the two
instruction counts divided by the difference of orders: start-up and shutdown cancel, and the
figure does not move with the machine's other load (wall-clock figures here swing 2x).

    python benchmarks/fix_callgrind.py [--short 500] [--long 2500] [--window 200]

Takes 3-5 minutes; needs valgrind. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fix_orders import ROOT, SESSIONS, free_port


def instructions(orders: int, window: int) -> int:
    """Ir of ``oms serve`` (start-up, ``orders`` FIX orders, shutdown)."""
    with tempfile.TemporaryDirectory(prefix="oms-fix-callgrind-") as tmp:
        config, log = Path(tmp) / "oms.toml", Path(tmp) / "valgrind.log"
        config.write_text(SESSIONS)
        fix_port = free_port()
        env = dict(os.environ, OMS_FIX_PORT=str(fix_port), PYTHONPATH=str(ROOT / "src"))
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={log}",
                                 sys.executable, "-m", "openoms", "serve", "--port", str(free_port()),
                                 "--data-dir", str(Path(tmp) / "data"), "--config", str(config), "--log-level", "warning"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 600  # start-up under valgrind takes a minute or more
            while True:
                try:
                    socket.create_connection(("127.0.0.1", fix_port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("oms serve did not start under valgrind") from None
                    time.sleep(1)
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fix_orders.py"), "--load", str(fix_port), str(orders),
                            str(window)], check=True, capture_output=True, timeout=1800)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(600)
        found = re.search(r"Collected : (\d+)", log.read_text())
        if found is None:
            raise SystemExit(f"no instruction count in valgrind's log: {log.read_text()[-500:]}")
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=500)
    parser.add_argument("--long", type=int, default=2500)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    short, long = instructions(args.short, args.window), instructions(args.long, args.window)
    per_order = (long - short) // (args.long - args.short)
    print(json.dumps({"short": [args.short, short], "long": [args.long, long], "instructions_per_order": per_order}))


if __name__ == "__main__":
    main()
