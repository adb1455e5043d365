"""A FIX 4.4 market-data provider on QuickFIX (a real third-party engine), run as a subprocess
(QuickFIX acceptors stopped and restarted inside one Python process crashed it; SIGTERM logs out): it accepts one
session, validates every message against QuickFIX's FIX44.xml data dictionary, answers each
MarketDataRequest (35=V) with a snapshot (35=W) per instrument it knows, or a
MarketDataRequestReject (35=Y) for one it does not, and sends incremental refreshes (35=X) when
the test says. Prices go out as text, never through float.

    python mdprovider.py PORT BOOKS_JSON   # BOOKS_JSON: {"AAPL": [[["190.00", "300"]], [["190.05", "200"]]]}

stdout: JSON lines {"event": "listening" | "logon" | "request" | "logout", ...}; stdin: JSON lines
{"increment": SYMBOL, "entries": [[action, type, price, size], ...]}. SIGTERM: log out, exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

import quickfix as fix
import quickfix44 as fix44

Level = tuple[str, str]  # (price, size) as text


def dictionary() -> str:
    for path in (os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml"),
                 os.path.join(sysconfig.get_path("data"), "share", "quickfix", "FIX44.xml")):
        if os.path.isfile(path):
            return path
    raise RuntimeError("FIX44.xml of the quickfix package not found")


class Provider(fix.Application):  # type: ignore[misc]
    def __init__(self, port: int, books: dict[str, tuple[list[Level], list[Level]]], sender: str = "MDP",
                 target: str = "OPENOMS-MD") -> None:
        super().__init__()
        self.port, self.sender, self.target = port, sender, target
        self.books = books
        self.session: Any = None
        self.requests: list[tuple[str, list[str]]] = []  # (MDReqID, symbols) as received
        self.subscriptions: dict[str, str] = {}  # symbol -> MDReqID of the current session
        self.logons = 0
        self.lock = threading.Lock()
        self.workdir = Path(tempfile.mkdtemp(prefix="mdprovider-"))
        self.acceptor: Any = None

    # --- running -------------------------------------------------------------------------------

    def start(self) -> Provider:
        lines = ["[DEFAULT]", "ConnectionType=acceptor", f"FileStorePath={self.workdir}/store",
                 f"FileLogPath={self.workdir}/log", "StartTime=00:00:00", "EndTime=00:00:00", "ResetOnLogon=Y",
                 "UseDataDictionary=Y", f"DataDictionary={dictionary()}", f"SocketAcceptPort={self.port}",
                 "SocketReuseAddress=Y", "[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={self.sender}",
                 f"TargetCompID={self.target}"]
        settings_file = self.workdir / "provider.cfg"
        settings_file.write_text("\n".join(lines) + "\n")
        settings = fix.SessionSettings(str(settings_file))
        # Not SocketAcceptor: its stop() races its own thread in QuickFIX 1.16.0 (segfault).
        self.acceptor = fix.ThreadedSocketAcceptor(self, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
        self.acceptor.start()
        return self

    def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.stop()  # logs out and closes the connection

    # --- QuickFIX callbacks ------------------------------------------------------------------------

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        with self.lock:
            self.session = session_id
            self.logons += 1
        emit("logon")

    def onLogout(self, session_id: Any) -> None:
        with self.lock:
            self.session = None
            self.subscriptions.clear()
        emit("logout")

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(35) != "V":
            return
        md_req_id = message.getField(262)
        group = fix44.MarketDataRequest.NoRelatedSym()
        symbols = []
        for i in range(1, int(message.getField(146)) + 1):
            message.getGroup(i, group)
            symbols.append(group.getField(55))
        with self.lock:
            self.requests.append((md_req_id, symbols))
        emit("request", md_req_id=md_req_id, symbols=symbols)
        for symbol in symbols:
            if symbol not in self.books:
                reject = fix44.MarketDataRequestReject()
                reject.setField(fix.StringField(262, md_req_id))
                reject.setField(fix.StringField(281, "0"))
                reject.setField(fix.StringField(58, f"unknown symbol {symbol}"))
                fix.Session.sendToTarget(reject, session_id)
                continue
            with self.lock:
                self.subscriptions[symbol] = md_req_id
            self.snapshot(symbol, session_id)

    # --- sending -----------------------------------------------------------------------------------

    def snapshot(self, symbol: str, session_id: Any) -> None:
        bids, asks = self.books[symbol]
        message = fix44.MarketDataSnapshotFullRefresh()
        message.setField(fix.StringField(262, self.subscriptions[symbol]))
        message.setField(fix.StringField(55, symbol))
        for entry_type, levels in (("0", bids), ("1", asks)):
            for price, size in levels:
                entry = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
                entry.setField(fix.StringField(269, entry_type))
                entry.setField(fix.StringField(270, price))
                entry.setField(fix.StringField(271, size))
                message.addGroup(entry)
        fix.Session.sendToTarget(message, session_id)

    def increment(self, symbol: str, *entries: tuple[str, str, str, str]) -> None:
        """One 35=X with entries (MDUpdateAction, MDEntryType, price, size), e.g. ("0", "1", "100.01", "300")."""
        with self.lock:
            session_id = self.session
            md_req_id = self.subscriptions[symbol]
        message = fix44.MarketDataIncrementalRefresh()
        message.setField(fix.StringField(262, md_req_id))
        for action, entry_type, price, size in entries:
            entry = fix44.MarketDataIncrementalRefresh.NoMDEntries()
            entry.setField(fix.StringField(279, action))
            entry.setField(fix.StringField(269, entry_type))
            entry.setField(fix.StringField(55, symbol))
            entry.setField(fix.StringField(270, price))
            entry.setField(fix.StringField(271, size))
            message.addGroup(entry)
        assert fix.Session.sendToTarget(message, session_id)


_print_lock = threading.Lock()


def emit(event: str, **data: Any) -> None:
    with _print_lock:
        print(json.dumps({"event": event, **data}), flush=True)


def main() -> int:
    port, books_json = int(sys.argv[1]), sys.argv[2]
    books = {symbol: ([tuple(level) for level in bids], [tuple(level) for level in asks])
             for symbol, (bids, asks) in json.loads(books_json).items()}
    provider = Provider(port, books).start()  # type: ignore[arg-type]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def commands() -> None:
        for line in sys.stdin:
            command = json.loads(line)
            provider.increment(command["increment"], *(tuple(entry) for entry in command["entries"]))
            emit("sent", symbol=command["increment"])

    threading.Thread(target=commands, daemon=True).start()
    emit("listening", port=port)
    while not stop.wait(0.1):
        pass
    provider.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
