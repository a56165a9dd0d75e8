"""The report benchmark's smoke run: it must keep working as the ledger and report change."""

from __future__ import annotations

import re

from benchscript import run_script


def test_the_quick_run_builds_and_verifies_a_report() -> None:
    out = run_script("bench_report.py", "--quick", timeout=180)
    for heading in (
        "# consortium report benchmark (--quick): 10 nodes x 1,000 entries = 10,000",
        "## 1. verifying 10 bundles for members",
        "## 2. folding 10,000 entries",
        "## 3. report.verify from the bundles",
    ):
        assert heading in out
    for figure in (
        "bundle_source (the full audit)",
        "raw Ed25519 verify (limit)",
        "read + parse every entry (limit)",
        "ledgers.gather",
        "report.body",
        "10 institutions",
        "differences found: 0",
    ):
        assert figure in out
    # The bundles are the ones a member reads: each entry with its members document.
    documents = re.search(r"10,000 entries and ([\d,]+) members documents", out)
    assert documents is not None and int(documents[1].replace(",", "")) > 0, out[:2000]
