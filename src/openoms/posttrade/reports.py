"""Read models of the post-trade book: trade blotter, positions and P&L statements (in the
instrument's and the account's currency), reconciliation breaks, settlement and fails reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain.ids import AccountId, Symbol
from ..risk.fx import FxRates
from .book import PostTradeBook, Trade
from .money import ZERO
from .settlement import FAILED, InstructionState

Marks = Callable[[Symbol], Decimal | None]


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def trade_row(trade: Trade) -> dict[str, Any]:
    return {"exec_id": trade.exec_id, "order_id": trade.order_id, "account": trade.account, "symbol": trade.symbol,
            "side": trade.side.value, "quantity": str(trade.quantity), "price": str(trade.price), "venue": trade.venue,
            "liquidity": trade.liquidity.value, "trade_date": trade.trade_date, "gross": str(trade.gross),
            "commission": str(trade.commission), "fees": str(trade.fees), "status": trade.status, "seq": trade.seq}


def blotter(book: PostTradeBook, trade_date: str | None = None) -> list[dict[str, Any]]:
    return [trade_row(t) for t in book.trades.values() if trade_date is None or t.trade_date == trade_date]


def positions(book: PostTradeBook, marks: Marks, fx: FxRates, account: str | None = None) -> list[dict[str, Any]]:
    """Each position with realized and unrealized P&L in the instrument's currency and, converted
    at the FX rates, in the account's (null when no rate is known: never a guess)."""
    rows = []
    for ledger in book.position_ledgers():
        if account is not None and ledger.account != account:
            continue
        position, instrument = ledger.position, ledger.instrument
        mark = marks(ledger.symbol)
        unrealized = position.unrealized_pnl(mark, instrument) if mark is not None else None
        account_currency = book.reference.accounts[ledger.account].currency
        realized_acc = fx.convert(position.realized_pnl, instrument.currency, account_currency)
        unrealized_acc = None if unrealized is None else fx.convert(unrealized, instrument.currency, account_currency)
        rows.append({
            "account": ledger.account, "symbol": ledger.symbol, "quantity": str(position.quantity),
            "avg_price": str(position.avg_price), "mark": text(mark), "currency": instrument.currency,
            "market_value": text(instrument.notional(position.quantity, mark) if mark is not None else None),
            "realized_pnl": str(position.realized_pnl), "unrealized_pnl": text(unrealized),
            "account_currency": account_currency, "realized_pnl_account_ccy": text(realized_acc),
            "unrealized_pnl_account_ccy": text(unrealized_acc), "bought": str(position.bought), "sold": str(position.sold),
        })
    return rows


def statement(book: PostTradeBook, marks: Marks, fx: FxRates, as_of: str) -> dict[str, Any]:
    """End-of-day positions and P&L per account, totals in the account's currency."""
    rows = positions(book, marks, fx)
    accounts: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = accounts.setdefault(row["account"], {"currency": row["account_currency"], "realized_pnl": ZERO,
                                                      "unrealized_pnl": ZERO, "complete": True, "positions": []})
        entry["positions"].append(row)
        for key in ("realized_pnl", "unrealized_pnl"):
            value = row[f"{key}_account_ccy"]
            if value is None:
                entry["complete"] = False  # a missing mark or FX rate: the total leaves it out and says so
            else:
                entry[key] += Decimal(value)
    costs: dict[str, Decimal] = {}
    for trade in book.trades.values():
        if trade.status != "busted" and trade.trade_date == as_of:
            costs[trade.account] = costs.get(trade.account, ZERO) + trade.commission + trade.fees
    for account_id, entry in accounts.items():
        entry["realized_pnl"], entry["unrealized_pnl"] = str(entry["realized_pnl"]), str(entry["unrealized_pnl"])
        entry["day_commission_and_fees"] = str(costs.get(account_id, ZERO))
    return {"as_of": as_of, "accounts": dict(sorted(accounts.items()))}


def reconcile(book: PostTradeBook, external: Iterable[tuple[str, str, Decimal]]) -> list[dict[str, str]]:
    """Breaks between our positions and an external file's (account, symbol, quantity): every
    instrument either side holds, where the quantities differ."""
    theirs: dict[tuple[str, str], Decimal] = {}
    for account, symbol, quantity in external:
        theirs[(account, symbol)] = theirs.get((account, symbol), ZERO) + quantity
    ours: dict[tuple[str, str], Decimal] = {(ledger.account, ledger.symbol): ledger.position.quantity for ledger in book.position_ledgers()}
    breaks = []
    for key in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(key, ZERO), theirs.get(key, ZERO)
        if mine != other:
            breaks.append({"account": key[0], "symbol": key[1], "ours": str(mine), "theirs": str(other),
                           "difference": str(mine - other),
                           "kind": "missing_here" if key not in ours else "missing_there" if key not in theirs else "quantity"})
    return breaks


def instruction_row(state: InstructionState) -> dict[str, Any]:
    i = state.instruction
    return {"instruction_id": i.instruction_id, "allocation_ids": ",".join(i.allocation_ids), "account": i.account,
            "symbol": i.symbol, "isin": i.isin, "direction": i.direction, "quantity": str(i.quantity), "price": str(i.price),
            "gross": str(i.gross), "commission": str(i.commission), "fees": str(i.fees),
            "accrued_interest": str(i.accrued_interest), "net_money": str(i.net_money), "currency": i.currency,
            "trade_date": i.trade_date, "settlement_date": i.settlement_date, "depository": i.ssi.depository,
            "agent_bic": i.ssi.agent_bic, "safekeeping_account": i.ssi.safekeeping_account, "cash_account": i.ssi.cash_account,
            "netted": i.netted, "status": state.status, "reason": state.reason}


def fails(book: PostTradeBook, today: date) -> list[dict[str, Any]]:
    """Failed instructions, and instructions past their settlement date that have not settled."""
    rows = []
    for state in book.instructions.values():
        due = date.fromisoformat(state.instruction.settlement_date)
        if state.status == FAILED or (state.status not in ("settled", "canceled") and due < today):
            rows.append({**instruction_row(state), "days_late": max((today - due).days, 0)})
    return rows


def allocation_view(book: PostTradeBook, allocation_id: str) -> dict[str, Any]:
    allocation = book.allocations[allocation_id]
    b = allocation.booked
    return {
        "allocation_id": b.allocation_id, "version": b.version, "status": allocation.status, "reason": allocation.reason,
        "orders": list(b.orders), "exec_ids": list(b.exec_ids), "symbol": b.symbol, "side": b.side.value, "method": b.method,
        "trade_date": b.trade_date, "quantity": str(b.quantity), "avg_price": str(b.avg_price), "gross": str(b.gross),
        "fees": str(b.fees), "booked_by": allocation.user, "ack": allocation.ack, "ack_reason": allocation.ack_reason,
        "lines": [{"account": line.account, "quantity": str(line.quantity), "price": str(line.price), "gross": str(line.gross),
                   "commission": str(line.commission), "fees": str(line.fees)} for line in b.lines],
        "instructions": [s.instruction.instruction_id for s in book.live_instructions(b.allocation_id)],
        "history": [{"ts": ts, "what": what, "user": user, "reason": reason} for ts, what, user, reason in allocation.history],
    }


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    names = columns or (list(rows[0]) if rows else [])
    writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def parse_position_rows(text_data: str) -> list[tuple[str, str, Decimal, Decimal]]:
    """``account,symbol,quantity[,avg_price]`` CSV (with a header) -> rows; ValueError names the bad line."""
    reader = csv.DictReader(io.StringIO(text_data))
    missing = {"account", "symbol", "quantity"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"position file needs the columns account, symbol, quantity (missing: {', '.join(sorted(missing))})")
    rows = []
    for number, row in enumerate(reader, 2):
        try:
            quantity = Decimal(row["quantity"])
            price = Decimal(row.get("avg_price") or "0")
            if not quantity.is_finite() or not price.is_finite():
                raise ArithmeticError
        except (ArithmeticError, TypeError):
            raise ValueError(f"line {number}: quantity and avg_price must be decimal numbers") from None
        rows.append((row["account"].strip(), row["symbol"].strip(), quantity, price))
    return rows


def parse_status_rows(text_data: str) -> list[tuple[str, str, str]]:
    """``instruction_id,status[,reason]`` CSV (with a header), as a custodian's status file."""
    reader = csv.DictReader(io.StringIO(text_data))
    if not {"instruction_id", "status"} <= set(reader.fieldnames or ()):
        raise ValueError("status file needs the columns instruction_id, status (and optionally reason)")
    return [(row["instruction_id"].strip(), row["status"].strip().lower(), (row.get("reason") or "").strip()) for row in reader]


def account_of(value: str) -> AccountId:
    return AccountId(value)


def marks_from(mapping: Mapping[str, Decimal]) -> Marks:
    return lambda symbol: mapping.get(symbol)
