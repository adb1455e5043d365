"""``python -m openoms.journal.check PATH_OR_URL UPTO_SEQ``: check a journal's hash chain (a SQLite
file, or a PostgreSQL URL, where the hashing runs inside the database) and print the report as
one JSON line. Start-up runs it as a separate process while it replays, so the
check costs no time on the engine's core; a plain subprocess keeps the server's own main
module out of it (multiprocessing's spawn would import it again)."""

from __future__ import annotations

import json
import os
import sys

from .chain import ChainReport
from .sqlite import verify_file


def check(target: str, upto_seq: int) -> ChainReport:
    if target.startswith(("postgresql://", "postgres://")):
        from .postgres import verify_url

        return verify_url(target, upto_seq)
    return verify_file(target, upto_seq)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m openoms.journal.check PATH_OR_URL UPTO_SEQ", file=sys.stderr)
        return 2
    # "-": the target is in OMS_CHECK_TARGET (start-up passes a database URL that way, since a
    # command line is visible to every user of the machine).
    target = os.environ.get("OMS_CHECK_TARGET", "") if argv[0] == "-" else argv[0]
    report = check(target, int(argv[1]))
    print(json.dumps({"ok": report.ok, "checked": report.checked, "last_seq": report.last_seq,
                      "first_bad_seq": report.first_bad_seq, "problem": report.problem}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
