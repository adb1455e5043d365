"""What travels between gateways, engine shards and projectors: commands as msgpack (the tagged
command structs, Decimal as text), replies as JSON, journaled events as msgpack lists, and the
JetStream streams that carry them."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError

from ..access.policy import Principal, parse_roles
from ..domain import events as ev
from ..domain.commands import ClientCommand, EndOfDay, EngageKillSwitch, ReleaseKillSwitch, StartOfDay
from ..journal.codec import decode, encode
from .partition import Subjects

REPLY_HEADER = "Oms-Reply"  # where the shard answers, once the command's events are durable
# With it, the answer is one entry of a list sent to REPLY_HEADER's subject with every other answer
# of the same group commit for the same gateway: one message per commit, not one per command.
REPLY_ID_HEADER = "Oms-Reply-Id"
PRINCIPAL_HEADER = "Oms-Principal"  # the user the gateway authenticated: roles and tradable accounts
SEQ_HEADER = "Oms-Seq"  # on an event message: "<first>-<last>" journal seqs of the shard's events in it
DUPLICATE_WINDOW_S = 120.0  # JetStream drops a command re-published with the same Nats-Msg-Id within this

# Sent to every shard by a gateway: the trading day and kill switches hold cluster-wide.
BroadcastCommand = EndOfDay | StartOfDay | EngageKillSwitch | ReleaseKillSwitch
BROADCAST = (EndOfDay, StartOfDay, EngageKillSwitch, ReleaseKillSwitch)
ClusterCommand = ClientCommand | BroadcastCommand

_command_decoder = msgspec.msgpack.Decoder(ClusterCommand)
encode_command = msgspec.msgpack.Encoder().encode
encode_reply = msgspec.json.Encoder().encode


def decode_command(data: bytes) -> ClusterCommand:
    command: ClusterCommand = _command_decoder.decode(data)
    return command


def decode_reply(data: bytes) -> Any:
    return msgspec.json.decode(data)


def encode_principal(principal: Principal) -> str:
    return msgspec.json.encode({"user": principal.user, "roles": sorted(principal.roles),
                                "accounts": sorted(principal.accounts), "via": principal.via}).decode()


def decode_principal(text: str) -> Principal:
    data = msgspec.json.decode(text.encode())
    return Principal(str(data["user"]), parse_roles(data["roles"]), frozenset(data["accounts"]), str(data["via"]))


def encode_events(events: list[ev.Event]) -> bytes:
    return msgspec.msgpack.encode([encode(event) for event in events])


def decode_events(data: bytes) -> list[ev.Event]:
    return [decode(bytes(item)) for item in msgspec.msgpack.decode(data)]


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
