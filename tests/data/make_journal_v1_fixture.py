"""Regenerate tests/data/journal_v1.sqlite: a journal as smmsheet 0.1 writes it.

The committed file was written by the code at commit 7aa30cb (journal states, ``synced``
and resolutions as plain text and integers), so the test that opens it proves later code
still reads journals people already have. Run it only to make a fixture for a new format:

    python tests/data/make_journal_v1_fixture.py tests/data/journal_v1.sqlite
"""

from __future__ import annotations

import sys
from pathlib import Path

from smmsheet.journal import Journal


def write(path: Path) -> None:
    path.unlink(missing_ok=True)
    with Journal(path, lock=False) as j:
        j.begin_run()

        def add(row: int, link: str) -> int:
            request = {"service": "1", "link": link, "quantity": "100"}
            return j.intent(
                sheet="Orders", row=row, fingerprint=f"f{row}", action="add", request=request
            )

        placed = add(2, "https://x/placed")
        j.outcome(placed, "accepted", "1001")
        j.mark_synced([placed])
        not_in_sheet = add(3, "https://x/unsynced")
        j.outcome(not_in_sheet, "accepted", "ORD-1002")
        unknown = add(4, "https://x/lost-answer")
        j.outcome(unknown, "ambiguous", "add: no answer from the panel (ReadTimeout)")
        add(5, "https://x/interrupted")  # sent, the run died before the answer
        typed = add(6, "https://x/typed")
        j.outcome(typed, "ambiguous", "HTTP 502")
        j.resolve(typed, "id typed by the user", "1006")
        again = add(7, "https://x/again")
        j.resolve(again, "place again")
        refused = add(8, "https://x/refused")
        j.outcome(refused, "rejected", "Not enough funds on balance")
        j.mark_synced([refused], 2)

        def on_order_1001(action: str) -> int:
            request = {"order": "1001"}
            return j.intent(
                sheet="Orders",
                row=2,
                fingerprint="f2",
                action=action,
                request=request,
                target="1001",
            )

        refill = on_order_1001("refill")
        j.outcome(refill, "accepted", 501)
        cancel = on_order_1001("cancel")
        j.outcome(cancel, "rejected", "Order cannot be canceled")
        j.mark_synced([refill, cancel])


if __name__ == "__main__":
    write(Path(sys.argv[1]))
