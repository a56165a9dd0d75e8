"""Projections are a cache of the ledger: rebuilding them from the ledger alone gives the
same state as the commands built live."""

from __future__ import annotations

from pathlib import Path

import scenario
from click.testing import CliRunner
from sqlalchemy import delete, update

from consortium.access.grants import GRANT
from consortium.cli import main
from consortium.contracts.lifecycle import CONTRACT
from consortium.projections import check, rebuild, snapshot
from consortium.registry.datasets import DATASET
from consortium.registry.members import MEMBER


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


def test_verify_projections_names_every_row_that_differs(
    tmp_path: Path, database_url: str | None
) -> None:
    """Rows edited in the database behind the ledger's back (a grant made to last until 2030,
    a dataset's status, a member removed) are named one by one, with the live value and the
    one the ledger gives, and the live tables are left as they were."""
    hospital, institute = scenario.pair(tmp_path, database_url)
    ids = scenario.run(hospital, institute)
    assert check(hospital.ledger) == []
    live = snapshot(hospital.engine)
    grant = next(r for r in live["access_grant"])
    until = grant[GRANT.c.keys().index("valid_until")]
    dataset = ids["open"]
    status = next(r for r in live["dataset"] if r[0] == dataset)[DATASET.c.keys().index("status")]
    with hospital.engine.begin() as conn:
        conn.execute(update(GRANT).where(GRANT.c.id == grant[0]).values(valid_until="2030-12-31"))
        conn.execute(update(DATASET).where(DATASET.c.id == dataset).values(status="draft"))
        conn.execute(delete(MEMBER).where(MEMBER.c.origin == institute.origin))
    tampered = snapshot(hospital.engine)
    size = hospital.ledger.size()

    found = check(hospital.ledger)
    assert [str(d) for d in found] == [
        f"member {institute.origin!r}: missing (the ledger gives it)",
        f"dataset {dataset!r}: status: live 'draft', rebuilt {status!r}",
        f"access_grant {grant[0]!r}: valid_until: live '2030-12-31', rebuilt {until!r}",
    ]
    assert snapshot(hospital.engine) == tampered  # the check changed nothing
    assert hospital.ledger.size() == size
    hospital.close()
    institute.close()

    if database_url is None:  # the command, on the same tampered node
        result = CliRunner().invoke(
            main, ["--data-dir", str(tmp_path / "hospital"), "verify", "--projections"]
        )
        assert result.exit_code == 1
        assert f"  access_grant {grant[0]!r}: valid_until: live '2030-12-31'" in result.output
        assert result.output.endswith(
            "Error: 3 projection rows differ from the ledger; `consortium rebuild` restores "
            "them from it\n"
        )
        run = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "hospital"), "rebuild"])
        assert run.exit_code == 0, run.output
        again = CliRunner().invoke(
            main, ["--data-dir", str(tmp_path / "hospital"), "verify", "--projections"]
        )
        assert again.exit_code == 0, again.output
        assert "OK projections: every row is what the ledger gives." in again.output
