"""Post-trade: trades, positions and P&L, block allocation, settlement initiation, end of day.

Pure like the domain (no I/O, no clock): ``PostTradeBook`` is an engine extension that folds the
engine's fills, busts and corrections into trades and positions, and decides its own commands
(allocations, settlement, start-of-day positions), whose events the engine journals like any other.
"""
