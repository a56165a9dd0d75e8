"""Shares from a real ledger: events of a period, provenance flow, every method, payees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
import scenario

from consortium.alliance import contributions
from consortium.alliance.facts import Facts, fold
from consortium.alliance.ledgers import own_entries
from consortium.alliance.shares import Payee, benefit_split, compute, credit_events
from consortium.credit import CreditError
from consortium.node import Node
from consortium.registry import datasets

WEIGHTS = scenario.CREDIT_WEIGHTS
World = scenario.CreditWorld


@pytest.fixture
def world(credit_world: World) -> World:
    return credit_world


def facts_of(node: Node) -> Facts:
    with node.engine.connect() as conn:
        return fold(Facts(), node.origin, own_entries(conn, node.ledger.size()))


def rules(hospital: Node, institute: Node, method: str, **extra: Any) -> dict[str, Any]:
    members = [{"origin": hospital.origin}, {"origin": institute.origin}]
    return {"event_weights": WEIGHTS, "method": method, "members": members, **extra}


def today() -> tuple[str, str]:
    """A period holding everything the fixture did, however long it took."""
    day = datetime.now(UTC).date()
    return (day - timedelta(days=1)).isoformat(), (day + timedelta(days=2)).isoformat()


def test_the_period_and_its_events(world: World) -> None:
    hospital, _, _ = world
    start, end = today()
    events = credit_events(facts_of(hospital), start, end)
    assert sorted(e.type for e in events) == [
        "cost.recorded", "dataset.published", "dataset.published", "grant.issued",
        "output.publication",
    ]  # fmt: skip
    assert credit_events(facts_of(hospital), end, "2099-01-01") == []
    cost = next(e for e in events if e.type == "cost.recorded")
    assert cost.units == 100 and cost.institution == hospital.origin


def test_every_method_and_the_payees(world: World) -> None:
    hospital, institute, ids = world
    h, i = hospital.origin, institute.origin
    start, end = today()
    shares = compute(facts_of(hospital), rules(hospital, institute, "proportional"), start, end)
    # 1 + 1 (two publications) + 2 (grant) + 5 (publication) + 100 × 0.01 (cost)
    assert shares.total == 10
    # The extract keeps ½ of its publication's credit and passes ¾ and ¼ of the rest on.
    assert shares.datasets == {
        ids["cohort"]: 1 + Fraction(3, 8) + 2 + 5,
        ids["extract"]: Fraction(1, 2),
        ids["remote"]: Fraction(1, 8),
    }
    assert shares.institutions["proportional"] == {h: Fraction(79, 8), i: Fraction(1, 8)}
    # Only the extract's publication is joint work: Shapley splits its 1 equally.
    assert shares.institutions["shapley"] == {h: Fraction(19, 2), i: Fraction(1, 2)}
    # Without the hospital nothing is left; without the institute, 9 of 10.
    assert shares.institutions["leave-one-out"] == {h: Fraction(100, 11), i: Fraction(10, 11)}
    assert shares.institutions["equal"] == {h: 5, i: 5}
    for by_method in shares.institutions.values():
        assert sum(by_method.values()) == 10

    # The hospital's 79/8: grant and publication by the contract's split, the rest its own.
    own = Payee(h, "institution", "St Example Hospital")
    assert shares.payees == {
        own: Fraction(23, 8) + Fraction(7, 5) + Fraction(7, 2),
        Payee(h, "contributor", "Diabetes nursing team"): Fraction(2, 5) + 1,
        Payee(h, "fund", "Patient fund"): Fraction(1, 5) + Fraction(1, 2),
        Payee(i, "institution", "Northern Genomics Institute"): Fraction(1, 8),
    }
    # Under Shapley the same mix scales to the hospital's 19/2.
    fair = compute(facts_of(hospital), rules(hospital, institute, "shapley"), start, end)
    assert sum(p for k, p in fair.payees.items() if k.origin == h) == Fraction(19, 2)
    assert fair.payees[own] == Fraction(19, 2) * (Fraction(311, 40) / Fraction(79, 8))


def test_the_derived_keep_share_comes_from_the_rules(world: World) -> None:
    hospital, institute, ids = world
    start, end = today()
    everything = rules(hospital, institute, "proportional", derived_keep="0")
    shares = compute(facts_of(hospital), everything, start, end)
    assert ids["extract"] not in shares.datasets
    assert shares.datasets[ids["remote"]] == Fraction(1, 4)


def test_costs_in_two_currencies_are_refused(world: World) -> None:
    hospital, institute, _ = world
    sam = scenario.actor(hospital, "sam")
    contributions.record_cost(
        hospital.ledger, sam, {"amount": "5", "currency": "GBP", "description": "Backup"}
    )
    start, end = today()
    with pytest.raises(CreditError, match="costs in the period are in EUR, GBP"):
        compute(facts_of(hospital), rules(hospital, institute, "shapley"), start, end)


def test_a_claim_rests_with_the_institution_that_made_it(world: World) -> None:
    hospital, institute, ids = world
    contributions.declare_contribution(
        hospital.ledger, scenario.actor(hospital, "sam"),
        {"kind": "curation", "units": "4", "dataset": ids["extract"], "description": "QC"},
    )  # fmt: skip
    start, end = today()
    weights = {**WEIGHTS, "contribution.declared": "1"}
    everything = {**rules(hospital, institute, "proportional"), "event_weights": weights}
    shares = compute(facts_of(hospital), everything, start, end)
    # The extract is derived partly from the institute's data, but the effort was the hospital's.
    assert shares.institutions["proportional"][institute.origin] == Fraction(1, 8)
    assert shares.institutions["proportional"][hospital.origin] == Fraction(79, 8) + 4


def test_the_institution_part_of_a_split_is_its_own_whatever_its_name() -> None:
    facts = Facts(members={"h": "St Example Hospital"})
    facts.splits[("ctr-1", 1)] = [
        {"payee": "institution", "name": "Data providers", "percent": "80"},
        {"payee": "fund", "name": "Patient fund", "percent": "20"},
    ]
    assert benefit_split(facts, "h", ("ctr-1", 1), Fraction(10)) == [
        (Payee("h", "institution", "St Example Hospital"), 8),
        (Payee("h", "fund", "Patient fund"), 2),
    ]


def test_the_rules_in_force_are_the_last_accepted_whoever_proposed_them() -> None:
    facts = Facts()
    facts.rules = {("a", 3): {"method": "equal"}, ("b", 1): {"method": "shapley"}}
    facts.rules_accepted = {("a", 3): "2026-01-10T00:00:00Z", ("b", 1): "2026-02-01T00:00:00Z"}
    assert facts.rules_in_force("2026-01-31") == ("a", 3, {"method": "equal"})
    assert facts.rules_in_force("2026-03-01") == ("b", 1, {"method": "shapley"})
    assert facts.rules_in_force("2026-01-01") is None


def test_a_later_revision_does_not_change_a_closed_period(world: World) -> None:
    hospital, institute, ids = world
    start, end = today()
    before = compute(facts_of(hospital), rules(hospital, institute, "proportional"), start, end)
    hospital.ledger.clock = lambda: datetime.now(UTC) + timedelta(days=5)
    own_only = scenario.metadata(
        title="HbA1c extract", sensitivity="restricted",
        derived_from=[{"dataset": ids["cohort"], "weight": "1"}],
    )  # fmt: skip
    datasets.revise_dataset(
        hospital.ledger, scenario.actor(hospital, "sam"), ids["extract"], own_only
    )
    facts = facts_of(hospital)
    after = compute(facts, rules(hospital, institute, "proportional"), start, end)
    assert after.datasets == before.datasets and after.datasets[ids["remote"]] == Fraction(1, 8)
    # A period that includes the revision uses it: the extract's half now all goes to the cohort.
    later = compute(facts, rules(hospital, institute, "proportional"), start, "2999-01-01")
    assert ids["remote"] not in later.datasets
