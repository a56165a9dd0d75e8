"""Benchmark how long `consortium` commands take to start and answer, at the console.

A command that runs for a second before it does anything is felt at every use; most of that
second is Python importing modules. Each command below runs as a fresh process, several
times, and the median wall-clock time and CPU time (user + system) are printed beside the
limits measured in the same run on the same machine:

* ``python -c pass``: the interpreter starting, the floor under any command;
* ``import click``: what any click program pays, and all ``consortium --help`` needs;
* ``import sqlalchemy`` and ``import sqlmodel``: the floor under any command that opens the
  node's database, whose tables are SQLModel classes.

The commands run against the demonstration node (`consortium.demo`, built once in a temporary
directory): ``--help``; ``ledger verify-bundle`` of the demo's exported ledger (read-only, no
database); and the read-only database commands ``member list``, ``dataset list`` and
``inbox --as rita``.

    python scripts/bench_cli.py             # 7 runs of each
    python scripts/bench_cli.py --runs 1    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMITS = {
    "python -c pass": ["-c", "pass"],
    "import click": ["-c", "import click"],
    "import sqlalchemy": ["-c", "import sqlalchemy"],
    "import sqlmodel": ["-c", "import sqlmodel"],
}


def commands(data_dir: Path, bundle: Path, vkey: str) -> dict[str, list[str]]:
    cli = ["-m", "consortium"]
    node = [*cli, "--data-dir", str(data_dir)]
    verify = [*cli, "ledger", "verify-bundle", "--vkey", vkey, str(bundle)]
    return {
        "consortium --help": [*cli, "--help"],
        "consortium ledger verify-bundle --vkey VKEY FILE": verify,
        "consortium member list": [*node, "member", "list"],
        "consortium dataset list": [*node, "dataset", "list"],
        "consortium inbox --as rita": [*node, "inbox", "--as", "rita"],
    }


def timed(args: list[str], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``python ARGS`` run ``runs`` times."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def row(name: str, wall: float, cpu: float) -> str:
    return f"| {name} | {wall:.2f} | {cpu:.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs of each command (median).")
    args = parser.parse_args(argv)
    print(f"# consortium CLI start-up: median of {args.runs} runs")
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    with tempfile.TemporaryDirectory() as tmp:
        from consortium.demo import create_demo
        from consortium.ledger.bundle import export_bundle

        data_dir, bundle = Path(tmp) / "demo", Path(tmp) / "demo.bundle"
        node = create_demo(data_dir)
        export_bundle(node.ledger, node.name, node.public_key, bundle)
        vkey = node.vkey
        node.close()
        print("\n| limit | wall s | CPU s |\n|---|---|---|")
        for name, limit in LIMITS.items():
            print(row(name, *timed(limit, args.runs)), flush=True)
        print("\n| command | wall s | CPU s |\n|---|---|---|")
        for name, command in commands(data_dir, bundle, vkey).items():
            print(row(name, *timed(command, args.runs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
