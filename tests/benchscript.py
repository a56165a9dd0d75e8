"""Running a script of `scripts/` the way a person would, for the benchmarks' smoke tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).parent.parent / "scripts"


def run_script(name: str, *args: str, timeout: float = 300) -> str:
    """Run ``scripts/NAME ARGS`` in a fresh interpreter; its standard output, once it has
    exited 0 (else the test fails with the end of what it printed)."""
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    return run.stdout
