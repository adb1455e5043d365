"""A FIX market-data feed whose provider answers an in-session gap with a SequenceReset-GapFill:
the incrementals in the gap are lost, so the instrument goes stale and is asked for again (a new
snapshot), instead of staying live on a book that missed updates."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from fix_counterparty import Counterparty, until

from openoms.config import FixMarketDataConfig
from openoms.fix.store import SessionStore
from openoms.marketdata.consolidated import ConsolidatedBook
from openoms.marketdata.fix_feed import FixMarketDataFeed


def snapshot(md_req_id: str, bid: str, ask: str) -> list[tuple[int, str]]:
    return [(262, md_req_id), (55, "AAPL"), (268, "2"), (269, "0"), (270, bid), (271, "300"), (269, "1"), (270, ask), (271, "200")]


def new_bid(price: str) -> list[tuple[int, str]]:
    return [(268, "1"), (279, "0"), (269, "0"), (55, "AAPL"), (270, price), (271, "100")]


def test_a_gap_filled_in_session_makes_the_instrument_stale_and_asks_for_a_new_snapshot(tmp_path: Path) -> None:
    book = ConsolidatedBook()

    async def main() -> None:
        peer = Counterparty(sender="MDP", target="OPENOMS-MD")
        port = await peer.start()
        feed = FixMarketDataFeed(FixMarketDataConfig(source="MDP", port=port, symbols=("AAPL",), heartbeat_s=30, reconnect_s=60),
                                 book, SessionStore(tmp_path / "md.db"))
        await feed.start()
        try:
            request = await peer.expect("V")
            first_id = request.get(262)
            peer.send("W", snapshot(first_id, "190.00", "190.05"))
            await until(lambda: feed.symbols["AAPL"].state == "live")
            peer.seq += 3  # three messages (incrementals) the feed never gets
            peer.send("X", new_bid("190.03"))
            resend = await peer.expect("2")
            gap_start = int(resend.get(7))
            peer.seq = gap_start
            peer.send("4", [(123, "Y"), (36, str(gap_start + 3))], poss_dup=True)  # the provider will not resend them
            peer.seq = gap_start + 4  # past the increment that arrived after the gap
            unsubscribe = await peer.expect("V")
            resubscribe = await peer.expect("V")
            assert (unsubscribe.get(262), unsubscribe.get(263)) == (first_id, "2")
            assert resubscribe.get(263) == "1" and resubscribe.get(262) != first_id
            state = feed.symbols["AAPL"]
            assert (state.state, state.reason) == ("stale", "gap filled: 3 messages skipped")
            assert book.stale_reason("AAPL", "MDP") == "gap filled: 3 messages skipped"
            quote = book.venue_quote("AAPL", "MDP")
            assert quote is not None and quote.bid == Decimal("190.00")  # the increment after the gap was not applied
            peer.send("W", snapshot(resubscribe.get(262), "190.02", "190.06"))
            await until(lambda: feed.symbols["AAPL"].state == "live")
            quote = book.venue_quote("AAPL", "MDP")
            assert quote is not None and (quote.bid, quote.ask) == (Decimal("190.02"), Decimal("190.06"))
            assert book.stale_reason("AAPL", "MDP") is None
        finally:
            await feed.stop()

    asyncio.run(main())
