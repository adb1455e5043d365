"""Render the lifecycle tables as Markdown (docs/lifecycle.md is generated from this, and a
test fails when the file and the tables disagree)."""

from __future__ import annotations

from .lifecycle import BY_QUANTITY, KEEP, NEUTRAL, PENDING, WORKING, OrdStatus

HEADER = """# Order lifecycle

Generated from `src/openoms/domain/lifecycle.py` by `python -m openoms.domain.lifecycle_doc > docs/lifecycle.md`;
`tests/unit/domain/test_lifecycle_doc.py` fails when this file is stale.

An order has a *working* status and at most one *pending* request (a cancel or replace the
venue has not answered). The OrdStatus a client sees is PendingCancel, else PendingReplace,
else the working status (FIX 4.4 precedence). "by quantity" means New, PartiallyFilled or
Filled by comparing CumQty with OrderQty.
"""


def _name(target: object) -> str:
    if target is BY_QUANTITY:
        return "by quantity"
    if target is KEEP:
        return "(unchanged)"
    if isinstance(target, OrdStatus):
        return target.value
    return "(none)" if target is None else str(getattr(target, "value", target))


def markdown() -> str:
    lines = [HEADER, "## Working status", "", "```mermaid", "stateDiagram-v2", "    [*] --> pending_new: OrderAccepted"]
    quantity_states = (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED)
    for (status, event), target in WORKING.items():
        if isinstance(target, OrdStatus) and target is not status:
            lines.append(f"    {status.value} --> {target.value}: {event.__name__}")
        elif target is BY_QUANTITY:
            for reached in quantity_states:
                if reached is not status:
                    lines.append(f"    {status.value} --> {reached.value}: {event.__name__} (by quantity)")
    lines += ["```", "", "| status | event | next working status |", "|---|---|---|"]
    for (status, event), target in WORKING.items():
        lines.append(f"| {status.value} | {event.__name__} | {_name(target)} |")
    lines += ["", "Events that never change the working status: "
              + ", ".join(sorted(e.__name__ for e in NEUTRAL)) + ".", "",
              "## Pending requests", "", "| pending | event | pending after |", "|---|---|---|"]
    for (pending, event), after in PENDING.items():
        lines.append(f"| {_name(pending)} | {event.__name__} | {_name(after)} |")
    lines += ["", "Any other (status, event) pair cannot happen: the engine refuses the report that would "
              "cause it and journals a `CommandRejected` (`UNEXPECTED_REPORT`) instead.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
