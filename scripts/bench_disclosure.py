"""What sealing costs (protocol §13): writing entries through the disclosure table, and reading
them back in the members' view, beside the same work without it, measured in the same run.

Writing: ``events.record`` of a ``cost.recorded`` entry (its amount sealed for the members, its
description for the parties; two salted documents stored, the entry signed over the clear
body, the projection folded from the joined body), one transaction per entry as the API does,
against ``LedgerTransaction.append`` of the same body in clear, which is the limit: a node
cannot write an entry faster than its log appends one.

Reading: ``alliance.ledgers.own_entries`` (each entry joined with its members document, what
credit and reports read) against parsing the same entries alone.

    python scripts/bench_disclosure.py --entries 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from consortium.alliance.ledgers import own_entries
from consortium.auth.people import add_person
from consortium.auth.roles import OPERATOR
from consortium.events import record
from consortium.ledger.entry import parse_entry
from consortium.node import init_node

BODY = {
    "amount": "1200.00",
    "currency": "EUR",
    "description": "Secure enclave hosting for the cohort",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args(argv)
    n = args.entries
    with tempfile.TemporaryDirectory() as tmp:
        clear, sealed_node = (init_node(Path(tmp) / name, name) for name in ("clear", "sealed"))
        for node in (clear, sealed_node):
            person = {"username": "sam", "display_name": "Sam", "roles": ["steward"]}
            add_person(node.ledger, OPERATOR, person)

        start = time.perf_counter()
        for i in range(n):
            with clear.ledger.transaction() as tx:
                tx.append("cost.recorded", "sam", {**BODY, "cost": f"cost-{i}"})
        raw = time.perf_counter() - start

        start = time.perf_counter()
        for i in range(n):
            with sealed_node.ledger.transaction() as tx:
                record(tx, "cost.recorded", "sam", {**BODY, "cost": f"cost-{i}"})
        sealed = time.perf_counter() - start

        size = sealed_node.ledger.size()
        start = time.perf_counter()
        parsed = [parse_entry(d) for d in sealed_node.ledger.entries(0, size)]
        parse = time.perf_counter() - start
        with sealed_node.engine.connect() as conn:
            start = time.perf_counter()
            viewed = list(own_entries(conn, size))
            view = time.perf_counter() - start
        assert len(parsed) == len(viewed) == size
        assert viewed[-1].body["amount"] == "1200.00" and "amount" not in parsed[-1].body
        clear.close()
        sealed_node.close()

    print(f"# Sealing, {n} cost.recorded entries, one transaction each (SQLite)")
    print("| work | seconds | entries/s | × the limit |")
    print("|---|---|---|---|")
    print(f"| append in clear (the limit) | {raw:.2f} | {n / raw:.0f} | 1.00 |")
    print(f"| record: seal, append, fold | {sealed:.2f} | {n / sealed:.0f} | {sealed / raw:.2f} |")
    print(f"| parse {size} entries (the limit) | {parse:.2f} | {size / parse:.0f} | 1.00 |")
    print(f"| members' view of them | {view:.2f} | {size / view:.0f} | {view / parse:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
