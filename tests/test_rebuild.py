"""Projections are a cache of the ledger: rebuilding them from the ledger alone gives the
same state as the commands built live."""

from __future__ import annotations

from pathlib import Path

import scenario
from click.testing import CliRunner
from sqlalchemy import delete, update

from consortium.cli import main
from consortium.contracts.lifecycle import CONTRACT
from consortium.projections import rebuild, snapshot
from consortium.registry.datasets import DATASET


def test_rebuilt_state_equals_live_state(tmp_path: Path, database_url: str | None) -> None:
    hospital, institute = scenario.pair(tmp_path, database_url)
    ids = scenario.run(hospital, institute)
    live = snapshot(hospital.engine)
    # The scenario reached every state worth rebuilding.
    contracts = {(r[0], r[1]): r[2] for r in live["contract"]}
    assert contracts[(ids["contract"], 1)] == "superseded"
    assert contracts[(ids["contract"], 2)] == "active"
    assert contracts[(ids["expired"], 1)] == "expired"
    assert contracts[(ids["terminated"], 1)] == "terminated"
    assert all(live[t] for t in live), [t for t in live if not live[t]]

    # Damage the projections, then rebuild them from the ledger alone.
    with hospital.engine.begin() as conn:
        conn.execute(delete(CONTRACT))
        conn.execute(update(DATASET).values(status="withdrawn"))
    assert snapshot(hospital.engine) != live
    folded = rebuild(hospital.ledger)
    assert folded == hospital.ledger.size()
    assert snapshot(hospital.engine) == live
    assert hospital.audit().ok
    hospital.close()
    institute.close()


def test_rebuild_command(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    scenario.run(hospital, institute)
    live = snapshot(hospital.engine)
    size = hospital.ledger.size()
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "hospital"), "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"from {size} ledger entries" in result.output
    assert snapshot(hospital.engine) == live
    assert hospital.ledger.size() == size  # rebuilding writes nothing to the ledger
    hospital.close()
    institute.close()
