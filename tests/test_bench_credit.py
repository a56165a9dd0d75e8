"""The credit benchmark's smoke run: it must keep working as the library changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "bench_credit.py"


def test_the_quick_run_prints_every_measure() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for heading in (
        "# consortium credit benchmark (--quick)",
        "## exact Shapley",
        "## sampling Shapley",
        "## coverage_shapley",
    ):
        assert heading in out
    for figure in ("game alone", "mean |err|/SE", "slope of log(mean |err|)", "dict pass"):
        assert figure in out
