"""The one error every journal backend raises: the runtime fails closed on it."""

from __future__ import annotations


class JournalError(RuntimeError):
    """The journal cannot be written or read; the engine must stop accepting commands."""
