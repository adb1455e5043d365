"""Review tests leave dead engine tasks, blocked coroutines and journal threads behind (that is
what several of them demonstrate). Collect that garbage right after each test: when it is left
for later, its finalizers can run inside pytest's own ast.parse while it formats a failure,
which trips a CPython 3.11.7 bug ("AST constructor recursion depth mismatch", INTERNALERROR)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    yield
    gc.collect()
