"""A TCP proxy between an OMS and the PostgreSQL server that a test can cut and restore (the
server gone, as the OMS sees it, without stopping the shared server), or make lose one answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    """127.0.0.1:<port> -> the PostgreSQL server. ``cut()`` drops every connection and refuses new
    ones (the server gone, as the OMS sees it); ``restore()`` lets them through again;
    ``swallow_next_reply()`` forwards the next request but drops the server's answer and the
    connection (a commit whose answer is lost); ``go_silent()`` cuts the OMS's side only and keeps
    the server's side open (a network gone silent: the server never hears the connection end, so
    its session lingers, holding whatever locks it held)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.down = False
        self.swallow = False
        self.swallowed = threading.Event()
        self.links: list[tuple[socket.socket, socket.socket]] = []
        self.lingering: set[socket.socket] = set()  # server ends kept open by go_silent()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if replies and data and self.swallow:
                self.swallow = False
                self.swallowed.set()
                data = b""  # the answer never arrives: the connection just drops
            if not data:
                for end in (source, sink):
                    if end in self.lingering:
                        continue
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
                    end.close()
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    def cut(self) -> None:
        self.down = True
        with self.lock:
            links, self.links = self.links, []
        for pair in links:
            for end in pair:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def go_silent(self) -> None:
        with self.lock:
            links, self.links = self.links, []
            self.lingering.update(upstream for _, upstream in links)
        for client, _ in links:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()

    def restore(self) -> None:
        self.down = False

    def swallow_next_reply(self) -> None:
        self.swallowed.clear()
        self.swallow = True

    def close(self) -> None:
        self.cut()
        with self.lock:
            lingering, self.lingering = self.lingering, set()
        for end in lingering:
            end.close()
        self.listener.close()


def through(url: str, port: int) -> str:
    """The same database URL, reached on 127.0.0.1:<port>."""
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))
