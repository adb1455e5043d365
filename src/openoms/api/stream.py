"""The WebSocket stream ``/api/v1/stream``: live orders, executions, positions and risk controls.

Protocol (JSON text frames):

1. The client opens the socket and sends ``{"type": "subscribe", "token": "<session token or
   API key>", "resume": {"epoch": "...", "seq": N} | null}`` (the token may instead come in an
   ``Authorization: Bearer`` header; browsers cannot set one).
2. The server answers ``{"type": "snapshot", "epoch", "seq", "orders", "executions",
   "positions", "kill_switches"}`` or, when it still holds everything after ``seq`` of that
   epoch, ``{"type": "resumed", "epoch", "seq"}``; then numbered updates
   ``{"seq", "prev", "type": "order" | "execution" | "position" | "rejection" | "risk", ...}``
   and unnumbered ``quotes`` and ``marks`` (latest value wins; never replayed).
3. A client that sees ``prev`` differ from the last ``seq`` it holds reconnects with that seq.
   A client too slow to keep up gets ``{"type": "error", "code": "SLOW_CONSUMER", "resume_seq"}``
   and the socket closes (code 1013): reconnect and resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ..bootstrap import OMS
from ..service.stream_hub import StreamHub, Subscription
from .access import AccessControl

log = logging.getLogger("openoms.stream")
SUBSCRIBE_TIMEOUT = 10.0
MARKET_INTERVAL = 0.5  # seconds between quote/mark frames
CLOSE_POLICY = 1008  # RFC 6455: policy violation (not signed in)
CLOSE_TRY_AGAIN = 1013


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
    hub.attach(replayed=oms.replay_report is not None)
    app.state.stream_hub = hub
    market_task: list[asyncio.Task[None]] = []

    async def market_loop() -> None:
        sent: dict[str, int] = {}
        while hub.subscriptions:
            frame = hub.market_frames(sent)
            for subscription in list(hub.subscriptions):
                if frame is not None:
                    subscription.push_raw(frame)
                marks = hub.marks_frame(subscription)
                if marks is not None:
                    subscription.push_raw(marks)
            await asyncio.sleep(MARKET_INTERVAL)
        market_task.clear()

    def start_market() -> None:
        if not market_task:
            market_task.append(asyncio.get_running_loop().create_task(market_loop(), name="stream-market"))

    hub.on_first_subscriber = start_market

    async def refuse(websocket: WebSocket, code: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await websocket.send_text(_encode({"type": "error", "code": code, "message": message}).decode())
            await websocket.close(CLOSE_POLICY)

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
        resume = (request.resume.epoch, request.resume.seq) if request.resume is not None else None
        subscription, first = hub.subscribe(principal.user, principal.visible(), resume)
        try:
            shown = first.pop("shown_seq", 0)
            await oms.runtime.wait_durable(int(shown))  # a snapshot shows only what the journal holds
            await websocket.send_text(_encode(first).decode())
            await pump(websocket, subscription)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away (RuntimeError: starlette's "send after close")
        finally:
            hub.unsubscribe(subscription)

    async def pump(websocket: WebSocket, subscription: Subscription) -> None:
        reader = asyncio.create_task(drain_client(websocket))
        try:
            while not reader.done():
                if not subscription.pending and not subscription.overflowed:
                    subscription.wake.clear()
                    waiter = asyncio.create_task(subscription.wake.wait())
                    await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    continue
                if subscription.overflowed:
                    # Everything queued is thrown away: the client resumes from what it last received.
                    resume_seq = subscription.delivered_seq
                    await websocket.send_text(_encode({"type": "error", "code": "SLOW_CONSUMER", "resume_seq": resume_seq,
                                                       "message": f"too far behind; reconnect and resume from seq {resume_seq}"}).decode())
                    await websocket.close(CLOSE_TRY_AGAIN)
                    return
                frames = subscription.pending
                while frames and not subscription.overflowed:
                    seq, prev, text = frames.popleft()
                    if seq:
                        await websocket.send_text(f'{{"seq":{seq},"prev":{prev},{text}')
                        subscription.delivered_seq = seq
                    else:
                        await websocket.send_text(text)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def drain_client(websocket: WebSocket) -> None:
        """The client may send pings; anything it sends is answered with a pong, and a close ends it."""
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await websocket.send_text('{"type":"pong"}')

    return hub
