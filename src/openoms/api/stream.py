"""The WebSocket stream ``/api/v1/stream``: live orders, executions, positions and risk controls.

Protocol (JSON text frames):

1. The client opens the socket and sends ``{"type": "subscribe", "token": "<session token or
   API key>", "resume": {"epoch": "...", "seq": N} | null}`` (the token may instead come in an
   ``Authorization: Bearer`` header; browsers cannot set one).
2. The server answers ``{"type": "snapshot", "epoch", "seq", "orders", "executions",
   "positions", "kill_switches", "algos", "staged"}`` or, when it still holds everything after
   ``seq`` of that epoch, ``{"type": "resumed", "epoch", "seq"}``; then numbered updates
   ``{"seq", "prev", "type": "order" | "execution" | "position" | "algo" | "staged" |
   "rejection" | "risk", ...}`` and unnumbered ``quotes``, ``marks`` and ``usage`` (latest
   value wins; never replayed). When several messages are waiting, one frame carries them as a
   JSON array, in order.
3. A client that sees ``prev`` differ from the last ``seq`` it holds reconnects with that seq.
   Every two seconds the credential is checked again: an ended session, revoked key or disabled
   user gets ``SESSION_ENDED``, changed accounts ``ENTITLEMENTS_CHANGED``, then a close (1008).
   A client too slow to keep up gets ``{"type": "error", "code": "SLOW_CONSUMER", "resume_seq"}``
   and the socket closes (code 1013): reconnect and resume. A server that cannot serve the stream
   yet (a cluster gateway still reading the shards' events) or any more says ``STREAM_UNAVAILABLE``
   instead of a snapshot, then closes (1013).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ..bootstrap import OMS
from ..service.stream_hub import StreamHub, StreamUnavailable, Subscription, UpdateHub
from .access import AccessControl

log = logging.getLogger("openoms.stream")
SUBSCRIBE_TIMEOUT = 10.0
MARKET_INTERVAL = 0.5  # seconds between quote/mark frames
USAGE_EVERY = 2  # market frames per limit-usage frame (once a second)
CLOSE_POLICY = 1008  # RFC 6455: policy violation (not signed in)
CLOSE_TRY_AGAIN = 1013
MAX_PER_FRAME = 500  # messages batched into one WebSocket frame at most
REVALIDATE_SECONDS = 2.0  # how often a connected subscriber's credential and accounts are checked again


class Resume(msgspec.Struct):
    epoch: str
    seq: int


class Subscribe(msgspec.Struct):
    type: str
    token: str | None = None
    resume: Resume | None = None


_encode = msgspec.json.Encoder(decimal_format="string").encode


def register_stream(app: FastAPI, oms: OMS, control: AccessControl) -> StreamHub:
    hub = StreamHub(oms.engine, oms.runtime, oms.reference, oms.quotes, buffer_size=oms.config.stream_buffer)
    hub.staging = oms.staging
    hub.usage_of = getattr(app.state, "account_usage", None)
    hub.attach(replayed=oms.replay_report is not None)
    serve_stream(app, hub, control)
    return hub


def serve_stream(app: FastAPI, hub: UpdateHub, control: AccessControl) -> None:
    """The socket route and its market loop, over whatever feeds ``hub`` (one engine, or a cluster
    gateway's view of every shard: cluster/stream_feed.py)."""
    app.state.stream_hub = hub
    market_task: list[asyncio.Task[None]] = []

    async def market_loop() -> None:
        sent: dict[str, int] = {}
        ticks = 0
        while hub.subscriptions:
            frame = hub.market_frames(sent)
            usage = hub.usage_frames() if ticks % USAGE_EVERY == 0 else []
            ticks += 1
            for subscription in list(hub.subscriptions):
                if frame is not None:
                    subscription.push_raw(frame)
                marks = hub.marks_frame(subscription)
                if marks is not None:
                    subscription.push_raw(marks)
                usage_frame = hub.usage_frame(subscription, usage) if usage else None
                if usage_frame is not None:
                    subscription.push_raw(usage_frame)
            await asyncio.sleep(MARKET_INTERVAL)
        market_task.clear()

    def start_market() -> None:
        if not market_task:
            market_task.append(asyncio.get_running_loop().create_task(market_loop(), name="stream-market"))

    hub.on_first_subscriber = start_market

    async def refuse(websocket: WebSocket, code: str, message: str, close_code: int = CLOSE_POLICY) -> None:
        with contextlib.suppress(Exception):
            await websocket.send_text(_encode({"type": "error", "code": code, "message": message}).decode())
            await websocket.close(close_code)

    @app.websocket("/api/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), SUBSCRIBE_TIMEOUT)
            request = msgspec.json.decode(raw, type=Subscribe)
        except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            await refuse(websocket, "BAD_SUBSCRIBE", f"first send {{\"type\": \"subscribe\", \"token\": ...}}: {exc}")
            return
        except WebSocketDisconnect:
            return
        if request.type != "subscribe":
            await refuse(websocket, "BAD_SUBSCRIBE", f"expected a subscribe message, got {request.type!r}")
            return
        principal = control.authenticate(list(websocket.scope["headers"]), request.token)
        if principal is None:
            await refuse(websocket, "UNAUTHENTICATED", "sign in: a valid session token or API key is required")
            return
        try:
            await hub.ready()
        except StreamUnavailable as exc:
            await refuse(websocket, "STREAM_UNAVAILABLE", str(exc), CLOSE_TRY_AGAIN)
            return
        resume = (request.resume.epoch, request.resume.seq) if request.resume is not None else None
        subscription, first = hub.subscribe(principal.user, principal.visible(), resume)
        try:
            await hub.wait_shown(int(first.pop("shown_seq", 0)))
            await websocket.send_text(_encode(first).decode())
            await pump(websocket, subscription, list(websocket.scope["headers"]), request.token)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away (RuntimeError: starlette's "send after close")
        finally:
            hub.unsubscribe(subscription)

    async def pump(websocket: WebSocket, subscription: Subscription, headers: list[tuple[bytes, bytes]], token: str | None) -> None:
        reader = asyncio.create_task(drain_client(websocket, subscription))
        checked = time.monotonic()
        try:
            while not subscription.closed:
                if time.monotonic() - checked >= REVALIDATE_SECONDS:
                    # The session may have expired or been ended, the key revoked, the user disabled
                    # or regranted since the subscribe: the stream follows (cheap: callers are cached).
                    checked = time.monotonic()
                    principal = control.authenticate(headers, token)
                    ended = "SESSION_ENDED" if principal is None else (
                        "ENTITLEMENTS_CHANGED" if principal.visible() != subscription.visible else None)
                    if ended is not None:
                        await websocket.send_text(_encode({"type": "error", "code": ended, "resume_seq": subscription.delivered_seq,
                                                           "message": "sign in again" if principal is None else
                                                           "your accounts changed: subscribe again"}).decode())
                        await websocket.close(CLOSE_POLICY)
                        return
                if not subscription.pending and not subscription.overflowed:
                    # Waiting costs no task per wake-up (one per client and batch adds up with many
                    # clients): the reader sets ``closed`` and wakes this when the client goes away.
                    subscription.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(REVALIDATE_SECONDS):
                            await subscription.wake.wait()
                    if subscription.closed:
                        return
                    continue
                if subscription.overflowed:
                    # Everything queued is thrown away: the client resumes from what it last received.
                    resume_seq = subscription.delivered_seq
                    await websocket.send_text(_encode({"type": "error", "code": "SLOW_CONSUMER", "resume_seq": resume_seq,
                                                       "message": f"too far behind; reconnect and resume from seq {resume_seq}"}).decode())
                    await websocket.close(CLOSE_TRY_AGAIN)
                    return
                # Whatever is waiting goes in one frame (a JSON array when more than one message): a frame
                # costs far more than its bytes, and a burst of fills would otherwise be a burst of frames.
                frames = subscription.pending
                parts: list[str] = []
                last = 0
                while frames and len(parts) < MAX_PER_FRAME:
                    seq, prev, text = frames.popleft()
                    if seq:
                        parts.append(f'{{"seq":{seq},"prev":{prev},{text}')
                        last = seq
                    else:
                        parts.append(text)
                await websocket.send_text(parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]")
                if last:
                    subscription.delivered_seq = last
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def drain_client(websocket: WebSocket, subscription: Subscription) -> None:
        """The client may send pings; anything it sends is answered with a pong (queued behind the
        updates: one task writes to the socket), and a close ends it."""
        while True:
            try:
                message = await websocket.receive()
            except BaseException:
                subscription.closed = True
                subscription.wake.set()
                raise
            if message["type"] == "websocket.disconnect":
                subscription.closed = True
                subscription.wake.set()
                return
            subscription.push_raw('{"type":"pong"}')
