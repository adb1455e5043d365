"""The hash chain: each record's hash covers the previous hash and this record's bytes.

Editing, removing or reordering any stored event changes every hash after it, so
``verify`` names the first record whose stored hash no longer matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = bytes(32)


def link(prev_hash: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(prev_hash + payload).digest()


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    payload: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    last_seq: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(
    records: Iterable[Record], expected_prev: bytes = GENESIS, expected_seq: int = 1, decode_payloads: bool = True
) -> ChainReport:
    """Walk records in order; stop at the first one that breaks the chain and say why.
    ``decode_payloads=False`` checks links and sequence only (start-up's parallel check: the
    replay beside it decodes every record itself)."""
    from .codec import decode  # local: codec pulls in the event types, chain stays bytes-only

    checked = 0
    last = expected_seq - 1
    for record in records:
        problem = ""
        if record.seq != expected_seq:
            problem = f"sequence gap: expected {expected_seq}, found {record.seq}"
        elif record.prev_hash != expected_prev:
            problem = "prev_hash does not match the previous record's hash"
        elif link(expected_prev, record.payload) != record.hash:
            problem = "hash does not match the record's contents (edited or corrupted)"
        elif decode_payloads:
            try:
                event = decode(record.payload)
            except Exception as exc:  # noqa: BLE001 - any decode failure is corruption to report
                problem = f"payload does not decode: {exc}"
            else:
                if event.seq != record.seq:
                    problem = f"payload seq {event.seq} differs from record seq {record.seq}"
        if problem:
            return ChainReport(False, checked, last, record.seq, problem)
        checked += 1
        last = record.seq
        expected_prev = record.hash
        expected_seq += 1
    return ChainReport(True, checked, last)
