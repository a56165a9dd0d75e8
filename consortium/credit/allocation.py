"""Money: splitting a pool by weights so that it is paid out to the exact quantum.

Largest-remainder (Hamilton) apportionment: each payee first gets its exact share rounded
down to the quantum; the quanta left over go one each to the payees with the largest
remainders. Ties go to the larger weight, then to the payee whose name sorts first, so every
node that runs the same allocation pays the same cents to the same people. The result always
sums to the pool exactly, which rounding each share on its own does not guarantee.

Amounts are `decimal.Decimal` and the arithmetic is exact: the shares are computed as
fractions of integers (weights are scaled to integers first), never as binary floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from numbers import Rational

from consortium.credit.errors import CreditError

Weight = Decimal | int | Fraction


def _fraction(value: object, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | Rational):
        raise CreditError(f"{what} must be a Decimal, an integer or a Fraction, not {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise CreditError(f"{what} must be a finite number, not {value}")
    return Fraction(value)


def allocate(
    pool: Decimal, weights: Mapping[str, Weight], quantum: Decimal = Decimal("0.01")
) -> dict[str, Decimal]:
    """Split ``pool`` among the payees in proportion to ``weights``, in whole quanta.

    Payees with weight zero are kept, with a zero amount. Raises `CreditError` for an empty,
    negative or all-zero set of weights, a negative pool, a pool that is not a whole number of
    quanta, or a quantum that is not positive.
    """
    if not isinstance(quantum, Decimal) or not quantum.is_finite() or quantum <= 0:
        raise CreditError(f"the quantum must be a positive Decimal, not {quantum!r}")
    total_pool = _fraction(pool, "the pool")
    if total_pool < 0:
        raise CreditError(f"the pool must not be negative: {pool}")
    units = total_pool / Fraction(quantum)
    if units.denominator != 1:
        raise CreditError(f"the pool {pool} is not a whole number of quanta of {quantum}")
    if not weights:
        raise CreditError("no payees to allocate to")
    exact = {payee: _fraction(w, f"the weight of {payee!r}") for payee, w in weights.items()}
    negative = sorted(p for p, w in exact.items() if w < 0)
    if negative:
        raise CreditError(f"weights must not be negative: {', '.join(negative)}")
    total = sum(exact.values(), Fraction(0))
    if total == 0:
        raise CreditError("every weight is zero: there is nothing to allocate by")

    shares = {payee: units.numerator * w / total for payee, w in exact.items()}
    floors = {payee: s.numerator // s.denominator for payee, s in shares.items()}
    left = units.numerator - sum(floors.values())
    ranked = sorted(shares, key=lambda p: (-(shares[p] - floors[p]), -exact[p], p))
    for payee in ranked[:left]:
        floors[payee] += 1
    return {payee: quantum * floors[payee] for payee in weights}


@dataclass(frozen=True)
class Payout:
    """What a period allocates from its pool, pays, and carries forward to the next one."""

    paid: dict[str, Decimal]
    carried: dict[str, Decimal] = field(default_factory=dict)
    allocated: dict[str, Decimal] = field(default_factory=dict)


def pay_out(
    pool: Decimal,
    weights: Mapping[str, Weight],
    quantum: Decimal = Decimal("0.01"),
    minimum: Decimal = Decimal(0),
    carried: Mapping[str, Decimal] | None = None,
) -> Payout:
    """Allocate ``pool``, add what each payee was owed from earlier periods, and pay those
    whose total reaches ``minimum``; the rest is carried forward to them, not lost.

    A payment below a threshold costs more to make than it is worth; carrying it over keeps
    every cent owed on the books: paid plus carried always equals pool plus what came in
    carried.
    """
    if not isinstance(minimum, Decimal) or not minimum.is_finite() or minimum < 0:
        raise CreditError(f"the minimum payout must be a Decimal ≥ 0, not {minimum!r}")
    before = dict(carried or {})
    negative = sorted(p for p, amount in before.items() if amount < 0)
    if negative:
        raise CreditError(f"carried amounts must not be negative: {', '.join(negative)}")
    allocated = allocate(pool, weights, quantum)
    owed = dict(allocated)
    for payee, amount in before.items():
        owed[payee] = owed.get(payee, Decimal(0)) + amount
    paid = {p: a for p, a in owed.items() if a >= minimum}
    return Payout(
        paid=paid,
        carried={p: a for p, a in owed.items() if a < minimum and a > 0},
        allocated=allocated,
    )
