"""Engine extensions as the engine sees them: a port, like the pre-trade gate (domain/gate.py).

An extension (``openoms.posttrade.book.PostTradeBook``) owns some command types and some state.
The single writer stays the engine: it hands the extension its commands to decide (the events
come back numbered from ``next_seq``; the engine applies and journals them) and every event it
applies, live or on replay, so the extension's state is replay(journal) too.

An extension may also define ``vet_new_order(command: SubmitOrder) -> Reject | None``: the engine
calls it while deciding every new order, after the order's own checks, and refuses the order
with the reject it returns (the staging desk refuses a ClOrdID that is an open staged id unless
the order is that staged order's release).
"""

from __future__ import annotations

from typing import Protocol

from . import commands as cmd
from . import events as ev


class EngineExtension(Protocol):
    command_types: tuple[type[cmd.Command], ...]

    def decide(self, command: cmd.Command, now: int, next_seq: int) -> list[ev.Event]:
        """The command's events (a refusal is a CommandRejected), numbered from ``next_seq``; changes nothing."""
        ...

    def apply(self, event: ev.Event) -> None:
        """Fold one event (the engine's or the extension's own); never raises for business reasons."""
        ...
