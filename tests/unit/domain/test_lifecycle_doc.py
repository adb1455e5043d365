"""docs/lifecycle.md is generated from the lifecycle tables and must match them."""

from __future__ import annotations

from pathlib import Path

from openoms.domain.lifecycle import PENDING, WORKING
from openoms.domain.lifecycle_doc import markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "lifecycle.md"


def test_lifecycle_doc_is_current() -> None:
    assert DOC.read_text() == markdown(), "regenerate: python -m openoms.domain.lifecycle_doc > docs/lifecycle.md"


def test_every_table_row_appears_in_the_doc() -> None:
    text = markdown()
    for status, event in WORKING:
        assert f"| {status.value} | {event.__name__} |" in text
    assert text.count("\n| ") >= len(WORKING) + len(PENDING)
