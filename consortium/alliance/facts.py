"""The facts credit is computed from, folded out of verified ledger entries.

This reads entries only — never a node's projection tables — so that anyone holding the
same ledgers (a peer, an auditor, `consortium report verify` with ledger bundles) arrives at
the same facts and therefore the same figures. Each ledger is read up to a checkpoint; the
checkpoints read are part of every report and compensation run.

What is kept is small: per dataset its publisher, publication time, contributors and
sources; per grant its datasets and contracts; per output its grant and kind; costs and
declared effort; contracts' benefit splits; accepted benefit rules; access requests with
their first decision; compensation runs; and, per node, the days on which a person did
something on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class EntryLike(Protocol):
    time: str
    kind: str
    actor: str
    body: dict[str, Any]


@dataclass
class Dataset:
    id: str
    publisher: str
    registered_at: str
    published_at: str | None = None
    contributors: list[dict[str, Any]] = field(default_factory=list)
    derived_from: list[dict[str, Any]] = field(default_factory=list)
    # Every published version's credit facts, from when it was published: a revision must
    # not change the credit of periods already closed.
    history: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=list
    )

    def credit_before(self, end: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(contributors, derived_from) of the last version published before ``end``."""
        found: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for at, contributors, derived_from in self.history:
            if at[:10] < end:
                found = (contributors, derived_from)
        return found

    # A version registered but not yet approved: its credit facts apply once it is.
    pending: dict[str, Any] | None = None


@dataclass
class Grant:
    id: str
    issuer: str
    issued_at: str
    holder_institution: str
    datasets: list[dict[str, Any]]


@dataclass
class Output:
    id: str
    origin: str
    grant: str
    kind: str
    reported_at: str
    datasets: list[str]
    derived_dataset: str | None


@dataclass
class Claim:
    """A recorded cost or declared contribution."""

    id: str
    origin: str
    event_type: str  # "cost.recorded" or "contribution.declared"
    at: str
    units: str
    currency: str | None
    dataset: str | None
    contributor: str | None


@dataclass
class Request:
    id: str
    origin: str
    institution: str
    submitted_at: str
    decided_at: str | None = None
    decision: str | None = None


@dataclass
class Run:
    """A compensation run: what it paid and carried forward, per payee (origin, kind, name)."""

    id: str
    origin: str
    at: str
    start: str
    end: str
    pool: str
    currency: str
    payees: list[dict[str, Any]]


@dataclass
class Facts:
    members: dict[str, str] = field(default_factory=dict)  # origin → institution
    datasets: dict[str, Dataset] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    splits: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    rules: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    rules_accepted: dict[tuple[str, int], str] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    active_days: dict[str, set[str]] = field(default_factory=dict)  # origin → {YYYY-MM-DD}
    runs: list[Run] = field(default_factory=list)

    def rules_in_force(self, at: str) -> tuple[str, int, dict[str, Any]] | None:
        """The benefit rules in force at time ``at`` — the last accepted by then, whichever
        member proposed them (versions are numbered per proposer, so only the time of
        acceptance orders them): (proposer, version, document)."""
        accepted = [(t, key) for key, t in self.rules_accepted.items() if t <= at]
        if not accepted:
            return None
        _, (proposer, version) = max(accepted)
        return proposer, version, self.rules[(proposer, version)]

    def carried(self, currency: str) -> dict[tuple[str, str, str], Decimal]:
        """What the latest run in ``currency`` carried forward, per (origin, kind, name)."""
        for run in reversed(self.runs):
            if run.currency == currency:
                return {
                    (p["origin"], p["kind"], p["name"]): Decimal(p["carried"])
                    for p in run.payees
                    if Decimal(p["carried"]) > 0
                }
        return {}


NODE_ACTOR = "node"
DECISIONS = {
    "access.approved": "approved",
    "access.denied": "denied",
    "access.returned": "returned",
}


def fold(facts: Facts, origin: str, entries: Iterable[EntryLike]) -> Facts:
    """Add one ledger's entries (in order) to ``facts``."""
    signatures: dict[tuple[str, int], set[str]] = {}
    days = facts.active_days.setdefault(origin, set())
    for e in entries:
        b = e.body
        if e.actor != NODE_ACTOR:
            days.add(e.time[:10])
        kind = e.kind
        if kind == "node.genesis":
            facts.members[b["origin"]] = b["name"]
        elif kind == "member.added":
            facts.members.setdefault(b["origin"], b["institution"])
        elif kind in ("dataset.registered", "dataset.revised"):
            _dataset_version(facts, origin, e)
        elif kind == "dataset.approved":
            ds = facts.datasets[b["dataset"]]
            if ds.published_at is None:
                ds.published_at = e.time
            if ds.pending is not None and ds.pending["version"] == b["version"]:
                _credit_facts(ds, ds.pending, e.time)
                ds.pending = None
        elif kind in ("contract.drafted", "contract.revised"):
            doc = b["document"]
            facts.splits[(b["contract"], b["version"])] = doc["benefit_split"]
        elif kind == "grant.issued":
            doc = b["document"]
            facts.grants[b["grant"]] = Grant(
                b["grant"], doc["issuer"], e.time, doc["holder"]["institution"], doc["datasets"]
            )
        elif kind == "output.reported":
            facts.outputs.append(
                Output(
                    b["output"], origin, b["grant"], b["kind"], e.time, list(b["datasets"]),
                    b.get("derived_dataset"),
                )
            )  # fmt: skip
        elif kind == "cost.recorded":
            facts.claims.append(
                Claim(b["cost"], origin, kind, e.time, b["amount"], b["currency"],
                      b.get("dataset"), None)
            )  # fmt: skip
        elif kind == "contribution.declared":
            facts.claims.append(
                Claim(b["contribution"], origin, kind, e.time, b["units"], None,
                      b.get("dataset"), b.get("contributor"))
            )  # fmt: skip
        elif kind == "benefit_rules.proposed":
            doc = b["document"]
            facts.rules[(doc["proposer"], b["version"])] = doc
        elif kind == "benefit_rules.signed":
            key = (origin, b["version"])
            signed = signatures.setdefault(key, set())
            signed.add(b["member"])
            doc = facts.rules.get(key)
            if doc and signed >= {m["origin"] for m in doc["members"]}:
                facts.rules_accepted.setdefault(key, e.time)
        elif kind == "compensation.run":
            period = b["period"]
            facts.runs.append(
                Run(b["run"], origin, e.time, period["start"], period["end"], b["pool"],
                    b["currency"], b["payees"])
            )  # fmt: skip
        elif kind == "access.requested":
            facts.requests[b["request"]] = Request(
                b["request"], origin, b["details"]["institution"], e.time
            )
        elif kind in DECISIONS:
            request = facts.requests[b["request"]]
            if request.decided_at is None:
                request.decided_at, request.decision = e.time, DECISIONS[kind]
    return facts


def _dataset_version(facts: Facts, origin: str, e: EntryLike) -> None:
    b = e.body
    credit = b.get("metadata") or b.get("credit") or {}
    ds = facts.datasets.get(b["dataset"])
    if ds is None:
        ds = facts.datasets[b["dataset"]] = Dataset(
            b["dataset"], b.get("publisher", origin), e.time
        )
    if b["approval_required"]:
        ds.pending = {**credit, "version": b["version"]}
        return
    if ds.published_at is None:
        ds.published_at = e.time
    _credit_facts(ds, credit, e.time)


def _credit_facts(ds: Dataset, credit: dict[str, Any], at: str) -> None:
    ds.contributors = credit.get("contributors", [])
    ds.derived_from = [
        {**s, "publisher": s.get("publisher", ds.publisher)} for s in credit.get("derived_from", [])
    ]
    ds.history.append((at, ds.contributors, ds.derived_from))
