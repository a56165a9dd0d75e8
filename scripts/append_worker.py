"""Append entries to a node's ledger from a separate process (load and crash testing).

Prints ``ack <index>`` after each committed entry, so a test that kills this process knows
exactly which entries were acknowledged and must survive.

    python scripts/append_worker.py DATA_DIR COUNT [ACTOR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from consortium.node import Node


def main() -> None:
    data_dir, count = Path(sys.argv[1]), int(sys.argv[2])
    actor = sys.argv[3] if len(sys.argv) > 3 else "worker"
    node = Node.open(data_dir)
    for i in range(count):
        done = node.ledger.append("attestation", actor, {"statement": f"{actor} #{i}"})
        print(f"ack {done.index}", flush=True)
    node.close()


if __name__ == "__main__":
    main()
