"""What travels between gateways and engine shards: commands as msgpack (the tagged command
structs, Decimal as text), replies as JSON, and the JetStream streams that carry them."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError

from ..domain.commands import ClientCommand
from .partition import Subjects

REPLY_HEADER = "Oms-Reply"  # where the shard answers, once the command's events are durable
DUPLICATE_WINDOW_S = 120.0  # JetStream drops a command re-published with the same Nats-Msg-Id within this

_command_decoder = msgspec.msgpack.Decoder(ClientCommand)
encode_command = msgspec.msgpack.Encoder().encode
encode_reply = msgspec.json.Encoder().encode


def decode_command(data: bytes) -> ClientCommand:
    command: ClientCommand = _command_decoder.decode(data)
    return command


def decode_reply(data: bytes) -> dict[str, Any]:
    reply: dict[str, Any] = msgspec.json.decode(data)
    return reply


async def ensure_streams(js: JetStreamContext, subjects: Subjects) -> None:
    """The command stream is a work queue (a command is gone once its shard has acknowledged it
    as durable); the event stream keeps every shard's journaled events for projections."""
    wanted = [
        StreamConfig(name=subjects.command_stream, subjects=[subjects.commands("*")], retention=RetentionPolicy.WORK_QUEUE,
                     duplicate_window=DUPLICATE_WINDOW_S),
        StreamConfig(name=subjects.event_stream, subjects=[subjects.events("*")], retention=RetentionPolicy.LIMITS),
    ]
    for config in wanted:
        try:
            await js.stream_info(str(config.name))
        except NotFoundError:
            await js.add_stream(config)
