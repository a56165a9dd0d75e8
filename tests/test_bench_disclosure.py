"""The sealing benchmark's smoke run: it must keep working as entries and the table change."""

from __future__ import annotations

from benchscript import run_script


def test_a_small_run_beside_its_limits() -> None:
    out = run_script("bench_disclosure.py", "--entries", "20")
    for row in (
        "| append in clear (the limit) |",
        "| record: seal, append, fold |",
        "| members' view of them |",
    ):
        assert row in out
