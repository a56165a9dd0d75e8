"""The CLI start-up benchmark's smoke run: it must keep working as the commands change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "bench_cli.py"


def test_one_run_of_each_command_beside_its_limits() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    for row in (
        "| python -c pass |",
        "| import sqlmodel |",
        "| consortium --help |",
        "| consortium ledger verify-bundle --vkey VKEY FILE |",
        "| consortium dataset list |",
        "| consortium inbox --as rita |",
    ):
        assert row in run.stdout
