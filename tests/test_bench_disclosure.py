"""The sealing benchmark's smoke run: it must keep working as entries and the table change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "bench_disclosure.py"


def test_a_small_run_beside_its_limits() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--entries", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    for row in (
        "| append in clear (the limit) |",
        "| record: seal, append, fold |",
        "| members' view of them |",
    ):
        assert row in run.stdout
