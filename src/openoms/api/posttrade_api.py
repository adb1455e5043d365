"""REST endpoints of post-trade: trades and blotter, positions and P&L, start-of-day loads and
reconciliation, block allocations (with their FIX messages), settlement instructions, statuses,
fails and exports. Every change is a command to the engine, journaled with its user."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..bootstrap import OMS
from ..domain import commands as cmd
from ..domain import events as ev
from ..domain.ids import AccountId, OrderId, Symbol
from ..domain.rejects import RejectCode
from ..posttrade import commands as pc
from ..posttrade import reports
from ..posttrade.book import PostTradeBook
from ..posttrade.events import AllocationTarget, PositionRow
from ..posttrade.fix_alloc import allocation_ack, allocation_instruction
from ..posttrade.sese023 import sese023
from ..posttrade.settlement import TRANSITIONS
from .rest import BadRequest, actor_of, decode_body, error_response, json_response, reject_response

PREFIX = "/api/v1/posttrade"


class Target(msgspec.Struct, forbid_unknown_fields=True):
    account: str
    quantity: Decimal | None = None
    weight: Decimal | None = None


class AllocationRequest(msgspec.Struct, forbid_unknown_fields=True):
    orders: list[str]
    method: str = ""
    targets: list[Target] = []


class PlanRequest(msgspec.Struct, forbid_unknown_fields=True):
    order_id: str
    method: str
    targets: list[Target]


class AmendRequest(msgspec.Struct, forbid_unknown_fields=True):
    method: str
    targets: list[Target]
    reason: str = ""


class AckRequest(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    reason: str = ""


class InstructRequest(msgspec.Struct, forbid_unknown_fields=True):
    allocation_ids: list[str] = []


class StatusRequest(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    reason: str = ""


class PositionIn(msgspec.Struct, forbid_unknown_fields=True):
    account: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal = Decimal(0)


class LoadRequest(msgspec.Struct, forbid_unknown_fields=True):
    as_of: str
    positions: list[PositionIn]
    source: str = "api"


def targets_of(targets: list[Target]) -> list[AllocationTarget]:
    return [AllocationTarget(AccountId(t.account), t.quantity, t.weight) for t in targets]


def is_csv(request: Request) -> bool:
    return "csv" in request.headers.get("content-type", "")


def csv_response(content: str, name: str) -> Response:
    return Response(content, media_type="text/csv", headers={"content-disposition": f'attachment; filename="{name}"'})


def register(app: FastAPI, oms: OMS) -> None:
    book: PostTradeBook | None = oms.posttrade
    if book is None:
        return
    runtime, engine = oms.runtime, oms.engine

    def marks(symbol: Symbol) -> Decimal | None:
        quote = oms.quotes.get(symbol)
        return quote.last if quote is not None else None

    async def execute(command: cmd.Command) -> Response | list[ev.Event]:
        outcome = await runtime.execute(command)
        if outcome.rejected is not None:
            if outcome.rejected.code is RejectCode.UNKNOWN_ALLOCATION:
                return error_response(404, outcome.rejected.code.value, outcome.rejected.message, outcome.rejected.detail)
            return reject_response(outcome.rejected)
        return outcome.events

    async def current() -> None:
        await runtime.wait_durable(engine.seq)

    def allocation_or_404(allocation_id: str) -> None:
        if allocation_id not in book.allocations:
            raise BadRequest(404, "UNKNOWN_ALLOCATION", f"unknown allocation {allocation_id!r}")

    # --- trades and positions ---------------------------------------------------------------

    @app.get(f"{PREFIX}/trades", tags=["post-trade"], summary="Trades (one per execution), optionally of one trade date or account")
    async def trades(trade_date: str | None = None, account: str | None = None, format: str = "json") -> Response:
        await current()
        rows = [r for r in reports.blotter(book, trade_date) if account is None or r["account"] == account]
        if format == "csv":
            return csv_response(reports.to_csv(rows), "blotter.csv")
        return json_response({"trades": rows})

    @app.get(f"{PREFIX}/positions", tags=["post-trade"], summary="Positions with realized and unrealized P&L, in instrument and account currency")
    async def positions(account: str | None = None) -> Response:
        await current()
        return json_response({"positions": reports.positions(book, marks, oms.gate.fx, account)})

    @app.get(f"{PREFIX}/statement", tags=["post-trade"], summary="End-of-day positions and P&L statement (JSON or CSV)")
    async def statement(as_of: str | None = None, format: str = "json") -> Response:
        await current()
        day = as_of or datetime.now(UTC).date().isoformat()
        if format == "csv":
            return csv_response(reports.to_csv(reports.positions(book, marks, oms.gate.fx)), f"positions-{day}.csv")
        return json_response(reports.statement(book, marks, oms.gate.fx, day))

    @app.post(f"{PREFIX}/positions/load", tags=["post-trade"],
              summary="Load start-of-day positions (JSON, or CSV account,symbol,quantity,avg_price with ?as_of=)")
    async def load_positions(request: Request, as_of: str | None = None, source: str = "api") -> Response:
        body = await request.body()
        if is_csv(request):
            try:
                parsed = reports.parse_position_rows(body.decode("utf-8", "replace"))
            except ValueError as exc:
                return error_response(422, "INVALID_POSITIONS", str(exc))
            rows = [PositionRow(AccountId(a), Symbol(s), q, p) for a, s, q, p in parsed]
            day = as_of or ""
        else:
            load = decode_body(body, LoadRequest)
            rows = [PositionRow(AccountId(p.account), Symbol(p.symbol), p.quantity, p.avg_price) for p in load.positions]
            day, source = load.as_of, load.source
        result = await execute(pc.LoadPositions(actor=actor_of(request, oms), as_of=day, source=source, rows=rows))
        if isinstance(result, Response):
            return result
        return json_response({"loaded": len(rows), "seq": result[0].seq if result else None})

    @app.post(f"{PREFIX}/positions/reconcile", tags=["post-trade"],
              summary="Reconcile against an external position file (CSV account,symbol,quantity): the breaks")
    async def reconcile(request: Request) -> Response:
        try:
            parsed = reports.parse_position_rows((await request.body()).decode("utf-8", "replace"))
        except ValueError as exc:
            return error_response(422, "INVALID_POSITIONS", str(exc))
        await current()
        breaks = reports.reconcile(book, [(a, s, q) for a, s, q, _ in parsed])
        return json_response({"breaks": breaks, "matched": not breaks})

    # --- allocations ---------------------------------------------------------------------------

    @app.post(f"{PREFIX}/allocations/plan", tags=["post-trade"], summary="Attach a pre-trade allocation to a block order")
    async def plan(request: Request) -> Response:
        body = decode_body(await request.body(), PlanRequest)
        result = await execute(pc.PlanAllocation(actor=actor_of(request, oms), block_order=OrderId(body.order_id),
                                                 method=body.method, targets=targets_of(body.targets)))
        return result if isinstance(result, Response) else json_response({"planned": body.order_id}, 201)

    @app.post(f"{PREFIX}/allocations", tags=["post-trade"], summary="Allocate the fills of block order(s) to accounts")
    async def create_allocation(request: Request) -> Response:
        body = decode_body(await request.body(), AllocationRequest)
        result = await execute(pc.AllocateBlock(actor=actor_of(request, oms), orders=[OrderId(o) for o in body.orders],
                                                method=body.method, targets=targets_of(body.targets)))
        if isinstance(result, Response):
            return result
        return json_response(reports.allocation_view(book, result[0].allocation_id), 201)  # type: ignore[attr-defined]

    @app.get(f"{PREFIX}/allocations", tags=["post-trade"], summary="Every allocation")
    async def list_allocations() -> Response:
        await current()
        return json_response({"allocations": [reports.allocation_view(book, a) for a in book.allocations]})

    @app.get(f"{PREFIX}/allocations/{{allocation_id}}", tags=["post-trade"], summary="One allocation with its lines and history")
    async def get_allocation(allocation_id: str) -> Response:
        await current()
        allocation_or_404(allocation_id)
        return json_response(reports.allocation_view(book, allocation_id))

    @app.put(f"{PREFIX}/allocations/{{allocation_id}}", tags=["post-trade"], summary="Amend an allocation (before settlement goes out)")
    async def amend_allocation(allocation_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), AmendRequest)
        result = await execute(pc.AmendAllocation(actor=actor_of(request, oms), allocation_id=allocation_id, method=body.method,
                                                  targets=targets_of(body.targets), reason=body.reason))
        return result if isinstance(result, Response) else json_response(reports.allocation_view(book, allocation_id))

    @app.delete(f"{PREFIX}/allocations/{{allocation_id}}", tags=["post-trade"], summary="Cancel an allocation (before settlement goes out)")
    async def cancel_allocation(allocation_id: str, request: Request, reason: str = "canceled") -> Response:
        result = await execute(pc.CancelAllocation(actor=actor_of(request, oms), allocation_id=allocation_id, reason=reason))
        return result if isinstance(result, Response) else json_response(reports.allocation_view(book, allocation_id))

    @app.post(f"{PREFIX}/allocations/{{allocation_id}}/ack", tags=["post-trade"], summary="Record the broker's acknowledgement")
    async def acknowledge(allocation_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), AckRequest)
        result = await execute(pc.AcknowledgeAllocation(actor=actor_of(request, oms), allocation_id=allocation_id,
                                                        status=body.status, reason=body.reason))
        return result if isinstance(result, Response) else json_response(reports.allocation_view(book, allocation_id))

    @app.get(f"{PREFIX}/allocations/{{allocation_id}}/fix", tags=["post-trade"],
             summary="The allocation as FIX 4.4 messages: AllocationInstruction (J), and the ack (P) once recorded")
    async def allocation_fix(allocation_id: str, sender: str = "OPENOMS", target: str = "BROKER") -> Response:
        await current()
        allocation_or_404(allocation_id)
        allocation = book.allocations[allocation_id]
        now = time.time_ns()
        messages = [allocation_instruction(allocation, sender, target, 1, now)]
        if allocation.ack:
            messages.append(allocation_ack(allocation, target, sender, 1, now))
        return Response(b"\n".join(messages) + b"\n", media_type="text/plain")

    # --- settlement -----------------------------------------------------------------------------

    @app.post(f"{PREFIX}/settlement/instruct", tags=["post-trade"],
              summary="Create settlement instructions for allocations (none named: every booked one without)")
    async def instruct(request: Request) -> Response:
        body = decode_body(await request.body(), InstructRequest, optional=True)
        result = await execute(pc.InstructSettlement(actor=actor_of(request, oms), allocation_ids=body.allocation_ids))
        if isinstance(result, Response):
            return result
        made = [i.instruction_id for e in result for i in e.instructions]  # type: ignore[attr-defined]
        return json_response({"instructions": [reports.instruction_row(book.instructions[i]) for i in made]}, 201)

    @app.get(f"{PREFIX}/settlement/instructions", tags=["post-trade"], summary="Settlement instructions (JSON or CSV)")
    async def instructions(status: str | None = None, format: str = "json") -> Response:
        await current()
        rows = [reports.instruction_row(s) for s in book.instructions.values() if status is None or s.status == status]
        if format == "csv":
            return csv_response(reports.to_csv(rows), "settlement-instructions.csv")
        return json_response({"instructions": rows})

    @app.get(f"{PREFIX}/settlement/instructions/{{instruction_id}}/sese023.xml", tags=["post-trade"],
             summary="One instruction as ISO 20022 sese.023-like XML")
    async def instruction_xml(instruction_id: str) -> Response:
        await current()
        state = book.instructions.get(instruction_id)
        if state is None:
            return error_response(404, "NOT_FOUND", f"unknown settlement instruction {instruction_id!r}")
        return Response(sese023(state.instruction), media_type="application/xml")

    @app.post(f"{PREFIX}/settlement/instructions/{{instruction_id}}/status", tags=["post-trade"],
              summary="Move an instruction: instructed, matched, settled or failed (with reason)")
    async def set_status(instruction_id: str, request: Request) -> Response:
        body = decode_body(await request.body(), StatusRequest)
        result = await execute(pc.UpdateSettlementStatus(actor=actor_of(request, oms), instruction_id=instruction_id,
                                                         status=body.status, reason=body.reason, source="api"))
        if isinstance(result, Response):
            return result
        return json_response(reports.instruction_row(book.instructions[instruction_id]))

    @app.post(f"{PREFIX}/settlement/status-file", tags=["post-trade"],
              summary="Import a custodian status file (CSV instruction_id,status,reason): all rows or none")
    async def status_file(request: Request) -> Response:
        try:
            rows = reports.parse_status_rows((await request.body()).decode("utf-8", "replace"))
        except ValueError as exc:
            return error_response(422, "INVALID_SETTLEMENT", str(exc))
        await current()
        problem = check_status_rows(book, rows)
        if problem is not None:
            return error_response(422, "INVALID_SETTLEMENT", problem)
        actor = actor_of(request, oms)
        for instruction_id, status, reason in rows:
            result = await execute(pc.UpdateSettlementStatus(actor=actor, instruction_id=instruction_id, status=status,
                                                             reason=reason, source="status-file"))
            if isinstance(result, Response):
                return result
        return json_response({"applied": len(rows)})

    @app.get(f"{PREFIX}/settlement/fails", tags=["post-trade"], summary="Fails report: failed or overdue instructions")
    async def fails(today: str | None = None) -> Response:
        await current()
        try:
            day = date.fromisoformat(today) if today else datetime.now(UTC).date()
        except ValueError:
            return error_response(422, "INVALID_FIELD", f"today must be an ISO date, got {today!r}")
        return json_response({"fails": reports.fails(book, day)})


def check_status_rows(book: PostTradeBook, rows: list[tuple[str, str, str]]) -> str | None:
    """Why a status file cannot be applied whole (checked against the book, row by row in order)."""
    statuses = {i: s.status for i, s in book.instructions.items()}
    for number, (instruction_id, status, reason) in enumerate(rows, 2):
        current = statuses.get(instruction_id)
        if current is None:
            return f"line {number}: unknown settlement instruction {instruction_id!r}"
        if status not in TRANSITIONS.get(current, frozenset()):
            return f"line {number}: instruction {instruction_id} is {current}; it cannot become {status!r}"
        if status == "failed" and not reason:
            return f"line {number}: a failed settlement needs its reason"
        statuses[instruction_id] = status
    return None
