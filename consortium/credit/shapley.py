"""Shapley values: each player's average marginal contribution over every order of joining.

For a cooperative game ``value`` (a function from a frozenset of players to a number), the
Shapley value is the unique split of v(all) − v(∅) that is efficient (the shares add up),
symmetric (interchangeable players get the same), gives a null player nothing, and is
additive over games. It is the fairness method data consortia reach for when several
institutions' data are used together, because no negotiation by size enters it.

Two ways to compute it:

- ``exact``: every coalition's value is computed once (2ⁿ calls) and weighted by its size;
  each player's share is then a sum over the coalitions that contain it, taken in slices.
  The weights are exact integers (scaled by n!), so integer, fractional or decimal game
  values give exact shares (as fractions, or decimals for decimal values); float values give
  floats. Practical up to about 20 players.
- ``sampling``: random orders of the players (permutation sampling, Castro et al. 2009);
  each order gives every player one marginal contribution, and the estimate is their mean.
  Each order's contributions add up to v(all) − v(∅), so the estimate is efficient exactly,
  whatever the sample. The standard error of each share is reported; the same seed gives
  the same result on every machine.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from consortium.credit.errors import CreditError

Number = int | float | Fraction | Decimal
Game = Callable[[frozenset], Number]

EXACT_LIMIT = 22  # 2**22 coalitions take a minute and a few hundred MB; beyond, sample.


class Shares(dict):
    """Each player's share; ``standard_error`` per player when the shares were sampled."""

    def __init__(
        self,
        shares: Mapping[Hashable, Number],
        method: str,
        samples: int | None = None,
        standard_error: Mapping[Hashable, float] | None = None,
    ) -> None:
        super().__init__(shares)
        self.method = method
        self.samples = samples
        self.standard_error = dict(standard_error) if standard_error is not None else None


def _players(players: Iterable[Hashable]) -> list[Hashable]:
    listed = list(players)
    if len(set(listed)) != len(listed):
        raise CreditError("each player may be named only once")
    return listed


def shapley(
    players: Iterable[Hashable],
    value: Game,
    method: Literal["exact", "sampling"] = "exact",
    samples: int | None = None,
    seed: int | None = None,
) -> Shares:
    """Each player's Shapley value in the game ``value``.

    ``samples`` (the number of random orders) is required for ``sampling``; ``seed`` makes it
    reproducible. Raises `CreditError` for repeated players, an unknown method, too many
    players for ``exact``, or a sample count below 2 (one order gives no standard error).
    """
    listed = _players(players)
    if method == "exact":
        if len(listed) > EXACT_LIMIT:
            raise CreditError(
                f"{len(listed)} players are too many for the exact method "
                f"(at most {EXACT_LIMIT}); use method='sampling'"
            )
        return _exact(listed, value)
    if method == "sampling":
        if samples is None or isinstance(samples, bool) or samples < 2:
            raise CreditError("sampling needs samples=N with N ≥ 2")
        return _sampled(listed, value, samples, seed)
    raise CreditError(f"unknown method {method!r}: 'exact' or 'sampling'")


def _coalitions(players: list[Hashable]) -> Iterable[tuple[int, frozenset]]:
    """Every coalition with its bit mask, built from two precomputed halves so that no
    coalition costs more than one set union."""
    n = len(players)
    half = n // 2
    low = [frozenset(players[i] for i in range(half) if m >> i & 1) for m in range(1 << half)]
    high = [
        frozenset(players[half + i] for i in range(n - half) if m >> i & 1)
        for m in range(1 << (n - half))
    ]
    low_mask = (1 << half) - 1
    for mask in range(1 << n):
        yield mask, low[mask & low_mask] | high[mask >> half]


def _sum_with_bit(terms: list, i: int) -> Any:
    """Σ terms[mask] over the masks with bit i set, in C-speed slices: blocks of 2^i masks
    for high bits, strided slices for low ones, so that neither needs many slices."""
    step, size = 1 << i, len(terms)
    if step * step < size:
        return sum(sum(terms[step + j :: 2 * step]) for j in range(step))
    return sum(sum(terms[b : b + step]) for b in range(step, size, 2 * step))


def _exact(players: list[Hashable], value: Game) -> Shares:
    """φ_i = Σ_{T∋i} (w(|T|−1) + w(|T|))·v(T) − Σ_T w(|T|)·v(T), with w(k) = k!(n−k−1)!/n!
    (and w(n) = 0): the usual sum over coalitions without i, regrouped so that one pass over
    the coalitions serves every player. Weights are scaled by n! to stay integers."""
    n = len(players)
    if n == 0:
        return Shares({}, "exact")
    scaled = [math.factorial(k) * math.factorial(n - k - 1) for k in range(n)] + [0]
    factor = [0] + [scaled[k - 1] + scaled[k] for k in range(1, n + 1)]
    terms: list = [0] * (1 << n)
    common: Any = 0
    kinds: set[type] = set()
    for mask, coalition in _coalitions(players):
        v = value(coalition)
        kinds.add(type(v))
        if isinstance(v, Decimal):
            v = Fraction(v)  # Decimal's 28 digits are not enough for sums this long
        k = mask.bit_count()
        terms[mask] = factor[k] * v
        common += scaled[k] * v
    whole = math.factorial(n)
    shares = {}
    for i, player in enumerate(players):
        numerator = _sum_with_bit(terms, i) - common
        if float in kinds:
            shares[player] = numerator / whole
            continue
        share = Fraction(numerator) / whole
        if Decimal in kinds:
            shares[player] = Decimal(share.numerator) / Decimal(share.denominator)
        else:
            shares[player] = share
    return Shares(shares, "exact")


def _sampled(players: list[Hashable], value: Game, samples: int, seed: int | None) -> Shares:
    rng = random.Random(seed)
    contributions: dict[Hashable, list[float]] = {p: [] for p in players}
    order = list(players)
    empty = float(value(frozenset()))
    for _ in range(samples):
        rng.shuffle(order)
        joined: frozenset = frozenset()
        before = empty
        for player in order:
            joined = joined | {player}
            after = float(value(joined))
            contributions[player].append(after - before)
            before = after
    return Shares(
        {p: statistics.fmean(c) for p, c in contributions.items()},
        "sampling",
        samples=samples,
        standard_error={
            p: statistics.stdev(c) / math.sqrt(samples) for p, c in contributions.items()
        },
    )
