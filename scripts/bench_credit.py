"""Benchmark the credit library: exact and sampled Shapley values, and the coverage closed form.

Every figure is printed next to the limit it should be judged against, measured in the same
run on the same machine:

1. Exact Shapley at 10, 15 and 20 players (a weighted voting game). An alliance of up to about
   twenty institutions can publish exact shares that anyone can re-run from its inputs; the
   method must call the game once per coalition, 2^20 of them at 20 players, so the limit is
   the game's own cost for those calls, timed alone. What the library adds beyond it (building
   each coalition, the exact integer weights, the per-player sums) is its overhead. The shares
   are checked against an independent count (weighted voting games have one), so a fast wrong
   answer would fail the run.
2. Sampling Shapley: error against the number of samples, on a 30-player weighted voting game
   whose exact shares are computed by counting (no coalition enumerated). Beyond 22 players
   sampling is the only method the library offers, so an alliance must know how many samples
   buy what precision, and whether the standard error the library reports can be trusted: the
   error should fall as 1/√samples and stay near the reported standard error.
3. `coverage_shapley` at 10^6 records and 10^3 players (each record held by 1 to 5 players,
   about three million key incidences). The "records contributed" game is run on every
   institution's full key list each period; its closed form should cost about one pass over
   the input. The limit is such a pass: counting, for every key of every player, how many
   players hold it — once as a plain dict loop, once with `collections.Counter` (C speed).

    python scripts/bench_credit.py            # full sizes, about a minute on 2 cores
    python scripts/bench_credit.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from consortium.credit import Shares, coverage_shapley, shapley

Game = Callable[[frozenset], int]
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    exact_players: tuple[int, ...]
    sampling_players: int
    samples: tuple[int, ...]
    records: int
    players: int
    max_holders: int
    rounds: int


FULL = Sizes(
    exact_players=(10, 15, 20),
    sampling_players=30,
    samples=(100, 1_000, 10_000, 100_000),
    records=1_000_000,
    players=1_000,
    max_holders=5,
    rounds=3,
)
QUICK = Sizes(
    exact_players=(6, 8, 10),
    sampling_players=30,
    samples=(100, 400),
    records=10_000,
    players=100,
    max_holders=5,
    rounds=1,
)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --- the game: weighted voting, with exact shares by counting -----------------------------------


def voting_game(players: int, seed: int) -> tuple[list[int], int]:
    """Integer weights 1–20 and a simple-majority quota: v(S) = 1 if w(S) ≥ quota else 0."""
    rng = random.Random(seed)
    weights = [rng.randint(1, 20) for _ in range(players)]
    return weights, sum(weights) // 2 + 1


def voting_value(weights: list[int], quota: int) -> Game:
    """The value function: players are 0…n−1; a sum and a comparison, about as cheap as a game
    written in Python gets."""
    weight = weights.__getitem__

    def value(coalition: frozenset) -> int:
        return 1 if sum(map(weight, coalition)) >= quota else 0

    return value


def voting_shapley(weights: list[int], quota: int) -> list[Fraction]:
    """Exact Shapley values of a weighted voting game, independently of the library.

    φ_i = Σ_k k!(n−1−k)!/n! · #{S ⊆ N∖{i} : |S| = k, quota − w_i ≤ w(S) < quota}. The counts
    of subsets by size and weight come from one knapsack-style table for all players, from
    which each player is removed in turn (the inverse of adding it).
    """
    n, total = len(weights), sum(weights)
    full = [[0] * (total + 1) for _ in range(n + 1)]
    full[0][0] = 1
    for w in weights:
        for k in range(n, 0, -1):
            row, prev = full[k], full[k - 1]
            for t in range(total, w - 1, -1):
                row[t] += prev[t - w]
    weight_of_size = [
        Fraction(math.factorial(k) * math.factorial(n - 1 - k), math.factorial(n)) for k in range(n)
    ]
    shares = []
    for wi in weights:
        without = [full[0][:]]
        for k in range(1, n):
            row, prev = full[k][:], without[k - 1]
            for t in range(wi, total + 1):
                row[t] -= prev[t - wi]
            without.append(row)
        low = max(0, quota - wi)
        shares.append(
            sum(
                (weight_of_size[k] * sum(without[k][low:quota]) for k in range(n)),
                Fraction(0),
            )
        )
    return shares


# --- 1. exact ---------------------------------------------------------------------------------


def coalitions(players: int) -> Iterator[frozenset]:
    """Every coalition of players 0…n−1, each built with one union of two precomputed halves
    (as the library builds them)."""
    half = players // 2
    low = [frozenset(i for i in range(half) if m >> i & 1) for m in range(1 << half)]
    high = [
        frozenset(half + i for i in range(players - half) if m >> i & 1)
        for m in range(1 << (players - half))
    ]
    low_mask = (1 << half) - 1
    for mask in range(1 << players):
        yield low[mask & low_mask] | high[mask >> half]


def game_cost(value: Game, players: int, chunk: int = 1 << 16) -> tuple[float, float]:
    """Seconds spent building all 2^n coalitions one after another (each dropped at once, as
    in the library), and seconds spent only calling the game on them: the coalitions are built
    ``chunk`` at a time outside the clock, so this is the limit for any exact method."""
    start = time.perf_counter()
    for _ in coalitions(players):
        pass
    building = time.perf_counter() - start
    calling = 0.0
    every = coalitions(players)
    while batch := list(itertools.islice(every, chunk)):
        start = time.perf_counter()
        for coalition in batch:
            value(coalition)
        calling += time.perf_counter() - start
    return building, calling


def bench_exact(sizes: Sizes, seed: int) -> None:
    print("\n## exact Shapley: weighted voting game, every coalition valued once")
    print(
        f"{'players':>7} {'coalitions':>11} {'shapley':>9} {'game alone':>11} "
        f"{'÷ game':>7} {'overhead':>9} {'per coalition':>14} {'of it building':>15}"
    )
    for n in sizes.exact_players:
        weights, quota = voting_game(n, seed)
        value = voting_value(weights, quota)
        totals, calls, builds = [], [], []
        shares = Shares({}, "exact")
        for _ in range(sizes.rounds):
            building, calling = game_cost(value, n)
            total, shares = timed(lambda n=n, value=value: shapley(range(n), value))
            totals.append(total)
            calls.append(calling)
            builds.append(building)
        expected = voting_shapley(weights, quota)
        assert [shares[i] for i in range(n)] == expected, "exact shares disagree with counting"
        total, calling, building = map(statistics.median, (totals, calls, builds))
        overhead = total - calling
        print(
            f"{n:>7} {1 << n:>11,} {total:>8.3f}s {calling:>10.3f}s {total / calling:>7.1f} "
            f"{overhead:>8.3f}s {overhead / (1 << n) * 1e6:>11.2f} µs {building:>14.3f}s"
        )
    print(
        f"(medians of {sizes.rounds} rounds. 'game alone': the value function called once on "
        "every coalition, the limit;\n 'overhead': shapley − game alone, also per coalition; "
        "'of it building': making the coalitions alone.\n The shares equal the exact counting "
        "formula.)"
    )


# --- 2. sampling ------------------------------------------------------------------------------


def bench_sampling(sizes: Sizes, seed: int) -> None:
    n = sizes.sampling_players
    weights, quota = voting_game(n, seed)
    value = voting_value(weights, quota)
    exact = [float(s) for s in voting_shapley(weights, quota)]
    print(
        f"\n## sampling Shapley: {n}-player weighted voting game (quota {quota} of "
        f"{sum(weights)}), seed {seed}"
    )
    print(f"exact shares by counting: {min(exact):.5f} … {max(exact):.5f}")
    print(
        f"{'samples':>8} {'max |err|':>10} {'mean |err|':>11} {'mean SE':>9} "
        f"{'mean |err|/SE':>13} {'mean |err|·√samples':>19} {'seconds':>8}"
    )
    points = []
    for m in sizes.samples:
        seconds, result = timed(
            lambda m=m: shapley(range(n), value, method="sampling", samples=m, seed=seed)
        )
        assert result.standard_error is not None
        errors = [abs(result[i] - exact[i]) for i in range(n)]
        ses = [result.standard_error[i] for i in range(n)]
        mean_err, mean_se = statistics.fmean(errors), statistics.fmean(ses)
        z = statistics.fmean(e / s for e, s in zip(errors, ses, strict=True) if s > 0)
        points.append((math.log(m), math.log(mean_err)))
        print(
            f"{m:>8,} {max(errors):>10.5f} {mean_err:>11.5f} {mean_se:>9.5f} {z:>13.2f} "
            f"{mean_err * math.sqrt(m):>19.3f} {seconds:>7.2f}s"
        )
    if len(points) >= 2:
        xs, ys = zip(*points, strict=True)
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
        print(
            f"slope of log(mean |err|) against log(samples): {slope:.2f} (1/√samples gives -0.50); "
            "mean |err|/SE is √(2/π) ≈ 0.80 if the reported SE is right"
        )


# --- 3. coverage ------------------------------------------------------------------------------


def make_records(sizes: Sizes, seed: int) -> dict[int, list[str]]:
    """Each record a 64-hex-digit key (the length of an HMAC-SHA-256), held by 1 to
    ``max_holders`` distinct players chosen uniformly."""
    rng = random.Random(seed)
    records: dict[int, list[str]] = {p: [] for p in range(sizes.players)}
    everyone = range(sizes.players)
    for _ in range(sizes.records):
        key = rng.randbytes(32).hex()
        for player in rng.sample(everyone, rng.randint(1, sizes.max_holders)):
            records[player].append(key)
    return records


def dict_pass(records: dict[int, list[str]]) -> dict[str, int]:
    """The plain pass: how many players hold each key, counted in a dict by a Python loop."""
    holders: dict[str, int] = {}
    for keys in records.values():
        for key in keys:
            holders[key] = holders.get(key, 0) + 1
    return holders


def counter_pass(records: dict[int, list[str]]) -> Counter[Hashable]:
    """The same count at C speed (``Counter.update`` on each player's list)."""
    holders: Counter[Hashable] = Counter()
    for keys in records.values():
        holders.update(keys)
    return holders


def bench_coverage(sizes: Sizes, seed: int) -> None:
    print(
        f"\n## coverage_shapley: {sizes.records:,} records, {sizes.players:,} players, "
        f"each record held by 1–{sizes.max_holders}"
    )
    seconds, records = timed(lambda: make_records(sizes, seed))
    incidences = sum(len(keys) for keys in records.values())
    print(f"generated {incidences:,} key incidences in {seconds:.1f} s")
    distinct = len(dict_pass(records))  # also warms the keys' cached hashes
    times: dict[str, list[float]] = {"dict pass": [], "Counter pass": [], "coverage_shapley": []}
    shares: dict[Hashable, Fraction] = {}
    for _ in range(sizes.rounds):
        times["dict pass"].append(timed(lambda: dict_pass(records))[0])
        times["Counter pass"].append(timed(lambda: counter_pass(records))[0])
        seconds, shares = timed(lambda: coverage_shapley(records))
        times["coverage_shapley"].append(seconds)
    assert sum(shares.values()) == distinct, "the shares must add up to the distinct records"
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{'':18} {'median':>8} {'incidences/s':>13} {'coverage ÷ this':>16}")
    for name, seconds in medians.items():
        print(
            f"{name:18} {seconds:>7.3f}s {incidences / seconds:>13,.0f} "
            f"{medians['coverage_shapley'] / seconds:>16.2f}"
        )
    print(
        f"(medians of {sizes.rounds} rounds; 'coverage ÷ this': coverage_shapley's time over "
        f"this one's. The shares add up to the {distinct:,} distinct records.)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, help="repeats of each timing (median reported)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    print(
        f"# consortium credit benchmark{' (--quick)' if args.quick else ''}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    start = time.perf_counter()
    bench_exact(sizes, args.seed)
    bench_sampling(sizes, args.seed)
    bench_coverage(sizes, args.seed)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
