"""The credit library on its own: Shapley values (exact and sampled), the coverage closed
form, the alternatives, provenance flow and allocation to the cent."""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.credit import (
    CreditError,
    allocate,
    coverage_shapley,
    equal_split,
    flow,
    leave_one_out,
    pay_out,
    proportional,
    shapley,
    unit_flows,
)
from consortium.credit.shapley import Game


def by_definition(players: list[Hashable], value: Game) -> dict[Hashable, Fraction]:
    """The Shapley value straight from its definition: the mean marginal contribution over
    every order of the players."""
    total = {p: Fraction(0) for p in players}
    for order in itertools.permutations(players):
        joined: frozenset = frozenset()
        for p in order:
            total[p] += Fraction(value(joined | {p})) - Fraction(value(joined))
            joined = joined | {p}
    return {p: t / math.factorial(len(players)) for p, t in total.items()}


def glove(coalition: frozenset) -> int:
    """One left glove, two right ones: a coalition is worth the pairs it can make."""
    return min(len(coalition & {"L"}), len(coalition & {"R1", "R2"}))


# --- Shapley ---------------------------------------------------------------------------------


def test_the_glove_game() -> None:
    shares = shapley(["L", "R1", "R2"], glove)
    assert shares == {"L": Fraction(2, 3), "R1": Fraction(1, 6), "R2": Fraction(1, 6)}
    assert shares.method == "exact" and shares.standard_error is None


games = st.integers(min_value=1, max_value=6).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(-50, 100), min_size=2**n, max_size=2**n))
)


def table_game(n: int, table: list[int]) -> Game:
    """A game given by a value per coalition mask of players 0…n−1 (v(∅) = 0)."""

    def value(coalition: frozenset) -> int:
        mask = sum(1 << p for p in coalition)
        return 0 if mask == 0 else table[mask]

    return value


@settings(max_examples=60, deadline=None)
@given(games)
def test_exact_agrees_with_the_definition(game: tuple[int, list[int]]) -> None:
    n, table = game
    value = table_game(n, table)
    shares = shapley(range(n), value)
    assert shares == by_definition(list(range(n)), value)
    assert sum(shares.values()) == value(frozenset(range(n)))  # efficiency, exactly


def test_symmetric_players_share_equally_and_a_null_player_gets_nothing() -> None:
    def value(c: frozenset) -> int:
        return 10 * len(c & {"a", "b"}) ** 2  # "z" adds nothing anywhere

    shares = shapley(["a", "b", "z"], value)
    assert shares["a"] == shares["b"] == 20 and shares["z"] == 0


def test_each_coalition_is_valued_once() -> None:
    seen: list[frozenset] = []

    def value(c: frozenset) -> int:
        seen.append(c)
        return len(c)

    shapley(range(10), value)
    assert len(seen) == len(set(seen)) == 2**10


def test_value_kinds_are_kept() -> None:
    assert shapley(["a", "b"], lambda c: 1.5 * len(c)) == {"a": 1.5, "b": 1.5}
    decimal = shapley(["a", "b", "c"], lambda c: Decimal("0.3") * len(c))
    assert decimal == {p: Decimal("0.3") for p in "abc"}


def test_sampling_is_reproducible_efficient_and_reports_its_error() -> None:
    players = ["L", "R1", "R2"]
    one = shapley(players, glove, method="sampling", samples=400, seed=7)
    again = shapley(players, glove, method="sampling", samples=400, seed=7)
    assert one == again and one.standard_error == again.standard_error
    assert one.method == "sampling" and one.samples == 400
    assert sum(one.values()) == pytest.approx(1)
    exact = shapley(players, glove)
    for p in players:
        assert one.standard_error[p] > 0
        assert abs(one[p] - float(exact[p])) < 4 * one.standard_error[p]


def test_the_sampling_error_shrinks_like_one_over_root_n() -> None:
    def value(c: frozenset) -> int:
        return len(c) ** 2 + (5 if {0, 1} <= c else 0)

    small = shapley(range(8), value, method="sampling", samples=200, seed=1)
    large = shapley(range(8), value, method="sampling", samples=3200, seed=1)
    ratio = large.standard_error[0] / small.standard_error[0]
    assert 0.15 < ratio < 0.4  # 1/4 expected: sixteen times the samples


@pytest.mark.parametrize(
    ("players", "options", "message"),
    [
        (["a", "a"], {}, "each player may be named only once"),
        (range(23), {}, "23 players are too many for the exact method"),
        (["a"], {"method": "sampling"}, "sampling needs samples=N with N ≥ 2"),
        (["a"], {"method": "sampling", "samples": 1}, "sampling needs samples=N"),
        (["a"], {"method": "banzhaf"}, "unknown method 'banzhaf'"),
    ],
)
def test_shapley_refuses(players: list, options: dict, message: str) -> None:
    with pytest.raises(CreditError, match=message):
        shapley(players, len, **options)


# --- coverage ---------------------------------------------------------------------------------


def test_coverage_shares_overlap() -> None:
    shares = coverage_shapley({"A": ["r1", "r2", "r2"], "B": ["r2", "r3"], "C": []})
    assert shares == {"A": Fraction(3, 2), "B": Fraction(3, 2), "C": 0}


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from("ABCDEF"), st.sets(st.integers(0, 12), max_size=8), min_size=1)
)
def test_coverage_is_the_shapley_value_of_the_coverage_game(
    records: dict[str, set[int]],
) -> None:
    def covered(c: frozenset) -> int:
        return len(set().union(*(records[p] for p in c)))

    shares = coverage_shapley(records)
    assert shares == shapley(list(records), covered)
    assert sum(shares.values()) == covered(frozenset(records))


# --- the alternatives ------------------------------------------------------------------------


def test_the_alternatives() -> None:
    assert proportional({"a": 3, "b": Decimal("1"), "c": 0}) == {
        "a": Fraction(3, 4), "b": Fraction(1, 4), "c": 0,
    }  # fmt: skip
    assert proportional({"a": 0}) == {"a": 0}
    with pytest.raises(CreditError, match="must not be negative: b"):
        proportional({"a": 1, "b": -1})
    # Without L there are no pairs; without either R one pair remains.
    assert leave_one_out(["L", "R1", "R2"], glove) == {"L": 1, "R1": 0, "R2": 0}
    assert leave_one_out(["a", "b"], lambda c: 0) == {"a": 0, "b": 0}
    assert equal_split(["a", "b", "c"], 10) == {p: Fraction(10, 3) for p in "abc"}
    assert equal_split([]) == {}


# --- provenance -------------------------------------------------------------------------------


def test_credit_flows_to_the_sources_and_a_diamond_counts_once() -> None:
    # The paper used a derived dataset D and the cohort B; D came from B and C.
    graph = {"paper": {"D": 3, "B": 1}, "D": {"B": 1, "C": 1}}
    rest = flow({"paper": 8}, graph)
    assert rest == {"B": 2 + 3, "C": 3}
    assert sum(rest.values()) == 8
    kept = flow({"paper": 8}, graph, keep=Fraction(1, 2))
    assert kept == {"paper": 4, "D": Fraction(3, 2), "B": 1 + Fraction(3, 4), "C": Fraction(3, 4)}
    assert flow({"lonely": 2}, graph) == {"lonely": 2}


@pytest.mark.parametrize(
    ("credit", "graph", "keep", "message"),
    [
        (
            {"a": 1},
            {"a": {"b": 1}, "b": {"a": 1}},
            0,
            r"has a cycle \(each derived from the next\)",
        ),
        ({"a": 1}, {"a": {"a": 1}}, 0, "has a cycle"),
        ({"a": 1}, {"a": {"b": -1, "c": 2}}, 0, "negative source weight"),
        ({"a": 1}, {"a": {"b": 0}}, 0, "add up to zero"),
        ({"a": -1}, {}, 0, "is negative"),
        ({"a": 1}, {}, 2, "keep must be between 0 and 1"),
        ({"a": "x"}, {}, 0, "not a number"),
    ],
)
def test_flow_refuses(credit: dict, graph: dict, keep: int, message: str) -> None:
    with pytest.raises(CreditError, match=message):
        flow(credit, graph, keep)


dags = st.integers(2, 9).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(1, n - 1), st.integers(0, n - 2), st.integers(0, 4)),
            max_size=3 * n,
        ),
        st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(1, 3), Fraction(1)]),
        st.lists(st.integers(0, n - 1), min_size=1, max_size=4),
    )
)


@given(dags)
@settings(max_examples=200, deadline=None)
def test_unit_flows_mix_to_what_flow_gives(dag: tuple) -> None:
    """Flow is linear: any mix of units comes to rest as the same mix of `unit_flows`."""
    _, edges, keep, given_to = dag
    graph: dict[int, dict[int, int]] = {}
    for node, source, weight in edges:
        if source < node:  # sources are older: no cycles
            graph.setdefault(node, {})[source] = weight + 1
    rests = unit_flows(graph, keep)
    mixed: dict[int, Fraction] = {}
    for node in given_to:
        for place, part in rests.get(node, {node: Fraction(1)}).items():
            mixed[place] = mixed.get(place, Fraction(0)) + part
    credit: dict[int, int] = {}
    for node in given_to:
        credit[node] = credit.get(node, 0) + 1
    assert {k: v for k, v in mixed.items() if v} == flow(credit, graph, keep)


def test_unit_flows_refuse_what_flow_refuses() -> None:
    with pytest.raises(CreditError, match="has a cycle"):
        unit_flows({"a": {"b": 1}, "b": {"a": 1}})


def test_a_cycle_is_named() -> None:
    with pytest.raises(CreditError) as err:
        flow({"a": 1}, {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}})
    names = str(err.value).split(": ", 1)[1].split(" → ")
    assert set(names) == {"a", "b", "c"} and names[0] == names[-1]


# --- money ------------------------------------------------------------------------------------


def test_largest_remainders_get_the_odd_cents() -> None:
    paid = allocate(Decimal("100.00"), {"a": 1, "b": 1, "c": 1})
    assert sum(paid.values()) == Decimal("100.00")
    # A tie on remainder and weight: the name decides, so every node pays the same.
    assert paid == {"a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}
    paid = allocate(Decimal("10"), {"x": Decimal("2.5"), "y": Decimal("7.5"), "z": 0}, Decimal(1))
    assert paid == {"x": Decimal(2), "y": Decimal(8), "z": Decimal(0)}  # tie: larger weight


def test_a_remainder_tie_goes_to_the_larger_weight() -> None:
    # Exact shares 0.025 and 0.075 of one cent's pool… in cents: 0.5 and 1.5 → one tie each.
    assert allocate(Decimal("0.02"), {"b": 1, "a": 3}) == {
        "b": Decimal("0.00"),
        "a": Decimal("0.02"),
    }
    assert allocate(Decimal("0.01"), {"b": 2, "a": 2}) == {
        "b": Decimal("0.00"),
        "a": Decimal("0.01"),
    }
    assert allocate(Decimal("0.01"), {"b": 3, "a": 1}) == {
        "b": Decimal("0.01"),
        "a": Decimal("0.00"),
    }


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10**9),
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.decimals(min_value=0, max_value=10**6, places=3),
        min_size=1,
    ).filter(lambda w: sum(w.values()) > 0),
)
def test_payouts_always_sum_to_the_pool(cents: int, weights: dict[str, Decimal]) -> None:
    pool = Decimal(cents) / 100
    paid = allocate(pool, weights)
    assert sum(paid.values()) == pool and set(paid) == set(weights)
    total = sum(weights.values())
    for payee, amount in paid.items():
        exact = Fraction(pool) * Fraction(weights[payee]) / Fraction(total)
        assert abs(Fraction(amount) - exact) < Fraction(1, 100)  # within one cent


@pytest.mark.parametrize(
    ("pool", "weights", "quantum", "message"),
    [
        (Decimal(10), {"a": -1, "b": 2}, Decimal("0.01"), "must not be negative: a"),
        (Decimal(10), {"a": 0, "b": 0}, Decimal("0.01"), "every weight is zero"),
        (Decimal(10), {}, Decimal("0.01"), "no payees"),
        (Decimal("10.005"), {"a": 1}, Decimal("0.01"), "not a whole number of quanta"),
        (Decimal(-1), {"a": 1}, Decimal("0.01"), "must not be negative: -1"),
        (Decimal(10), {"a": 1}, Decimal(0), "quantum must be a positive Decimal"),
        (Decimal(10), {"a": 0.5}, Decimal("0.01"), "must be a Decimal, an integer or a Fraction"),
        (Decimal("NaN"), {"a": 1}, Decimal("0.01"), "must be a finite number"),
    ],
)
def test_allocate_refuses(pool: Decimal, weights: dict, quantum: Decimal, message: str) -> None:
    with pytest.raises(CreditError, match=message):
        allocate(pool, weights, quantum)


def test_small_payouts_roll_over_until_they_reach_the_minimum() -> None:
    weights = {"big": 97, "small": 3}
    first = pay_out(Decimal("100.00"), weights, minimum=Decimal("5.00"))
    assert first.paid == {"big": Decimal("97.00")}
    assert first.carried == {"small": Decimal("3.00")}
    second = pay_out(Decimal("100.00"), weights, minimum=Decimal("5.00"), carried=first.carried)
    assert second.paid == {"big": Decimal("97.00"), "small": Decimal("6.00")}
    assert second.carried == {}
    total_in = Decimal("200.00")
    assert sum(first.paid.values()) + sum(second.paid.values()) == total_in
    with pytest.raises(CreditError, match="carried amounts must not be negative: x"):
        pay_out(Decimal(1), weights, carried={"x": Decimal(-1)})
    with pytest.raises(CreditError, match="minimum payout must be a Decimal"):
        pay_out(Decimal(1), weights, minimum=Decimal(-1))
