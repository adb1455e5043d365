#!/usr/bin/env python3
"""The test suite's FIX 4.4 counterparty, built on QuickFIX (a real third-party engine).

Adapted from the shared ``fixpeer.py`` (../shared/peers/fix) so the suite runs without it.
Added here: ``--interactive`` (steps as JSON lines on stdin, so a test can interleave FIX with
REST calls and decide what to expect from what it received) and ``--no-reset`` (keep sequence
numbers in ``--log-dir`` across runs, to test the OMS's persisted sequence numbers and resends).

Initiator mode (default) plays a client: it logs on to a FIX acceptor (e.g. the OMS),
runs a scenario of sends/expects, and prints every message it receives as one JSON line.
Acceptor mode (--acceptor) plays a tiny exchange for testing a FIX initiator (e.g. the
OMS's venue gateway): it acks each NewOrderSingle and fills it at its limit price.
With --hold it answers cancels and replaces only when told, and fills only when told: commands
as JSON lines on stdin, {"fill": ClOrdID, "qty": "40"} and {"answer": ClOrdID of the held
request, "accept": true|false}; each held request is announced as {"event": "held", ...}.
This lets a test cross a replace or cancel with a fill (FIX 4.4 Appendix D).

stdout carries only JSON lines, each with an "event" key:
  listening, logon, sent, recv, logout, burst, done, timeout, error, held (--hold)
Exit status: 0 ok, 1 error, 2 bad arguments, 3 timeout (logon or an expect step).

Scenario steps, as command-line words or as a JSON list in --scenario FILE:
  "D ClOrdID=A1 Symbol=AAPL Side=1 OrderQty=100 OrdType=2 Price=10.5"   {"send":"D", "ClOrdID":"A1", ...}
  "expect MsgType=8 ClOrdID=A1 ExecType=0"                               {"expect":{"MsgType":"8", ...}}
  "sleep 0.2"                                                            {"sleep":0.2}
  "burst 5000 D Symbol=AAPL Side=1 OrderQty=1 OrdType=2 Price=10"        {"burst":5000, "send":"D", ...}
  (burst: N orders with generated ClOrdIDs, at most --window awaiting a report; prints a rate)
Field keys are FIX 4.4 tag names or numbers; values are sent verbatim (never via float).
TransactTime is filled in for D/F/G when absent. MsgType may be given by letter or name.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import shlex
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import quickfix as fix

SOH = "\x01"
TIMEOUT_EXIT = 3


# ---------------------------------------------------------------- data dictionary names
def find_dictionary(explicit: str | None) -> str:
    """FIX44.xml ships in the quickfix wheel as data_files: <prefix>/share/quickfix/."""
    candidates = [explicit, os.environ.get("FIXPEER_DICT"),
                  os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml"),
                  os.path.join(sysconfig.get_path("data"), "share", "quickfix", "FIX44.xml")]
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    sys.exit("fixpeer: FIX44.xml not found; pass --dict PATH or set FIXPEER_DICT")


class Names:
    """Tag number <-> name and MsgType <-> message name, read from the data dictionary."""

    def __init__(self, xml_path: str):
        root = ET.parse(xml_path).getroot()
        self.tag_name = {int(f.get("number")): f.get("name") for f in root.find("fields")}
        self.tag_num = {name: num for num, name in self.tag_name.items()}
        self.msg_name = {m.get("msgtype"): m.get("name") for m in root.find("messages")}
        self.msg_type = {name: mt for mt, name in self.msg_name.items()}

    def tag(self, key: str) -> int:
        if key.isdigit():
            return int(key)
        if key not in self.tag_num:
            raise ValueError(f"unknown FIX 4.4 field name: {key}")
        return self.tag_num[key]

    def name(self, key: str) -> str:
        tag = self.tag(key)
        return self.tag_name.get(tag, str(tag))

    def msgtype(self, key: str) -> str:
        return self.msg_type.get(key, key)

    def to_json(self, msg: fix.Message) -> dict:
        """Flatten a message to {name: value}; repeated tags (groups) become lists."""
        fields: dict = {}
        for part in msg.toString().split(SOH):
            if not part:
                continue
            tag, _, value = part.partition("=")
            name = self.tag_name.get(int(tag), tag)
            if name in fields:
                prev = fields[name]
                fields[name] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                fields[name] = value
        return {"msg": self.msg_name.get(fields.get("MsgType"), fields.get("MsgType")),
                "fields": fields}


# ---------------------------------------------------------------- output and helpers
_print_lock = threading.Lock()


def emit(event: str, **data) -> None:
    with _print_lock:
        print(json.dumps({"event": event, **data}), flush=True)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def build(names: Names, msgtype: str, fields: dict) -> fix.Message:
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(msgtype))
    for key, value in fields.items():
        msg.setField(fix.StringField(names.tag(str(key)), str(value)))
    if msgtype in ("D", "F", "G", "q") and not msg.isSetField(60):
        msg.setField(fix.StringField(60, utc_now()))  # TransactTime is required on all three
    return msg


def write_settings(args, workdir: str, dictionary: str) -> fix.SessionSettings:
    """QuickFIX reads its settings from a file; write one into the temp dir."""
    lines = ["[DEFAULT]",
             f"ConnectionType={'acceptor' if args.acceptor else 'initiator'}",
             f"FileStorePath={workdir}/store", f"FileLogPath={workdir}/log",
             "StartTime=00:00:00", "EndTime=00:00:00", f"ResetOnLogon={'N' if args.no_reset else 'Y'}",
             "PersistMessages=Y",
             f"HeartBtInt={args.heartbeat}", "ReconnectInterval=1", "SocketNodelay=Y",
             f"UseDataDictionary={'N' if args.no_validate else 'Y'}", f"DataDictionary={dictionary}",
             "[SESSION]", "BeginString=FIX.4.4",
             f"SenderCompID={args.sender}", f"TargetCompID={args.target}"]
    if args.acceptor:
        lines.append(f"SocketAcceptPort={args.port}")  # QuickFIX binds all interfaces
    else:
        lines += [f"SocketConnectHost={args.host}", f"SocketConnectPort={args.port}"]
    path = os.path.join(workdir, "session.cfg")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return fix.SessionSettings(path)


# ---------------------------------------------------------------- QuickFIX application
class Peer(fix.Application):
    """Shared callbacks: report logon/logout, print app traffic and session-level rejects."""

    collect = True  # queue received messages for expect/burst steps (initiator only)

    def __init__(self, names: Names, quiet: bool = False):
        super().__init__()
        self.names, self.session = names, None
        self.quiet = quiet  # --quiet: no sent/recv lines, for load runs
        self.bursting = False  # during a burst step: skip even the parsing
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.inbox: queue.Queue = queue.Queue()

    def onCreate(self, sessionID):
        self.session = sessionID

    def onLogon(self, sessionID):
        self.logged_on.set()
        emit("logon", session=sessionID.toString())

    def onLogout(self, sessionID):  # also called per failed reconnect: report real logouts only
        self.logged_out.set()
        if self.logged_on.is_set():
            self.logged_on.clear()
            emit("logout", session=sessionID.toString())
    def toAdmin(self, message, sessionID):
        if message.getHeader().getField(35) == "3":  # we rejected a malformed message
            emit("sent", **self.names.to_json(message))
    def fromAdmin(self, message, sessionID):
        if message.getHeader().getField(35) in ("3", "5"):  # Reject, Logout (with Text)
            parsed = self.names.to_json(message)
            emit("recv", **parsed)
            if self.collect:  # so "expect MsgType=3" works
                self.inbox.put((time.perf_counter(), parsed["fields"]))
    def toApp(self, message, sessionID):
        if not (self.quiet or self.bursting):
            emit("sent", **self.names.to_json(message))
    def fromApp(self, message, sessionID):
        # QuickFIX owns `message`: keep only a parsed copy past this callback.
        if self.bursting:  # skip the JSON work, keep what the burst counts
            cid = message.getField(11) if message.isSetField(11) else ""
            self.inbox.put((time.perf_counter(), {"ClOrdID": cid}))
        elif self.collect or not self.quiet:
            parsed = self.names.to_json(message)
            if not self.quiet:
                emit("recv", **parsed)
            if self.collect:
                self.inbox.put((time.perf_counter(), parsed["fields"]))
        self.on_app(message)

    def on_app(self, message): pass

    def send(self, msg: fix.Message) -> None:
        fix.Session.sendToTarget(msg, self.session)


class Exchange(Peer):
    """Acceptor: a one-line-per-rule exchange. ER fields follow FIX 4.4 (OrdStatus after event)."""

    collect = False  # nothing consumes an inbox here: don't let it grow

    def __init__(self, names: Names, quiet: bool, fill_delay: float, market_price: str, hold: bool = False):
        super().__init__(names, quiet)
        self.fill_delay, self.market_price = fill_delay, market_price
        self.orders: dict[str, dict] = {}  # latest ClOrdID -> order
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.hold = hold  # --hold: cancels/replaces wait for an "answer" command, fills for a "fill"
        self.held: dict[str, dict] = {}  # ClOrdID of a held F/G -> its fields

    def report(self, o: dict, exec_type: str, **extra) -> None:
        done = o["OrdStatus"] in ("2", "4", "8")  # filled, canceled, rejected: nothing leaves
        leaves = "0" if done else str(Decimal(o["OrderQty"]) - Decimal(o["CumQty"]))
        f = {"OrderID": o["OrderID"], "ExecID": f"E{next(self.ids)}", "ExecType": exec_type,
             "OrdStatus": o["OrdStatus"], "ClOrdID": o["ClOrdID"], "Symbol": o["Symbol"],
             "Side": o["Side"], "OrderQty": o["OrderQty"], "Price": o["Price"],
             "CumQty": o["CumQty"], "AvgPx": o["AvgPx"], "LeavesQty": leaves, "TransactTime": utc_now()}
        f.update(Account=o.get("Account", ""), **extra)
        self.send(build(self.names, "8", {k: v for k, v in f.items() if v != ""}))

    def fill(self, o: dict, qty: str | None = None) -> None:
        """Fill ``qty`` (default: all that is left) at the limit price (market orders: --market-price)."""
        with self.lock:
            if o["OrdStatus"] not in "01":
                return
            leaves = Decimal(o["OrderQty"]) - Decimal(o["CumQty"])
            last = min(Decimal(qty), leaves) if qty is not None else leaves
            px = o["Price"] or self.market_price  # limit orders fill at their limit (one price: AvgPx is it)
            cum = Decimal(o["CumQty"]) + last
            o.update(OrdStatus="2" if cum == Decimal(o["OrderQty"]) else "1", CumQty=str(cum), AvgPx=px)
            # A request held for this order: Pending Replace/Cancel outranks Filled, as FIX 4.4 ranks them.
            held = next((r for r in self.held.values() if r["41"] == o["ClOrdID"]), None)
            shown = {"G": "E", "F": "6"}[held["35"]] if held else o["OrdStatus"]
            self.report(o, "F", LastQty=str(last), LastPx=px, OrdStatus=shown)

    def cancel_reject(self, req: dict, o: dict | None, reason: str, response_to: str) -> None:
        self.send(build(self.names, "9", {
            "OrderID": o["OrderID"] if o else "NONE", "ClOrdID": req["11"],
            "OrigClOrdID": req["41"], "OrdStatus": o["OrdStatus"] if o else "8",
            "CxlRejResponseTo": response_to, "CxlRejReason": reason}))

    def amend(self, mt: str, req: dict) -> None:
        """Answer a cancel (F) or replace (G) request; ``req`` holds its fields by tag number."""
        response_to = "1" if mt == "F" else "2"
        o = self.orders.get(req["41"])
        if o is None or o["OrdStatus"] not in "01":  # 1 = unknown order, 0 = too late
            return self.cancel_reject(req, o, "1" if o is None else "0", response_to)
        del self.orders[o["ClOrdID"]]
        o.update(OrigClOrdID=o["ClOrdID"], ClOrdID=req["11"])
        self.orders[o["ClOrdID"]] = o
        if mt == "F":
            o["OrdStatus"] = "4"
            return self.report(o, "4", OrigClOrdID=o["OrigClOrdID"])
        o.update(OrderQty=req["38"] or o["OrderQty"], Price=req["44"] or o["Price"])
        if Decimal(o["CumQty"]) >= Decimal(o["OrderQty"]):
            o["OrdStatus"] = "2"  # replaced down to (or below) what has been filled: nothing is left
        self.report(o, "5", OrigClOrdID=o["OrigClOrdID"])

    def command(self, line: str) -> None:
        """--hold: one command from stdin (see the module docstring)."""
        step = json.loads(line)
        with self.lock:
            if "fill" in step:
                o = self.orders.get(step["fill"])
                if o is None:
                    return emit("error", message=f"fill: no order with ClOrdID {step['fill']!r}")
            else:
                req = self.held.pop(step["answer"], None)
                if req is None:
                    return emit("error", message=f"answer: no held request with ClOrdID {step['answer']!r}")
                if step.get("accept", True):
                    return self.amend(req["35"], req)
                o = self.orders.get(req["41"])
                return self.cancel_reject(req, o, "0" if o is not None and o["OrdStatus"] not in "01" else "99",
                                          "1" if req["35"] == "F" else "2")
        self.fill(o, step.get("qty"))

    def on_app(self, m: fix.Message) -> None:
        mt = m.getHeader().getField(35)
        def get(tag):
            return m.getField(tag) if m.isSetField(tag) else ""
        with self.lock:
            if mt == "D":
                if get(11) in self.orders:  # duplicate ClOrdID -> reject
                    dup = {"OrderID": "NONE", "OrdStatus": "8", "ClOrdID": get(11), "Symbol": get(55),
                           "Side": get(54), "OrderQty": get(38), "Price": get(44),
                           "CumQty": "0", "AvgPx": "0"}
                    return self.report(dup, "8", OrdRejReason="6", Text="duplicate ClOrdID")
                o = {"OrderID": f"O{next(self.ids)}", "OrdStatus": "0", "ClOrdID": get(11),
                     "Symbol": get(55), "Side": get(54), "OrderQty": get(38), "Account": get(1),
                     "Price": get(44), "CumQty": "0", "AvgPx": "0"}
                self.orders[o["ClOrdID"]] = o
                self.report(o, "0")
            elif mt in ("F", "G"):
                req = {"35": mt, "11": get(11), "41": get(41), "38": get(38), "44": get(44)}
                if self.hold:
                    self.held[req["11"]] = req
                    return emit("held", MsgType=mt, ClOrdID=req["11"], OrigClOrdID=req["41"])
                return self.amend(mt, req)
            elif mt == "H":
                o = self.orders.get(get(11))
                if o is None:
                    o = {"OrderID": "NONE", "OrdStatus": "8", "ClOrdID": get(11), "Symbol": get(55),
                         "Side": get(54), "OrderQty": "0", "Price": "0", "CumQty": "0", "AvgPx": "0"}
                    return self.report(o, "I", Text="unknown order")
                return self.report(o, "I")
            else:
                raise fix.UnsupportedMessageType()  # QuickFIX answers 35=j
        if self.hold:
            return
        if self.fill_delay == 0:
            self.fill(o)
        elif self.fill_delay > 0:
            threading.Timer(self.fill_delay, self.fill, args=(o,)).start()


# ---------------------------------------------------------------- scenario
def parse_step(names: Names, step) -> dict:
    """Normalise a command-line word or a JSON object; reject unknown names before logon."""
    parsed = _parse_step(step)
    if "type" in parsed:
        parsed["type"] = names.msgtype(parsed["type"])
        if parsed["type"] not in names.msg_name:
            raise ValueError(f"unknown FIX 4.4 message type: {parsed['type']}")
    for key in parsed.get("fields", {}):
        names.tag(str(key))
    return parsed


def _parse_step(step) -> dict:
    if isinstance(step, dict):
        step = dict(step)
        if "burst" in step:
            count = int(step.pop("burst"))
            return {"kind": "burst", "count": count, "type": step.pop("send"), "fields": step}
        if "send" in step:
            return {"kind": "send", "type": step.pop("send"), "fields": step}
        if "expect" in step:
            return {"kind": "expect", "fields": step["expect"]}
        if "sleep" in step:
            return {"kind": "sleep", "seconds": float(step["sleep"])}
        raise ValueError(f"bad step: {step}")
    words = shlex.split(step)
    def kv(ws):
        return dict(w.split("=", 1) for w in ws)
    if words[0] == "expect":
        return {"kind": "expect", "fields": kv(words[1:])}
    if words[0] == "sleep":
        return {"kind": "sleep", "seconds": float(words[1])}
    if words[0] == "burst":
        return {"kind": "burst", "count": int(words[1]), "type": words[2], "fields": kv(words[3:])}
    return {"kind": "send", "type": words[0], "fields": kv(words[1:])}


def matches(names: Names, fields: dict, want: dict) -> bool:
    for key, value in want.items():
        name, value = names.name(str(key)), str(value)
        have = fields.get(name)
        if name == "MsgType":
            value = names.msgtype(value)
        if not (have == value or (isinstance(have, list) and value in have)):
            return False
    return True


def run_burst(peer: Peer, step: dict, timeout: float, window: int) -> dict:
    """Send N orders, at most `window` awaiting their first report (open-loop floods of
    thousands can stall a loopback TCP session for seconds in retransmission backoff)."""
    n, prefix = step["count"], f"B{int(time.time() * 1000)}-"
    peer.bursting, sent_at, first = True, {}, {}

    def take() -> None:  # wait for one received message; queue.Empty after `timeout`
        t, fields = peer.inbox.get(timeout=timeout)
        cid = fields.get("ClOrdID", "")
        if cid in sent_at and cid not in first:
            first[cid] = t

    start = time.perf_counter()
    try:
        for i in range(n):
            while len(sent_at) - len(first) >= window:
                take()
            cid = f"{prefix}{i}"
            sent_at[cid] = time.perf_counter()
            peer.send(build(peer.names, step["type"], {**step["fields"], "ClOrdID": cid}))
        while len(first) < n:
            take()
    except queue.Empty:
        pass
    peer.bursting = False
    elapsed = (max(first.values()) if first else time.perf_counter()) - start
    lat = sorted((first[c] - sent_at[c]) * 1e3 for c in first)
    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
    return {"sent": len(sent_at), "answered": len(first), "window": window, "seconds": round(elapsed, 3),
            "per_second": round(len(first) / elapsed, 1) if elapsed else None,
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}}


def run_interactive(peer: Peer, args) -> int:
    """Steps as JSON lines on stdin; every received message is printed (event "recv").
    Each step is acknowledged with {"event": "step", "n": N}; EOF logs out."""
    peer.collect = False
    if not peer.logged_on.wait(args.timeout):
        emit("timeout", waiting_for="logon")
        return TIMEOUT_EXIT
    for n, line in enumerate(sys.stdin):
        if not line.strip():
            continue
        try:
            step = parse_step(peer.names, json.loads(line))
        except (ValueError, KeyError) as e:
            emit("error", message=f"bad step: {e!r}")
            continue
        if step["kind"] == "send":
            peer.send(build(peer.names, step["type"], step["fields"]))
        elif step["kind"] == "sleep":
            time.sleep(step["seconds"])
        elif step["kind"] == "burst":
            peer.collect = True
            emit("burst", **run_burst(peer, step, args.timeout, args.window))
            peer.collect = False
        emit("step", n=n)
    return 0


def run_initiator(peer: Peer, steps: list, args) -> int:
    if args.interactive:
        return run_interactive(peer, args)
    if not peer.logged_on.wait(args.timeout):
        emit("timeout", waiting_for="logon")
        return TIMEOUT_EXIT
    for step in steps:
        if step["kind"] == "send":
            peer.send(build(peer.names, step["type"], step["fields"]))
        elif step["kind"] == "sleep":
            time.sleep(step["seconds"])
        elif step["kind"] == "burst":
            result = run_burst(peer, step, args.timeout, args.window)
            emit("burst", **result)
            if result["answered"] < step["count"]:
                return TIMEOUT_EXIT
        else:  # expect: consume received messages in order until one matches
            deadline = time.monotonic() + args.timeout
            while True:
                try:
                    _, fields = peer.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    emit("timeout", waiting_for=step["fields"])
                    return TIMEOUT_EXIT
                if matches(peer.names, fields, step["fields"]):
                    break
    time.sleep(args.linger)  # let trailing reports (e.g. fills) print before logout
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="*", help="scenario steps (see above)")
    ap.add_argument("--acceptor", action="store_true", help="run the simple exchange instead")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sender", default="PEER", help="our SenderCompID (49)")
    ap.add_argument("--target", default="OMS", help="their CompID (56)")
    ap.add_argument("--scenario", help="JSON file holding a list of steps")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds for logon and each expect")
    ap.add_argument("--linger", type=float, default=0.3, help="seconds to keep printing at the end")
    ap.add_argument("--heartbeat", type=int, default=30)
    ap.add_argument("--quiet", action="store_true", help="don't print sent/recv lines (load runs)")
    ap.add_argument("--window", type=int, default=50, help="burst: most orders awaiting a report")
    ap.add_argument("--fill-delay", type=float, default=0.0,
                    help="acceptor: seconds before filling (0 at once, <0 never: orders rest)")
    ap.add_argument("--market-price", default="100", help="acceptor: fill price of market orders")
    ap.add_argument("--hold", action="store_true",
                    help="acceptor: fill and answer cancels/replaces only when told on stdin (see above)")
    ap.add_argument("--dict", help="path to FIX44.xml (default: the one installed with quickfix)")
    ap.add_argument("--no-validate", action="store_true", help="don't validate against FIX44.xml")
    ap.add_argument("--log-dir", help="keep QuickFIX store/logs here instead of a temp dir")
    ap.add_argument("--interactive", action="store_true", help="read steps as JSON lines from stdin")
    ap.add_argument("--no-reset", action="store_true",
                    help="keep sequence numbers across runs (with --log-dir): no ResetSeqNumFlag on logon")
    args = ap.parse_args()

    dictionary = find_dictionary(args.dict)
    names = Names(dictionary)
    try:
        steps = list(args.steps)
        if args.scenario:
            with open(args.scenario) as f:
                steps = json.load(f) + steps
        steps = [parse_step(names, s) for s in steps]
    except (OSError, ValueError, KeyError, IndexError) as e:
        emit("error", message=f"bad scenario: {e!r}")
        return 2
    workdir = args.log_dir or tempfile.mkdtemp(prefix="fixpeer-")
    os.makedirs(workdir, exist_ok=True)
    settings = write_settings(args, workdir, dictionary)
    store, log = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)

    try:
        if args.acceptor:
            stop = threading.Event()  # serve until SIGTERM/SIGINT, then log out cleanly
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            peer = Exchange(names, args.quiet, args.fill_delay, args.market_price, args.hold)
            # Not SocketAcceptor: its stop() races its own thread in QuickFIX 1.16.0 (segfault).
            engine = fix.ThreadedSocketAcceptor(peer, store, settings, log)
            engine.start()
            emit("listening", port=args.port, sender=args.sender, target=args.target)
            if args.hold:
                def commands() -> None:
                    for line in sys.stdin:
                        if line.strip():
                            try:
                                peer.command(line)
                            except (ValueError, KeyError, fix.SessionNotFound) as e:
                                emit("error", message=f"bad command {line.strip()!r}: {e!r}")
                threading.Thread(target=commands, daemon=True).start()
            while not stop.wait(0.2):
                pass
            rc = 0
        else:
            peer = Peer(names, args.quiet)
            engine = fix.ThreadedSocketInitiator(peer, store, settings, log)
            engine.start()
            rc = run_initiator(peer, steps, args)
        if args.interactive and peer.logged_on.is_set():
            # Tests run many short sessions: QuickFIX's logout() waits for its next 1 s timer tick
            # and stop() polls in 1 s steps, so send the Logout now, wait for the answer, and exit.
            logout = fix.Message()
            logout.getHeader().setField(fix.MsgType("5"))
            peer.send(logout)
            peer.logged_out.wait(5)
            emit("done", rc=rc)
            if not args.log_dir:
                shutil.rmtree(workdir, ignore_errors=True)
            os._exit(rc)
        engine.stop()
    except (fix.ConfigError, fix.RuntimeError) as e:  # e.g. port already in use
        emit("error", message=str(e))
        return 1
    finally:
        if not args.log_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    emit("done", rc=rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
