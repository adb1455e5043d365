"""The one error every journal backend raises: the runtime fails closed on it."""

from __future__ import annotations


class JournalError(RuntimeError):
    """The journal cannot be written or read; the engine must stop accepting commands."""


class JournalUnavailable(JournalError):
    """The journal's database server cannot be reached (connection lost, server restarting): the
    runtime stops accepting commands, reconnects with backoff and resumes once the journal's tail
    is what it expects (service/runtime.py). Only a networked store (PostgreSQL) raises it."""
