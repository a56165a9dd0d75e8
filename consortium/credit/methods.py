"""The alternatives to Shapley an alliance may choose, computed side by side in reports.

Shapley values are principled but expensive, hard to explain to a hospital board, and, for
data, open to criticism (see the alliance lead's guide): they reward a dataset for being
*needed* in a coalition, not for its quality or the work behind it, and replicated data
lowers every holder's share. These simpler rules answer other questions:

- ``proportional``: shares in proportion to each party's weighted contributions — "you get
  what you put in", easy to audit, blind to complementarity.
- ``leave_one_out``: v(all) − v(all without the party), normalised to split v(all) — "what
  would be lost without you"; parties that are each replaceable get nothing.
- ``equal_split``: the same for every party — the baseline that size-blind cooperation
  starts from.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from fractions import Fraction

from consortium.credit.errors import CreditError
from consortium.credit.shapley import Game, Number


def proportional(contributions: Mapping[Hashable, Number]) -> dict[Hashable, Fraction]:
    """Each party's contribution as a fraction of the total (all zero if nothing was
    contributed). Negative contributions are refused."""
    exact = {p: Fraction(c) for p, c in contributions.items()}
    negative = sorted(str(p) for p, c in exact.items() if c < 0)
    if negative:
        raise CreditError(f"contributions must not be negative: {', '.join(negative)}")
    total = sum(exact.values(), Fraction(0))
    return {p: (c / total if total else Fraction(0)) for p, c in exact.items()}


def leave_one_out(players: Iterable[Hashable], value: Game) -> dict[Hashable, Fraction]:
    """Marginal value of each player to the grand coalition, scaled so the shares sum to
    v(all); all zero when no player is missed (or the game is worth nothing)."""
    listed = list(players)
    everyone = frozenset(listed)
    whole = Fraction(value(everyone))
    missed = {p: whole - Fraction(value(everyone - {p})) for p in listed}
    total = sum(missed.values(), Fraction(0))
    if total == 0:
        return {p: Fraction(0) for p in listed}
    return {p: whole * m / total for p, m in missed.items()}


def equal_split(players: Iterable[Hashable], total: Number = 1) -> dict[Hashable, Fraction]:
    """``total`` split equally among the players."""
    listed = list(players)
    if not listed:
        return {}
    return {p: Fraction(total) / len(listed) for p in listed}
