"""From facts to shares: which contribution events fall in a period, what each is worth under
the benefit rules, where its credit comes to rest, and each institution's share by every
method the rules allow — the chosen one for money, the others beside it in reports.

The steps, each a function of the facts and the rules alone:

1. **Events.** Datasets first published, grants issued, outputs reported (by kind), costs
   recorded and effort declared in the period. An event is worth the rules' weight for its
   type times its units (1, or a cost's amount, or the units declared).
2. **Flow.** An event's credit is split equally among the datasets it used, then flows back
   through the derivation graph (`consortium.credit.flow`; computed once per dataset with
   `unit_flows`, since flow is linear): a derived dataset keeps the rules' ``derived_keep``
   share (default ½) and passes the rest to its sources by their weights. Costs and
   declarations rest with the institution that recorded them.
3. **Institutions.** Each event rests, in the end, with one or more institutions. The game
   for Shapley is v(S) = the worth of the events all of whose institutions are in S: joint
   work exists only when every party to it does.
4. **Methods.** ``proportional`` (the credit each institution's data and claims received),
   ``shapley``, ``leave-one-out`` and ``equal`` (among the members the rules name), all
   scaled to the total worth of the period.
5. **Payees.** An institution's credit divides among its payees in the mix its own credit
   came in: credit resting on a dataset that was granted under a contract follows that
   contract's benefit split; everything else is the institution's own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from consortium.alliance.facts import Facts
from consortium.contracts.benefit_rules import DEFAULT_KEEP
from consortium.credit import CreditError, equal_split, leave_one_out, shapley, unit_flows

EXACT_PLAYERS = 20
SAMPLES = 20_000
SEED = 0  # sampling must give every verifier the same figures


@dataclass(frozen=True)
class CreditEvent:
    type: str
    ref: str
    at: str
    units: int | Fraction
    datasets: tuple[str, ...] = ()
    institution: str | None = None  # where credit rests when no dataset is named
    contracts: tuple[tuple[str, str, int], ...] = ()  # (dataset, contract, version)


@dataclass(frozen=True)
class Payee:
    origin: str
    kind: str  # institution, contributor or fund (the contract's benefit-split kinds)
    name: str


@dataclass
class Shares:
    """A period's credit: per dataset, institution (by method) and payee.

    ``counts`` holds the number of events per type and ``unweighted`` the events the rules
    give no weight (reuse that earns no credit under them).
    """

    total: Fraction = Fraction(0)
    counts: dict[str, int] = field(default_factory=dict)
    unweighted: list[CreditEvent] = field(default_factory=list)
    datasets: dict[str, Fraction] = field(default_factory=dict)
    institutions: dict[str, dict[str, Fraction]] = field(default_factory=dict)  # method → …
    payees: dict[Payee, Fraction] = field(default_factory=dict)
    standard_error: dict[str, float] | None = None


def in_period(at: str, start: str, end: str) -> bool:
    """Whether a ledger time falls in [start, end), dates given as YYYY-MM-DD."""
    return start <= at[:10] < end


def credit_events(facts: Facts, start: str, end: str) -> list[CreditEvent]:
    """The contribution events of the period, in a stable order."""
    found: list[CreditEvent] = []
    for ds in facts.datasets.values():
        if ds.published_at and in_period(ds.published_at, start, end):
            found.append(CreditEvent("dataset.published", ds.id, ds.published_at, 1, (ds.id,)))
    for g in facts.grants.values():
        if in_period(g.issued_at, start, end):
            found.append(_granted("grant.issued", g.id, g.issued_at, g.datasets))
    for o in facts.outputs:
        if in_period(o.reported_at, start, end):
            grant = facts.grants.get(o.grant)
            used = grant.datasets if grant else [{"id": d} for d in o.datasets]
            found.append(_granted(f"output.{o.kind}", o.id, o.reported_at, used))
    for c in facts.claims:
        if in_period(c.at, start, end):
            # A claim rests with the institution that bore the cost or did the work, even
            # when it names a dataset derived from others': their makers did not pay for it.
            found.append(CreditEvent(c.event_type, c.id, c.at, Fraction(c.units), (), c.origin))
    return sorted(found, key=lambda e: (e.at, e.type, e.ref))


def _granted(type_: str, ref: str, at: str, datasets: list[dict[str, Any]]) -> CreditEvent:
    ids = tuple(d["id"] for d in datasets)
    contracts = tuple(
        (d["id"], d["contract"], d["contract_version"]) for d in datasets if "contract" in d
    )
    return CreditEvent(type_, ref, at, 1, ids, contracts=contracts)


def publishers(facts: Facts) -> dict[str, str]:
    """Each dataset's publisher, including sources known only from what derives from them."""
    publisher = {}
    for ds in facts.datasets.values():
        for s in ds.derived_from:
            publisher.setdefault(s["dataset"], s["publisher"])
    publisher.update({ds.id: ds.publisher for ds in facts.datasets.values()})
    return publisher


def compute(facts: Facts, rules: dict[str, Any], start: str, end: str) -> Shares:
    """Every share of the period under ``rules`` (a benefit-rules document)."""
    weights = {k: Fraction(v) for k, v in rules["event_weights"].items()}
    keep = Fraction(rules.get("derived_keep", DEFAULT_KEEP))
    events = credit_events(facts, start, end)
    used = {c.currency for c in facts.claims if c.currency and in_period(c.at, start, end)}
    if "cost.recorded" in weights and len(used) > 1:
        raise CreditError(
            f"costs in the period are in {', '.join(sorted(used))}: the rules weigh one currency"
        )
    # The derivation graph as it stood in the period: later revisions do not reach back.
    graph = {}
    for ds in facts.datasets.values():
        sources = ds.credit_before(end)[1]
        if sources:
            graph[ds.id] = {s["dataset"]: s["weight"] for s in sources}
    publisher = publishers(facts)
    result = Shares()
    by_institution: dict[str, Fraction] = defaultdict(Fraction)
    joint: dict[frozenset[str], Fraction] = defaultdict(Fraction)
    mix: dict[str, dict[Payee, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    # Events that differ only in when they happened earn alike: group them first, so a
    # period of a million events costs a million additions, not a million credit flows.
    groups: dict[tuple[str, tuple[str, ...], tuple[Any, ...], str | None], int | Fraction] = (
        defaultdict(int)
    )
    for event in events:
        result.counts[event.type] = result.counts.get(event.type, 0) + 1
        if event.type not in weights or weights[event.type] == 0:
            result.unweighted.append(event)
            continue
        groups[(event.type, event.datasets, event.contracts, event.institution)] += event.units
    rests = unit_flows(graph, keep)
    flows: dict[tuple[str, ...], dict[str, Fraction]] = {}
    for (type_, datasets, contracts, institution), units in groups.items():
        worth = weights[type_] * units
        if worth == 0:
            continue
        if datasets not in flows:
            flows[datasets] = _unit_flow(datasets, rests)
        rest = {d: part * worth for d, part in flows[datasets].items()}
        resting: dict[str, Fraction] = defaultdict(Fraction)
        contract_of = {d: (c, v) for d, c, v in contracts}
        for d, amount in rest.items():
            result.datasets[d] = result.datasets.get(d, Fraction(0)) + amount
            origin = publisher.get(d, institution or "")
            resting[origin] += amount
            for payee, part in benefit_split(facts, origin, contract_of.get(d), amount):
                mix[origin][payee] += part
        if not rest:
            origin = institution or ""
            resting[origin] += worth
            mix[origin][Payee(origin, "institution", facts.members.get(origin, origin))] += worth
        for origin, amount in resting.items():
            by_institution[origin] += amount
        joint[frozenset(resting)] += worth
        result.total += worth

    members = [m["origin"] for m in rules["members"]]
    players = sorted(set(members) | set(by_institution))
    result.institutions = _methods(players, members, by_institution, joint, result)
    chosen = result.institutions[rules["method"]]
    for origin, payees in mix.items():
        own = sum(payees.values(), Fraction(0))
        for payee, part in payees.items():
            result.payees[payee] = chosen.get(origin, Fraction(0)) * part / own
    for origin in players:
        if origin not in mix and chosen.get(origin):
            result.payees[Payee(origin, "institution", facts.members.get(origin, origin))] = chosen[
                origin
            ]
    return result


def _unit_flow(
    datasets: tuple[str, ...], rests: dict[Any, dict[Any, Fraction]]
) -> dict[str, Fraction]:
    """Where one unit of credit on ``datasets`` (split equally) comes to rest."""
    here: dict[str, Fraction] = defaultdict(Fraction)
    for d in datasets:
        for place, part in rests.get(d, {d: Fraction(1)}).items():
            here[place] += part / len(datasets)
    return dict(here)


def benefit_split(
    facts: Facts, origin: str, contract: tuple[str, int] | None, amount: Fraction
) -> list[tuple[Payee, Fraction]]:
    """``amount`` resting with ``origin``, divided by the contract's benefit split if it was
    granted under one (the contract's payees are the providing institution's)."""
    own = Payee(origin, "institution", facts.members.get(origin, origin))
    split = facts.splits.get(contract) if contract else None
    if not split:
        return [(own, amount)]
    # The institution's part is its own, whatever the contract calls it ("Data providers").
    return [
        (own if p["payee"] == "institution" else Payee(origin, p["payee"], p["name"]),
         amount * Fraction(p["percent"]) / 100)
        for p in split
    ]  # fmt: skip


def _methods(
    players: list[str],
    members: list[str],
    proportional: dict[str, Fraction],
    joint: dict[frozenset[str], Fraction],
    result: Shares,
) -> dict[str, dict[str, Fraction]]:
    total = result.total

    def worth(coalition: frozenset) -> Fraction:
        return sum((w for group, w in joint.items() if group <= coalition), Fraction(0))

    if len(players) <= EXACT_PLAYERS:
        fair = dict(shapley(players, worth))
    else:
        sampled = shapley(players, worth, method="sampling", samples=SAMPLES, seed=SEED)
        result.standard_error = dict(sampled.standard_error or {})
        fair = {p: Fraction(v) for p, v in sampled.items()}
    return {
        "proportional": {p: proportional.get(p, Fraction(0)) for p in players},
        "shapley": {p: Fraction(fair[p]) for p in players},
        "leave-one-out": dict(leave_one_out(players, worth)),
        "equal": {p: equal_split(members, total).get(p, Fraction(0)) for p in players},
    }


def fixed(value: Fraction | float, places: int = 6) -> str:
    """A figure as a decimal string with ``places`` decimals, rounded half to even: the form
    reports and runs record, so that every reader who recomputes gets the same text."""
    exact = Fraction(value)
    scaled = exact * 10**places
    whole = round(scaled)  # Fraction rounds half to even
    sign = "-" if whole < 0 else ""
    digits = str(abs(whole)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"
