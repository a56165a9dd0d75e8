"""What "Mallory" makes to fool a check that trusts the key inside what it checks: a whole
ledger bundle signed again, entry by entry and checkpoint by checkpoint, with a fresh key under
the real node's origin, and documents that name its cuts. Internally consistent, so only the
key the person checking trusts can tell it from the real one."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Checkpoint, vkey
from consortium.ledger import merkle
from consortium.ledger.bundle import entries_with_sealed, read_header
from consortium.ledger.entry import GENESIS_PREV, make_entry, parse_entry


class Forgery:
    """A bundle re-signed with ``key``; ``notes`` maps each real checkpoint note to the forged
    one of the same size, so documents naming the real cuts can be made to name the forged."""

    def __init__(self, key: NodeKey) -> None:
        self.key = key
        self.notes: dict[str, str] = {}

    def resign(self, source: Path, target: Path) -> Path:
        bundle = read_header(source)
        origin = bundle.origin
        opener: Any = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as fh:
            header = fh.readline()
        pairs = [(parse_entry(data), sealed) for data, sealed in entries_with_sealed(source)]
        real = {int(n.split("\n")[1]): n for n in bundle.checkpoints}
        forged_lines, leaves, prev = [], [], GENESIS_PREV
        for entry, sealed in pairs:
            body = self.rename_cuts(entry.body)
            if entry.index == 0:
                body = {**body, "public_key": b64encode(self.key.public_key),
                        "vkey": vkey(origin, self.key.public_key)}  # fmt: skip
            time = datetime.strptime(entry.time, "%Y-%m-%dT%H:%M:%S.%fZ")
            data = make_entry(index=entry.index, kind=entry.kind, actor=entry.actor, body=body,
                              prev=prev, key=self.key, time=time)  # fmt: skip
            forged_lines.append(data)
            # Sealed documents travel as they were: the digests in the bodies are unchanged.
            forged_lines.extend(json.dumps({"sealed": d.decode()}).encode() for d in sealed)
            prev = merkle.leaf_hash(data)
            leaves.append(prev)
            if entry.index + 1 in real:
                root = merkle.root_hash(leaves)
                note = Checkpoint(origin, entry.index + 1, root).sign(self.key)
                self.notes[real[entry.index + 1]] = note
        head = {
            **json.loads(header),
            "public_key": b64encode(self.key.public_key),
            "vkey": vkey(origin, self.key.public_key),
        }
        checkpoints = [self.notes[n] for n in bundle.checkpoints]
        out: Any = gzip.open if target.suffix == ".gz" else open
        with out(target, "wb") as fh:
            fh.write(json.dumps(head).encode() + b"\n")
            fh.write(json.dumps({"checkpoints": checkpoints}).encode() + b"\n")
            fh.write(b"".join(line + b"\n" for line in forged_lines))
        return target

    def rename_cuts(self, value: Any) -> Any:
        """``value`` with every cut ({origin, size, root, note}) of a forged ledger renamed."""
        if isinstance(value, list):
            return [self.rename_cuts(v) for v in value]
        if not isinstance(value, dict):
            return value
        note = value.get("note")
        if isinstance(note, str) and note in self.notes:
            forged = Checkpoint.parse_text(self.notes[note].split("\n\n")[0] + "\n")
            return {**value, "root": b64encode(forged.root), "note": self.notes[note]}
        return {k: self.rename_cuts(v) for k, v in value.items()}
