"""The credit benchmark's smoke run: it must keep working as the library changes."""

from __future__ import annotations

from benchscript import run_script


def test_the_quick_run_prints_every_measure() -> None:
    out = run_script("bench_credit.py", "--quick", timeout=60)
    for heading in (
        "# consortium credit benchmark (--quick)",
        "## exact Shapley",
        "## sampling Shapley",
        "## coverage_shapley",
    ):
        assert heading in out
    for figure in ("game alone", "mean |err|/SE", "slope of log(mean |err|)", "dict pass"):
        assert figure in out
