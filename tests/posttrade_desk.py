"""A Desk (tests/builders.py) whose engine carries the post-trade book with the demo setup."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from builders import ACTOR, Desk
from openoms.demo import demo_reference
from openoms.domain import events as ev
from openoms.domain.engine import OrderEngine
from openoms.domain.ids import AccountId, OrderId
from openoms.posttrade import commands as pc
from openoms.posttrade import setup_file
from openoms.posttrade.book import PostTradeBook
from openoms.posttrade.events import AllocationTarget

OPS = ACTOR  # the demo user holds the operations role


def posttrade_desk() -> tuple[Desk, PostTradeBook]:
    reference = demo_reference()
    engine = OrderEngine(reference)
    setup = setup_file.demo()
    book = PostTradeBook(reference, engine.orders, setup.calendars)
    engine.extend(book)
    desk = Desk(engine)
    desk.send(pc.SetFeeSchedule(actor=OPS, schedule=setup.fees, source="test"))
    desk.send(pc.SetSettlementSetup(actor=OPS, ssis=setup.ssis, netting_accounts=setup.netting_accounts, source="test"))
    return desk, book


def weights(**by_account: str) -> list[AllocationTarget]:
    return [AllocationTarget(AccountId(a.replace("_", "-")), weight=Decimal(w)) for a, w in by_account.items()]


def quantities(**by_account: str) -> list[AllocationTarget]:
    return [AllocationTarget(AccountId(a.replace("_", "-")), quantity=Decimal(q)) for a, q in by_account.items()]


def allocate(desk: Desk, orders: list[str], method: str, targets: list[AllocationTarget], **kwargs: Any) -> list[ev.Event]:
    return desk.send(pc.AllocateBlock(actor=kwargs.get("actor", OPS), orders=[OrderId(o) for o in orders], method=method,
                                      targets=targets))
