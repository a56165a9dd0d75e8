"""The closed form of the "records contributed" game, in linear time.

In this game a coalition's value is the number of distinct records its members cover
together. It is a sum, over records, of games in which a record counts once any of the
``c`` players holding it is present; by symmetry each of those ``c`` players gets 1/c of it.
A player's Shapley value is therefore Σ 1/c over the records it holds: overlap is shared, a
record only one institution holds is wholly its own. One pass counts how many players hold
each record, a second adds up the shares; no coalition is ever enumerated.

The record keys must be the same for the same person at every institution and reveal nothing
about them: in a real study each institution computes them locally as a keyed hash (HMAC-
SHA-256) of a normalised identifier, with a key that only the study's institutions share.
They never leave an institution as identifiers. See the alliance lead's guide.

The shares are exact fractions (their sum is exactly the number of distinct records): every
denominator divides the least common multiple of the holder counts that occur, so each share
is one integer sum over that common denominator.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from fractions import Fraction


def coverage_shapley(records: Mapping[Hashable, Iterable[Hashable]]) -> dict[Hashable, Fraction]:
    """Each player's Shapley value in the game v(S) = |⋃_{p∈S} records[p]|.

    A player's repeated keys count once. Players with no records get zero.
    """
    held = {player: set(keys) for player, keys in records.items()}
    holders: Counter[Hashable] = Counter()
    for keys in held.values():
        holders.update(keys)
    common = math.lcm(*set(holders.values())) if holders else 1
    part = {c: common // c for c in set(holders.values())}
    return {
        player: Fraction(sum(part[holders[key]] for key in keys), common)
        for player, keys in held.items()
    }
