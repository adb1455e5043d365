"""In-memory journals: ``MemoryJournal`` keeps records (tests); ``NullJournal`` keeps nothing
(the "journal off" benchmark baseline)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..domain.events import Event
from .chain import GENESIS, Record, link
from .codec import decode, encode


class MemoryJournal:
    durability = "memory"

    def __init__(self) -> None:
        self.rows: list[Record] = []
        self._last_hash = GENESIS

    def head(self) -> tuple[int, bytes]:
        return len(self.rows), self._last_hash

    def append(self, events: Sequence[Event]) -> None:
        prev = self._last_hash
        for event in events:
            payload = encode(event)
            digest = link(prev, payload)
            self.rows.append(Record(event.seq, payload, prev, digest))
            prev = digest
        self._last_hash = prev

    def records(self, after_seq: int = 0) -> Iterator[Record]:
        return iter(self.rows[after_seq:])

    def events(self, after_seq: int = 0) -> Iterator[Event]:
        return (decode(record.payload) for record in self.rows[after_seq:])

    def events_at(self, seqs: Sequence[int]) -> list[Event]:
        return [decode(self.rows[seq - 1].payload) for seq in sorted(seqs) if 0 < seq <= len(self.rows)]

    def count(self) -> int:
        return len(self.rows)

    def close(self) -> None:
        pass


class NullJournal(MemoryJournal):
    """Stores nothing: for measuring the engine with the journal off. Never use to serve."""

    durability = "off"

    def append(self, events: Sequence[Event]) -> None:
        self._count = getattr(self, "_count", 0) + len(events)

    def head(self) -> tuple[int, bytes]:
        return getattr(self, "_count", 0), GENESIS
