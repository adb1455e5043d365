"""Typed identifiers. NewType costs nothing at run time and lets mypy keep ids apart."""

from typing import NewType

OrderId = NewType("OrderId", str)  # assigned by the engine, stable for the order's life
ClientOrderId = NewType("ClientOrderId", str)  # ClOrdID(11): chosen by the client, unique per account and day
RouteId = NewType("RouteId", str)  # one child order at one venue
VenueOrderId = NewType("VenueOrderId", str)  # the venue's OrderID(37)
ExecId = NewType("ExecId", str)  # ExecID(17): unique per venue
AccountId = NewType("AccountId", str)
TraderId = NewType("TraderId", str)
DeskId = NewType("DeskId", str)
FirmId = NewType("FirmId", str)
Symbol = NewType("Symbol", str)
VenueId = NewType("VenueId", str)
