"""Benchmark the dataset profiler against ``sha256sum`` on the same file, in the same run.

``sha256sum`` is the limit: the profiler must read and hash every byte too, and a tool that
only hashes is as fast as profiling can ever be. ``csv.reader`` alone (parse, nothing else) is
timed as well, to show how much of the profiler's time the parsing takes.

    python scripts/bench_profile.py                    # a ~1 GB synthetic CSV, 3 rounds
    python scripts/bench_profile.py --size-mb 100      # a quicker run
    python scripts/bench_profile.py --file data.csv    # an existing file

The synthetic file looks like a clinical extract (pseudonymous subject IDs, visits, vitals,
lab results, ICD-10 codes, free-text notes) with direct identifiers sprinkled into about one
note in two hundred. It is written to a temporary directory and deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from consortium.profile import nhs_number_valid, profile_file

BLOCK = 10_000  # rows generated at a time


def _nhs_number(rng: random.Random) -> str:
    while not nhs_number_valid(digits := str(rng.randrange(4 * 10**9, 8 * 10**9))):
        pass
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _identifier_notes(rng: random.Random) -> list[str]:
    """Notes that leak a direct identifier, as careless free text does."""
    notes = []
    for i in range(40):
        notes += [
            f"pt asked results be sent to {rng.choice(['j.smith', 'mary.o', 'k_lee'])}{i}"
            f"@example.org",
            f"call daughter on +44 7700 900{rng.randrange(1000):03d}",
            f"NHS no {_nhs_number(rng)} confirmed at reception",
            f"transferred from St Mary's; MRN {rng.randrange(10**6, 10**7)}",
            f'"tel 020 7946 {rng.randrange(10000):04d}, ask for ward 4"',
        ]
    return notes


def _columns(rng: random.Random) -> dict[str, tuple[list[str], list[float] | None]]:
    """Each column's pool of values, with optional weights."""
    benign_notes = [
        "",
        "stable",
        "follow up in 3 months",
        "reports dizziness; BP recheck 2024-03-01 10:30",
        "referred to cardiology",
        '"dose reduced, eGFR 48"',
        "HbA1c improving",
        "missed appointment 2023-11-02",
        "statin intolerance (myalgia)",
        '"fasting sample, 12h"',
    ]
    leaky = _identifier_notes(rng)
    # Weights in percent: one note in two hundred leaks an identifier.
    notes_weights = [60.0] + [4.4] * (len(benign_notes) - 1) + [0.5 / len(leaky)] * len(leaky)
    return {
        "subject_id": ([f"P{i:07d}" for i in range(1, 50_000)], None),
        "site": (["LEEDS-01", "BRIS-02", "STMARYS-03", "RUIJIN-04", "MGH-05"], None),
        "visit_date": (
            [
                f"20{y:02d}-{m:02d}-{d:02d}"
                for y in range(15, 25)
                for m in range(1, 13)
                for d in range(1, 29)
            ],
            None,
        ),
        "visit_no": ([str(i) for i in range(1, 13)], None),
        "age": ([str(a) for a in range(18, 95)], None),
        "sex": (["F", "M", ""], [48, 48, 4]),
        "height_cm": ([f"{h / 10:.1f}" for h in range(1450, 2000)], None),
        "weight_kg": ([f"{w / 10:.1f}" for w in range(400, 1400)], None),
        "systolic_bp": ([str(x) for x in range(95, 180)], None),
        "diastolic_bp": ([str(x) for x in range(55, 110)], None),
        "heart_rate": ([str(x) for x in range(48, 120)], None),
        "hba1c_pct": ([f"{x / 10:.1f}" for x in range(40, 120)] + [""], None),
        "egfr": ([str(x) for x in range(15, 120)] + [""] * 10, None),
        "ldl_mmol": ([f"{x / 100:.2f}" for x in range(100, 600)] + [""] * 50, None),
        "icd10": (["E11.9", "I10", "J45.909", "N18.3", "E78.5", "I25.10", "E66.9", ""], None),
        "medication": (
            [
                "metformin 500 mg",
                "lisinopril 10 mg",
                "atorvastatin 20 mg",
                "",
                "insulin glargine 20 units",
                "amlodipine 5 mg",
            ],
            None,
        ),
        "smoker": (["never", "current", "former", ""], None),
        "lab_order_id": ([str(rng.randrange(10**9, 10**10)) for _ in range(20_000)], None),
        "collected_at": (
            [
                f"2023-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:00"
                for m in range(1, 13)
                for d in range(1, 29)
                for h in range(7, 19)
                for mi in (0, 15, 30, 45)
            ],
            None,
        ),
        "notes": (benign_notes + leaky, notes_weights),
    }


def generate(path: Path, size: int, seed: int = 7) -> int:
    """Write a CSV of about ``size`` bytes; return its row count."""
    rng = random.Random(seed)
    columns = _columns(rng)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(columns) + "\r\n")
        while fh.tell() < size:
            picked = [rng.choices(pool, weights, k=BLOCK) for pool, weights in columns.values()]
            fh.write("\r\n".join(map(",".join, zip(*picked, strict=True))) + "\r\n")
            rows += BLOCK
    return rows


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sha256sum(path: Path) -> None:
    subprocess.run(["sha256sum", str(path)], check=True, stdout=subprocess.DEVNULL)


def csv_only(path: Path) -> None:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for _ in csv.reader(fh):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="profile this file instead of generating one")
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()

    tmp = None
    if args.file:
        path = args.file
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
        path = tmp / "clinical.csv"
        seconds = timed(lambda: generate(path, args.size_mb << 20))
        print(f"generated {path} in {seconds:.1f} s")
    size = path.stat().st_size
    mb = size / 1e6
    print(f"file: {size:,} bytes")
    try:
        sha256sum(path)  # warm the page cache: every contender reads from memory
        times: dict[str, list[float]] = {"sha256sum": [], "profile_file": [], "csv.reader": []}
        profile = None
        for round_ in range(1, args.rounds + 1):
            times["sha256sum"].append(timed(lambda: sha256sum(path)))
            start = time.perf_counter()
            profile = profile_file(path)
            times["profile_file"].append(time.perf_counter() - start)
            times["csv.reader"].append(timed(lambda: csv_only(path)))
            print(
                f"round {round_}: "
                + ", ".join(f"{name} {t[-1]:.2f} s" for name, t in times.items())
            )
        medians = {name: statistics.median(t) for name, t in times.items()}
        print()
        print(f"{'':14} {'median':>9} {'MB/s':>7}")
        for name, seconds in medians.items():
            print(f"{name:14} {seconds:8.2f}s {mb / seconds:7.1f}")
        ratio = medians["sha256sum"] / medians["profile_file"]
        print(f"profile_file / sha256sum throughput: {ratio:.2f}")
        ratio_csv = medians["csv.reader"] / medians["profile_file"]
        print(f"profile_file / csv.reader throughput: {ratio_csv:.2f}")
        assert profile is not None
        print(
            f"\nrecords {profile.records:,}; findings: "
            + "; ".join(f"{f.column}/{f.kind} {f.count:,}" for f in profile.findings)
        )
    finally:
        if tmp is not None and not args.keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()
        elif tmp is not None:
            print(f"kept {path}")


if __name__ == "__main__":
    main()
