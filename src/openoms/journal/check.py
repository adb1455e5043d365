"""``python -m openoms.journal.check PATH UPTO_SEQ``: check a journal file's hash chain and print
the report as one JSON line. Start-up runs it as a separate process while it replays, so the
check costs no time on the engine's core; a plain subprocess keeps the server's own main
module out of it (multiprocessing's spawn would import it again)."""

from __future__ import annotations

import json
import sys

from .sqlite import verify_file


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m openoms.journal.check PATH UPTO_SEQ", file=sys.stderr)
        return 2
    report = verify_file(argv[0], int(argv[1]))
    print(json.dumps({"ok": report.ok, "checked": report.checked, "last_seq": report.last_seq,
                      "first_bad_seq": report.first_bad_seq, "problem": report.problem}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
