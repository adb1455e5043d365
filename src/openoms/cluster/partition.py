"""Who owns what: accounts are hash-partitioned over M engine shards, and the names of the
JetStream streams and subjects that carry each partition's commands and events."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class ShardError(ValueError):
    pass


def shard_of(account: str, shards: int) -> int:
    """The shard that owns ``account``: a stable hash (BLAKE2b, not Python's salted ``hash``),
    so every gateway and every restart agrees. Changing M moves accounts: resharding is a
    planned migration (drain, then move each moved account's open orders), not a restart."""
    return int.from_bytes(hashlib.blake2b(account.encode(), digest_size=8).digest(), "big") % shards


def parse_shard(text: str) -> tuple[int, int]:
    """``"N/M"``: shard N of M (0 <= N < M)."""
    number, _, total = text.partition("/")
    if not (number.isdigit() and total.isdigit()) or not 0 <= int(number) < int(total):
        raise ShardError(f"shard must be N/M with 0 <= N < M, got {text!r}")
    return int(number), int(total)


def cluster_order_id(shard: int, order_id: str) -> str:
    """Each shard numbers its orders O1, O2, ...; outside the shard an order is S<shard>-O<n>."""
    return f"S{shard}-{order_id}"


def split_order_id(text: str) -> tuple[int, str] | None:
    prefix, _, local = text.partition("-")
    if not prefix.startswith("S") or not prefix[1:].isdigit() or not local:
        return None
    return int(prefix[1:]), local


@dataclass(frozen=True, slots=True)
class Subjects:
    """Stream and subject names under one prefix (tests use a random one; production ``oms``)."""

    prefix: str = "oms"

    @property
    def command_stream(self) -> str:
        return f"{self.prefix.upper()}_COMMANDS"

    @property
    def event_stream(self) -> str:
        return f"{self.prefix.upper()}_EVENTS"

    def commands(self, shard: int | str) -> str:
        return f"{self.prefix}.cmd.{shard}"

    def events(self, shard: int | str) -> str:
        return f"{self.prefix}.evt.{shard}"

    def consumer(self, shard: int) -> str:
        return f"engine-{shard}"
