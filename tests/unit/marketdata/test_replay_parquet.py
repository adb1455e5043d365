"""Replay of recorded quotes from Parquet: the same quotes and pacing as the same rows in CSV,
exact decimals all the way, and bad files, columns and rows named (file, column, row)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openoms.marketdata.replay import ReplayError, read_quotes, schedule

D = Decimal
S = 1_000_000_000
PRICE = pa.decimal128(18, 4)
ROWS: dict[str, list[Any]] = {
    "ts": [1 * S, 3 * S, 4 * S],
    "symbol": ["AAPL", "AAPL", "MSFT"],
    "venue": ["SIM-A", "SIM-B", "SIM-A"],
    "bid": [D("100.0000"), D("100.0100"), D("420.0500")],
    "bid_size": [100, 300, 50],
    "ask": [D("100.0200"), D("100.0300"), D("420.1000")],
    "ask_size": [200, 100, 70],
    "last": [D("100.0100"), None, None],
    "last_size": [10, None, None],
    "volume": [1000, None, None],
    "halted": [False, False, True],
}
TYPES = {"ts": pa.int64(), "symbol": pa.string(), "venue": pa.string(), "bid": PRICE, "bid_size": pa.int64(), "ask": PRICE,
         "ask_size": pa.int64(), "last": PRICE, "last_size": pa.int64(), "volume": pa.int64(), "halted": pa.bool_()}


def write(path: Path, rows: dict[str, list[Any]] = ROWS, types: dict[str, pa.DataType] = TYPES, row_group_size: int = 2) -> Path:
    table = pa.table({name: pa.array(values, type=types[name]) for name, values in rows.items()})
    pq.write_table(table, path, row_group_size=row_group_size)  # several row groups: read batch by batch
    return path


def test_parquet_replays_the_same_quotes_and_pace_as_the_same_csv(tmp_path: Path) -> None:
    parquet = write(tmp_path / "quotes.parquet")
    csv = tmp_path / "quotes.csv"
    csv.write_text("ts,symbol,venue,bid,bid_size,ask,ask_size,last,last_size,volume,halted\n"
                   f"{1 * S},AAPL,SIM-A,100.0000,100,100.0200,200,100.0100,10,1000,false\n"
                   f"{3 * S},AAPL,SIM-B,100.0100,300,100.0300,100,,,,false\n"
                   f"{4 * S},MSFT,SIM-A,420.0500,50,420.1000,70,,,,true\n")
    from_parquet = list(schedule(read_quotes(parquet), speed=2.0))
    assert from_parquet == list(schedule(read_quotes(csv), speed=2.0))
    assert [(wait, venue, quote.bid, quote.halted) for wait, venue, quote in from_parquet] == [
        (0.0, "SIM-A", D("100.0000"), False), (1.0, "SIM-B", D("100.0100"), False), (0.5, "SIM-A", D("420.0500"), True)]
    assert from_parquet[0][2].last == D("100.0100") and from_parquet[0][2].volume == D(1000)
    assert [wait for wait, _, _ in schedule(read_quotes(parquet), speed=0)] == [0.0, 0.0, 0.0]


def test_string_price_columns_are_read_exactly(tmp_path: Path) -> None:
    rows = {**ROWS, "bid": ["100.05", "100.06", "420.07"]}
    [first, *_] = read_quotes(write(tmp_path / "q.parquet", rows, {**TYPES, "bid": pa.string()}))
    assert first[1].bid == D("100.05")


def test_a_float_price_column_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "q.parquet", {**ROWS, "ask": [100.02, 100.03, 420.1]}, {**TYPES, "ask": pa.float64()})
    with pytest.raises(ReplayError, match=r"q\.parquet: column 'ask' is double: it must be decimal, integer or string \(exact\)"):
        list(read_quotes(path))


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    rows = {name: values for name, values in ROWS.items() if name != "bid_size"}
    with pytest.raises(ReplayError, match=r"q\.parquet: missing column\(s\) bid_size"):
        list(read_quotes(write(tmp_path / "q.parquet", rows)))


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("ask", None, "row 2: missing ask"),
    ("bid", "abc", "row 2: column(s) bid do not parse"),
    ("bid", "-1", "row 2: prices and sizes must be finite and >= 0"),
])
def test_a_bad_row_is_named_by_file_and_row(tmp_path: Path, column: str, value: str | None, problem: str) -> None:
    rows = {**ROWS, "bid": [str(v) for v in ROWS["bid"]]}  # a string column, so a bad text can be written
    rows[column] = [value if i == 1 else v for i, v in enumerate(rows[column])]
    path = write(tmp_path / "q.parquet", rows, {**TYPES, "bid": pa.string()})
    with pytest.raises(ReplayError) as caught:
        list(read_quotes(path))
    assert str(caught.value).startswith(f"{path} {problem}")


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_text("ts,symbol\n1,AAPL\n")
    with pytest.raises(ReplayError, match=r"broken\.parquet: not a readable Parquet file"):
        list(read_quotes(path))
