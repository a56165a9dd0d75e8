"""The CLI start-up benchmark's smoke run: it must keep working as the commands change."""

from __future__ import annotations

from benchscript import run_script


def test_one_run_of_each_command_beside_its_limits() -> None:
    out = run_script("bench_cli.py", "--runs", "1")
    for row in (
        "| python -c pass |",
        "| import sqlmodel |",
        "| consortium --help |",
        "| consortium ledger verify-bundle --vkey VKEY FILE |",
        "| consortium dataset list |",
        "| consortium inbox --as rita |",
    ):
        assert row in out
