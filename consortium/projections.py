"""Every projection, and rebuilding them all from the ledger.

Importing this module registers every projector. `rebuild` holds the ledger's write lock,
empties the projection tables and folds every entry again, in order; `snapshot` reads all of
them in a stable order so a test (or an operator after a rebuild) can compare states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, delete, select

import consortium.access.consent
import consortium.access.grants
import consortium.access.incidents
import consortium.access.obligations
import consortium.access.outputs
import consortium.access.requests
import consortium.alliance.compensation
import consortium.alliance.contributions
import consortium.auth.people
import consortium.contracts.benefit_rules
import consortium.contracts.lifecycle
import consortium.notifications
import consortium.registry.datasets
import consortium.registry.members
import consortium.registry.settings  # noqa: F401  (each registers its projectors)
from consortium.events import PROJECTION_TABLES, apply, event_from_entry
from consortium.ledger.log import Ledger, iter_entries


def rebuild(ledger: Ledger, progress: Callable[[int], None] | None = None) -> int:
    """Recreate every projection from the ledger; returns the number of entries folded."""
    folded = 0
    with ledger.transaction() as tx:
        for table in reversed(PROJECTION_TABLES):
            tx.conn.execute(delete(table))
        for index, data in iter_entries(ledger.engine, 0, tx.size):
            apply(tx.conn, event_from_entry(tx.conn, index, bytes(data)))
            folded += 1
            if progress is not None and folded % 1000 == 0:
                progress(1000)
        if progress is not None:
            progress(folded % 1000)
    return folded


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row, table by table, in primary-key order."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in PROJECTION_TABLES
        }
