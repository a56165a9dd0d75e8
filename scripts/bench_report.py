"""Benchmark a contribution report at the acceptance size: 10 nodes, 10^6 ledger events.

A report is only worth signing if anyone can check it, so what matters is the time to build
it *and* to verify it from the ledgers' bundles, at the size an alliance reaches in a year.
Every figure is printed next to the limit it should be judged against, measured in the same
run on the same machine:

1. **Verifying the bundles** (`ledgers.bundle_source`, i.e. `verify_bundle`: strict parse,
   hash chain, Merkle roots against every signed checkpoint, every entry's Ed25519
   signature, and every sealed line checked against the digest its entry commits to).
   Nothing may be read from a bundle before it is audited, so a report over a million
   events first costs a million signature checks. The limit is bare Ed25519
   verification (libsodium through PyNaCl) of the same entries' signed messages, one process
   per core as the audit uses: the audit can approach it, never beat it.
2. **Folding and computing** (`ledgers.gather` over the verified sources, then
   `report.body(..., "month")`), timed apart. Folding is one pass over the members' view of
   every entry (the entry joined with its members document, checked against its digest), so
   its limit is a plain pass that reads and parses every entry (`read_entries`, i.e.
   `parse_entry`) and does nothing else. Computing works on the folded facts (a few hundred
   thousand requests, grants, outputs and claims; credit flowing through the derivation
   graph; Shapley over the institutions) for the year and again for each month, so one
   month's `shares.compute` is timed alone too. Computing has no simple limit; it is shown as
   a multiple of the same pass, so that how it grows with the ledgers shows beside reading.
3. **`report.verify` end to end** from the bundles: what an auditor runs. It should cost
   about the sum of the parts above, and it must find no difference (the run fails if it
   does, or if the report is trivial).

The ledgers are synthetic but shaped like a year of a data consortium: each node publishes
datasets (a third of them derived from earlier ones, often other members', with weights),
drafts contracts with benefit splits, takes access requests and decides them, issues grants
under the contracts, and records outputs, costs and declared effort, among other entries the
report does not weigh; node 0 proposes two versions of benefit rules, which every member
signs. Each body is the one the node's command writes, sealed as `events.record` seals it
(protocol §13: people by pseudonym, every non-public class in a salted document the entry
names by digest); entries are built with `make_entry`, signed by a real node key,
hash-chained and checkpointed monthly, and written as `consortium ledger export --for
members` writes them, each followed by its members document. They are generated (one
process per core) into a temporary directory and deleted, unless ``--keep DIR`` keeps them
for the next run.

    python scripts/bench_report.py              # 10 nodes x 100,000 entries
    python scripts/bench_report.py --quick      # 10 nodes x 1,000 entries, about 15 seconds
    python scripts/bench_report.py --keep DIR   # generate into DIR once, reuse it after
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import io
import itertools
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import nacl.bindings
import orjson

# Only light modules here: the audit's worker processes (started from a fork server) run this
# file's top level again, for every bundle, and would otherwise import SQLAlchemy and the rest
# of the application each time before checking an entry. The alliance, bundle and contract
# modules are imported where they are used.
from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Checkpoint, vkey
from consortium.ledger import merkle
from consortium.ledger.entry import GENESIS_PREV, make_entry, signed_message

if TYPE_CHECKING:
    from consortium.alliance.ledgers import Source
    from consortium.registry.keyring import Keyring

T = TypeVar("T")

START, END = "2025-01-01", "2026-01-01"
MONTH = ("2025-06-01", "2025-07-01")  # timed alone: report.body computes 13 periods
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = 3_600_000_000  # microseconds
DAY = 24 * HOUR
YEAR = 365 * DAY
MANIFEST = "bench-report.json"
GENERATOR = 2  # raise when the generated ledgers change, so that kept ones are made anew

INSTITUTIONS = (
    "St Example Hospital",
    "Northern Genomics Institute",
    "Riverside University Medical Centre",
    "Lakeside Children's Hospital",
    "Eastern Cancer Registry",
    "Highland Biobank",
    "Western Cardiology Centre",
    "Coastal Public Health Agency",
    "Central Neuroscience Institute",
    "Southern Rare Disease Network",
)
EXTERNAL = ("University of Elsewhere", "Institut Exemple", "Pharma Example Ltd", "WHO Example")
TOPICS = (
    "Type 2 diabetes cohort",
    "Paediatric asthma registry",
    "Breast cancer biobank",
    "Heart failure admissions",
    "Stroke outcomes",
    "Rare disease registry",
    "Long COVID follow-up",
    "Hip replacement outcomes",
    "Memory clinic cohort",
    "Sepsis ICU time series",
    "Whole-genome sequences",
    "Maternity records",
    "Renal transplant cohort",
    "Depression in primary care",
    "Inflammatory bowel disease",
)
PEOPLE = (
    "Dr Wei Zhang",
    "Ann Curator",
    "Dr Amara Okafor",
    "Jonas Berg",
    "Dr Priya Nair",
    "Lucia Romano",
    "Tomasz Nowak",
    "Dr Sara Haddad",
    "Diabetes nursing team",
    "Data management unit",
    "Imaging core",
    "Biobank staff",
)
ROLES = ("collection", "curation", "analysis", "funding", "infrastructure")
# Each node's staff and their roles (as `add_person` orders them); researchers come on top.
STAFF = {
    "sam": ("steward",),
    "sue": ("steward",),
    "dora": ("steward", "director"),
    "lee": ("lead",),
    "ada": ("admin",),
    "ben": ("steward",),
    "cho": ("steward",),
}
STEWARDS = ("sam", "sue")  # who registers the datasets
WEIGHTS = {
    "dataset.published": "10",
    "grant.issued": "2",
    "output.publication": "5",
    "output.preprint": "2",
    "cost.recorded": "0.001",
    "contribution.declared": "0.5",
}
# (day proposed, event weights): version 2 also weighs software and citations.
RULES = (
    (10, WEIGHTS),
    (170, {**WEIGHTS, "output.software": "3", "output.citation": "0.5"}),
)

# An entry before signing: (microseconds since EPOCH, order of creation, kind, actor, body).
Event = tuple[int, int, str, str, dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    nodes: int
    entries: int  # per node
    rounds: int


FULL = Sizes(nodes=10, entries=100_000, rounds=1)
QUICK = Sizes(nodes=10, entries=1_000, rounds=1)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def day_of(at: int) -> date:
    return (EPOCH + timedelta(microseconds=at)).date()


def add(events: list[Event], at: int, kind: str, actor: str, body: dict[str, Any]) -> None:
    """Queue an entry; entries at the same moment keep the order they were made in."""
    events.append((at, len(events), kind, actor, body))


# --- the consortium: members, datasets, contracts, benefit rules --------------------------------


@dataclass
class Member:
    index: int
    name: str
    origin: str
    seed: bytes

    @property
    def key(self) -> NodeKey:
        return NodeKey.from_seed(self.seed)


@dataclass
class Plan:
    """What one node's generator needs: its setup entries and its own datasets."""

    member: Member
    members: list[Member]
    entries: int
    seed: int
    events: list[Event] = field(default_factory=list)
    datasets: list[tuple[int, str, str]] = field(default_factory=list)  # (published, id, contract)
    restricted: set[str] = field(default_factory=set)  # datasets whose metadata is sealed

    @property
    def researchers(self) -> int:
        """People who ask this node for data: 2,000 at full size, fewer for a small ledger
        (each is a `person.added` entry before their first request)."""
        return min(2000, max(10, self.entries // 50))


def researcher(n: int) -> str:
    return f"res{n:04d}"


def ident(prefix: str, node: int, n: int) -> str:
    """A node-unique id of the usual shape: a prefix, then ten characters."""
    return f"{prefix}-{node:02d}{n:08d}"


def members_of(count: int, seed: int) -> list[Member]:
    from consortium.node.config import default_origin

    names = [*INSTITUTIONS, *(f"Member Institution {i}" for i in range(len(INSTITUTIONS), count))]
    return [
        Member(
            i,
            names[i],
            default_origin(names[i]),
            hashlib.sha256(f"bench-report/{seed}/{i}".encode()).digest(),
        )
        for i in range(count)
    ]


def _credit(rng: random.Random, derived: list[dict[str, Any]]) -> dict[str, Any]:
    names = rng.sample(PEOPLE, rng.randint(1, 4))
    contributors = [
        {"name": n, "role": rng.choice(ROLES), "weight": str(rng.randint(1, 3))} for n in names
    ]
    return {"contributors": contributors, "derived_from": derived}


def _dataset_body(
    rng: random.Random, member: Member, ds: str, credit: dict[str, Any], approval: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A `dataset.registered` body as `register_dataset` writes it, and its metadata.

    Public metadata is in clear; any other tier's is sealed on the node, which the entry
    names by digest, with the credit facts beside it for the members."""
    topic = rng.choice(TOPICS)
    tier = "public-metadata" if rng.random() < 0.5 else "restricted"
    metadata = {
        "title": f"{topic} ({member.name})",
        "description": f"{topic} held by {member.name}, pseudonymised, with follow-up.",
        "keywords": topic.lower().split()[:3],
        "creators": [{"name": credit["contributors"][0]["name"], "affiliation": member.name}],
        **credit,
        "format": "text/csv",
        "conforms_to": "OMOP CDM 5.4",
        "record_count": rng.randint(500, 2_000_000),
        "temporal_coverage": {"start": "2010-01-01", "end": "2024-12-31"},
        "location": "Research data warehouse, secure enclave",
        "sensitivity": tier,
        "consent": {"legal_basis": "consent", "secondary_use_consent": True},
        "deidentification": {"method": "pseudonymised", "description": "keyed hash of MRN"},
        "duo": {"permissions": ["HMB"], "modifiers": [{"code": "IRB"}, {"code": "PUB"}]},
    }
    body: dict[str, Any] = {
        "dataset": ds,
        "version": 1,
        "sensitivity": tier,
        "approval_required": approval,
    }
    if tier == "public-metadata":
        body["metadata"] = metadata
    else:
        body["metadata_sealed"] = b64encode(rng.randbytes(32))  # the digest of the stored copy
        body["credit"] = credit
    body["publisher"] = member.origin
    return body, metadata


def _split(rng: random.Random, member: Member) -> list[dict[str, str]]:
    """A benefit split: the institution, often a team, sometimes a patient fund."""
    payees = [("institution", member.name)]
    if rng.random() < 0.7:
        payees.append(("contributor", rng.choice(PEOPLE)))
    if rng.random() < 0.5:
        payees.append(("fund", "Patient benefit fund"))
    cuts = sorted(rng.sample(range(5, 100, 5), len(payees) - 1))
    percents = [b - a for a, b in itertools.pairwise([0, *cuts, 100])]
    return [
        {"payee": kind, "name": name, "percent": str(p)}
        for (kind, name), p in zip(payees, percents, strict=True)
    ]


def _setup(plan: Plan) -> None:
    """Genesis (as `init_node` writes it), the node's staff and researchers (each with a
    pseudonym, as `add_person` gives them) and the other members."""
    from consortium.auth.roles import ROLES
    from consortium.events import new_id

    m = plan.member
    public_key = m.key.public_key
    genesis = {
        "name": m.name,
        "origin": m.origin,
        "public_key": b64encode(public_key),
        "vkey": vkey(m.origin, public_key),
    }
    add(plan.events, 60_000_000, "node.genesis", "node", genesis)
    people = [*STAFF.items(), *((researcher(n), ("researcher",)) for n in range(plan.researchers))]
    for person, roles in people:
        body = {
            "username": person,
            "display_name": person.title(),
            "roles": [r for r in ROLES if r in roles],
            "person": new_id("p"),
        }
        add(plan.events, 120_000_000, "person.added", "operator", body)
    for other in plan.members:
        if other is not m:
            pk = other.key.public_key
            body = {
                "institution": other.name,
                "origin": other.origin,
                "public_key": b64encode(pk),
                "vkey": vkey(other.origin, pk),
            }
            add(plan.events, HOUR, "member.added", "ada", body)


def _datasets(
    rng: random.Random, plans: list[Plan]
) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
    """Every node's datasets, registered in time order so that a derived dataset names
    earlier ones (its own node's or another member's); returns each contract's datasets,
    with their metadata."""
    members = [p.member for p in plans]
    per_node = max(6, plans[0].entries // 400)
    registered = []
    for m in members:
        for n in range(per_node):
            early = n == 0 or rng.random() < 0.4  # an initial catalogue, then a steady trickle
            at = int((rng.uniform(0.5, 30) if early else rng.uniform(30, 330)) * DAY)
            registered.append((at, m.index, ident("ds", m.index, n)))
    registered.sort()
    known: list[tuple[str, str]] = []  # (dataset, publisher)
    contracts: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for at, node, ds in registered:
        plan, m = plans[node], members[node]
        derived = []
        if known and rng.random() < 0.35:
            for source, publisher in rng.sample(known, min(len(known), rng.randint(1, 3))):
                link = {"dataset": source, "weight": str(rng.randint(1, 5))}
                if publisher != m.origin:
                    link["publisher"] = publisher
                derived.append(link)
        approval = rng.random() < 0.3
        body, metadata = _dataset_body(rng, m, ds, _credit(rng, derived), approval)
        add(plan.events, at, "dataset.registered", rng.choice(STEWARDS), body)
        if "metadata_sealed" in body:
            plan.restricted.add(ds)
        published = at
        if approval:
            published = at + int(rng.uniform(1, 10) * DAY)
            add(plan.events, published, "dataset.approved", "dora", {"dataset": ds, "version": 1})
        contract = ident("ctr", node, rng.randrange(max(2, per_node // 10)))
        contracts.setdefault(contract, []).append((at, ds, metadata))
        plan.datasets.append((published, ds, contract))
        known.append((ds, m.origin))
    for plan in plans:
        plan.datasets.sort()
    return contracts


def _contracts(
    rng: random.Random,
    plans: list[Plan],
    contracts: dict[str, list[tuple[int, str, dict[str, Any]]]],
) -> None:
    """Each contract drafted (with its benefit split), proposed and signed by its one party,
    which puts it in force, before its first dataset."""
    from consortium.contracts.coverage import described
    from consortium.contracts.signing import document_digest, sign_document
    from consortium.contracts.templates import load_template

    template = load_template("non-commercial-health-research")
    for contract, covered in sorted(contracts.items()):
        plan = plans[int(contract[4:6])]
        m = plan.member
        party = {
            "institution": m.name,
            "origin": m.origin,
            "public_key": b64encode(m.key.public_key),
            "role": "provider",
        }
        document = template.fill(
            {
                "title": f"Data sharing under {contract}, {m.name}",
                "parties": [party],
                "datasets": [
                    {"id": ds, "version": 1, "provider": m.origin, **described(metadata)}
                    for _, ds, metadata in covered
                ],
                "term": {"start": START, "end": "2027-12-31", "max_grant_months": 12},
                "benefit_split": _split(rng, m),
            }
        )
        document.update({"id": contract, "version": 1, "amends": None, "template": template.name})
        at = max(2 * HOUR, min(t for t, _, _ in covered) - HOUR)
        body = {"contract": contract, "version": 1, "document": document}
        add(plan.events, at, "contract.drafted", "sam", body)
        digest = document_digest(document)
        proposed = {"contract": contract, "version": 1, "digest": digest}
        add(plan.events, at + 1, "contract.proposed", "sam", proposed)
        signed = {
            **proposed,
            "party": m.origin,
            "signature": sign_document(m.key, document),
        }
        add(plan.events, at + 2, "contract.signed", "sam", signed)


def _rules(lead: Plan) -> None:
    """Benefit rules proposed on the lead node, and every member's signature recorded there
    (the version is accepted once all have signed)."""
    from consortium.contracts.benefit_rules import DOCUMENT_TYPE
    from consortium.contracts.signing import document_digest, sign_document

    members = sorted(lead.members, key=lambda m: m.origin)
    roster = [
        {"origin": m.origin, "institution": m.name, "public_key": b64encode(m.key.public_key)}
        for m in members
    ]
    for version, (day, weights) in enumerate(RULES, start=1):
        document = {
            "type": DOCUMENT_TYPE,
            "proposer": lead.member.origin,
            "version": version,
            "event_weights": dict(sorted(weights.items())),
            "method": "shapley",
            "derived_keep": "0.5",
            "members": roster,
            "notes": "",
        }
        at = day * DAY
        body = {"version": version, "document": document}
        add(lead.events, at, "benefit_rules.proposed", "lee", body)
        for i, m in enumerate(members, start=1):
            signed = {
                "version": version,
                "digest": document_digest(document),
                "member": m.origin,
                "signature": sign_document(m.key, document),
            }
            add(lead.events, at + i * DAY, "benefit_rules.signed", "lee", signed)


def plan_consortium(sizes: Sizes, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    members = members_of(sizes.nodes, seed)
    plans = [Plan(m, members, sizes.entries, seed * 1000 + m.index) for m in members]
    for plan in plans:
        _setup(plan)
    _contracts(rng, plans, _datasets(rng, plans))
    _rules(plans[0])
    return plans


# --- one node's year of activity ----------------------------------------------------------------


class Activity:
    """A node's year after setup: access requests and decisions, grants, outputs, costs,
    declared effort, and entries the report does not weigh, up to the node's size."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.events = list(plan.events)
        self.grants: list[tuple[int, str, str]] = []  # (issued, id, holder)
        self.published = [p for p, _, _ in plan.datasets]
        # A few datasets draw most requests.
        weights = (self.rng.paretovariate(1.2) for _ in plan.datasets)
        self.popularity = list(itertools.accumulate(weights))
        self.first = self.published[0] + DAY
        self.key = plan.member.key

    def pick(self, at: int, count: int = 1) -> list[tuple[int, str, str]]:
        """Up to ``count`` of the node's datasets published before ``at``, popular ones first."""
        available = bisect.bisect_right(self.published, at)
        top = self.popularity[available - 1]
        found = {bisect.bisect_left(self.popularity, self.rng.random() * top) for _ in range(count)}
        return [self.plan.datasets[i] for i in sorted(found)]

    def when(self) -> int:
        return self.rng.randrange(self.first, YEAR)

    def run(self) -> list[Event]:
        n = self.plan.entries
        for r in range(int(0.16 * n)):
            self.request(r)
        for c in range(int(0.1 * n)):
            self.cost(c)
        for c in range(int(0.1 * n)):
            self.declaration(c)
        filler = n - len(self.events)
        if filler < 0:
            raise SystemExit(f"{self.plan.member.origin}: {-filler} entries too many")
        for _ in range(filler):
            self.other()
        return sorted(self.events, key=lambda e: e[:2])

    def request(self, r: int) -> None:
        rng, m = self.rng, self.plan.member
        at = self.when()
        chosen = self.pick(at, rng.choices((1, 2, 3), (70, 20, 10))[0])
        request, asker = ident("req", m.index, r), researcher(rng.randrange(self.plan.researchers))
        others = [o.name for o in self.plan.members if o is not m] or list(EXTERNAL)
        institution = rng.choice(others) if rng.random() < 0.8 else rng.choice(EXTERNAL)
        datasets = [
            {"id": ds, "version": 1, "contract": c, "contract_version": 1} for _, ds, c in chosen
        ]
        details = {
            "project_title": f"{rng.choice(TOPICS)}: outcomes study {r}",
            "purposes": [{"code": "HMB"}],
            "purpose_text": "Describe outcomes over five years.",
            "investigator": f"Dr {asker.title()}",
            "institution": institution,
            "ethics_reference": f"REC-2025-{r:05d}",
            "duration_months": 12,
            "commercial": False,
        }
        allowed = {"term": "purpose", "verdict": "allowed", "reason": "HMB is permitted"}
        body = {
            "request": request,
            "details": details,
            "datasets": datasets,
            "findings": {d["id"]: [allowed] for d in datasets},
            "manual_review": False,
            "second_approval": False,
            "review_due": day_of(at + 14 * DAY).isoformat(),
        }
        add(self.events, at, "access.requested", asker, body)
        decided = at + int(rng.lognormvariate(1.5, 0.8) * DAY)  # median 4.5 days
        if decided + 1000 >= YEAR:
            return  # still open at the end of the year
        outcome = rng.choices(("approved", "denied", "returned"), (82, 10, 8))[0]
        if outcome != "approved":
            body = {"request": request, "reason": "outside the contract's purposes"}
            add(self.events, decided, f"access.{outcome}", "dora", body)
            return
        body = {"request": request, "second_approval_needed": False}
        add(self.events, decided, "access.approved", "dora", body)
        self.grant(request, decided + 1000, asker, details, datasets)

    def grant(
        self,
        request: str,
        at: int,
        holder: str,
        details: dict[str, Any],
        datasets: list[dict[str, Any]],
    ) -> None:
        from consortium.contracts.signing import sign_document

        rng = self.rng
        grant = request.replace("req-", "gr-", 1)
        document = {
            "type": "consortium.grant/v1",
            "id": grant,
            "issuer": self.plan.member.origin,
            "request": request,
            "holder": {
                "username": holder,
                "investigator": details["investigator"],
                "institution": details["institution"],
            },
            "project_title": details["project_title"],
            "purposes": details["purposes"],
            "commercial": False,
            "datasets": datasets,
            "conditions": [],
            "valid_from": day_of(at).isoformat(),
            "valid_until": day_of(at + YEAR).isoformat(),
        }
        signature = sign_document(self.key, document)
        body = {"grant": grant, "document": document, "signature": signature}
        add(self.events, at, "grant.issued", "dora", body)
        self.grants.append((at, grant, holder))
        for o in range(rng.choices((0, 1, 2, 3), (40, 35, 15, 10))[0]):
            reported = at + int(rng.uniform(20, 300) * DAY)
            if reported >= YEAR:
                continue
            kinds = ("publication", "preprint", "software", "citation")
            kind = rng.choices(kinds, (35, 25, 15, 25))[0]
            body = {
                "output": f"out-{grant[3:]}{o}",
                "grant": grant,
                "datasets": [d["id"] for d in datasets],
                "kind": kind,
                "title": f"{details['project_title']} ({kind} {o + 1})",
            }
            if kind in ("publication", "preprint"):
                body["doi"] = f"10.5555/{grant}.{o}"
            else:
                body["url"] = f"https://example.org/{grant}/{o}"
            add(self.events, reported, "output.reported", holder, body)

    def cost(self, c: int) -> None:
        rng, at = self.rng, self.when()
        body = {
            "cost": ident("cost", self.plan.member.index, c),
            "description": "Hosting and curation",
            "amount": f"{rng.randint(50, 5000)}.{rng.randrange(100):02d}",
            "currency": "EUR",
        }
        if rng.random() < 0.6:
            body["dataset"] = self.pick(at)[0][1]
        add(self.events, at, "cost.recorded", "sam", body)

    def declaration(self, c: int) -> None:
        rng, at = self.rng, self.when()
        body = {
            "contribution": ident("con", self.plan.member.index, c),
            "kind": rng.choice(("curation", "expertise", "infrastructure", "other")),
            "units": str(rng.randint(1, 20)),
            "description": "Curation of new follow-up data",
        }
        if rng.random() < 0.5:
            body["contributor"] = rng.choice(PEOPLE)
        if rng.random() < 0.6:
            body["dataset"] = self.pick(at)[0][1]
        add(self.events, at, "contribution.declared", "sue", body)

    def other(self) -> None:
        """Reminders, deletion attestations and quality profiles: read, not weighed."""
        rng = self.rng
        roll = rng.random()
        if self.grants and roll < 0.6:
            issued, grant, holder = self.grants[rng.randrange(len(self.grants))]
            at = rng.randrange(issued + 1, YEAR)
            if roll < 0.45:
                body = {"grant": grant, "due": day_of(issued + 180 * DAY).isoformat()}
                add(self.events, at, "grant.publication_reminder", "node", body)
            else:
                body = {"grant": grant, "statement": "All copies were deleted."}
                add(self.events, at, "grant.deletion_attested", holder, body)
            return
        at = self.when()
        profile = {
            "rows": rng.randrange(10**6),
            "columns": rng.randrange(5, 80),
            "sha256": rng.randbytes(32).hex(),
            "identifiers_found": 0,
        }
        ds = self.pick(at)[0][1]
        body: dict[str, Any] = {"dataset": ds, "version": 1}
        # As `attach_profile` writes it: sealed on the node unless the metadata is public.
        if ds in self.plan.restricted:
            body["profile_sealed"] = b64encode(rng.randbytes(32))
        else:
            body["profile"] = profile
        add(self.events, at, "dataset.profiled", "sam", body)


def seal_entry(
    kind: str, actor: str, body: dict[str, Any], pseudonyms: dict[str, str]
) -> tuple[str, dict[str, Any], bytes | None]:
    """What a node signs for ``body``, as `events.record` seals it (protocol §13): usernames
    as pseudonyms, each non-public class moved into a salted document that the clear body
    names by digest; and the members document's exact bytes, which a bundle exported for
    members carries after the entry (None if the entry has none).

    A body member the disclosure table does not class raises, as it would on a node: the
    generated bodies must be the ones the commands write.
    """
    from consortium.disclosure.sealing import (
        SEALED,
        person_paths,
        seal_document,
        split,
        substitute,
    )
    from consortium.disclosure.store import SYSTEM_ACTORS, parse_copy
    from consortium.disclosure.table import MEMBERS, SEALED_CLASSES

    named = parse_copy(body)
    substitute(named, person_paths(kind), pseudonyms.__getitem__)
    clear, groups = split(kind, named)
    sealed = {
        cls: seal_document(groups[cls], b64encode(secrets.token_bytes(16)))
        for cls in SEALED_CLASSES
        if cls in groups
    }
    if sealed:
        clear[SEALED] = {cls: digest for cls, (digest, _) in sealed.items()}
    signer = actor if actor in SYSTEM_ACTORS else pseudonyms[actor]
    return signer, clear, sealed[MEMBERS][1] if MEMBERS in sealed else None


def write_node(plan: Plan, path: Path) -> tuple[str, int, float]:
    """Seal, sign, chain and checkpoint (at every month's end) a node's entries; write the
    bundle as `consortium ledger export --for members` does: each entry followed by its
    members document on a sealed line."""
    from consortium.disclosure.table import MEMBERS
    from consortium.ledger.bundle import FORMAT, VERSION

    started = time.perf_counter()
    events = Activity(plan).run()
    key, origin = plan.member.key, plan.member.origin
    tree = merkle.RootAccumulator()
    prev = GENESIS_PREV
    lines: list[bytes] = []
    size = 0
    checkpoints: list[str] = []
    pseudonyms: dict[str, str] = {}  # username -> pseudonym, as the node's person table
    month = None
    for index, (at, _, kind, actor, body) in enumerate(events):
        moment = EPOCH + timedelta(microseconds=at)
        if month is not None and moment.month != month:
            checkpoints.append(Checkpoint(origin, index, tree.root()).sign(key))
        month = moment.month
        if kind == "person.added":
            pseudonyms[body["username"]] = body["person"]
        signer, clear, members = seal_entry(kind, actor, body, pseudonyms)
        data = make_entry(
            index=index, kind=kind, actor=signer, body=clear, prev=prev, key=key, time=moment
        )
        prev = merkle.leaf_hash(data)
        tree.append(prev)
        lines.append(data)
        if members is not None:
            lines.append(orjson.dumps({"sealed": members.decode()}))
        size += 1
    checkpoints.append(Checkpoint(origin, size, tree.root()).sign(key))
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": plan.member.name,
        "origin": origin,
        "public_key": b64encode(key.public_key),
        "vkey": vkey(origin, key.public_key),
        "size": size,
        "exported_at": datetime.now(UTC).isoformat(),
        "disclosure": MEMBERS,
    }
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(orjson.dumps(header) + b"\n")
        out.write(orjson.dumps({"checkpoints": checkpoints}) + b"\n")
        out.write(b"\n".join(lines) + b"\n")
    os.replace(partial, path)
    return origin, size, time.perf_counter() - started


def bundles(sizes: Sizes, seed: int, folder: Path) -> list[Path]:
    """The nodes' bundles in ``folder``, reused if an earlier run made them the same way."""
    manifest = folder / MANIFEST
    wanted = {"generator": GENERATOR, "nodes": sizes.nodes, "entries": sizes.entries, "seed": seed}
    paths = [folder / f"node-{i:02d}.jsonl" for i in range(sizes.nodes)]
    made = manifest.exists() and orjson.loads(manifest.read_bytes()) == wanted
    if made and all(p.exists() for p in paths):
        print(f"reusing the {sizes.nodes} bundles made by an earlier run")
        return paths
    manifest.unlink(missing_ok=True)
    started = time.perf_counter()
    plans = plan_consortium(sizes, seed)
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for origin, size, seconds in pool.map(write_node, plans, paths):
            print(f"  generated {origin}: {size:,} entries in {seconds:.1f} s", flush=True)
    manifest.write_bytes(orjson.dumps(wanted))
    print(
        f"generated {sizes.nodes * sizes.entries:,} entries in "
        f"{time.perf_counter() - started:.1f} s (not measured)"
    )
    return paths


# --- 1. verifying the bundles -------------------------------------------------------------------


def _raw_verify(path: Path) -> tuple[int, float]:
    """Seconds to check a bundle's entry signatures with bare libsodium; the signed messages
    are cut out of the entries first, outside the clock."""
    from consortium.ledger.bundle import SEALED_LINE, read_header

    public_key = read_header(path).public_key
    signed = []
    with open(path, "rb") as fh:
        fh.readline()
        fh.readline()
        for line in fh:
            if line.startswith(SEALED_LINE):
                continue
            data = line.rstrip(b"\n")
            start = data.rfind(b',"sig":"') + 8
            sig = base64.b64decode(data[start : data.index(b'"', start)])
            signed.append(sig + signed_message(data))
    verify = nacl.bindings.crypto_sign_open
    started = time.perf_counter()
    for message in signed:
        verify(message, public_key)
    return len(signed), time.perf_counter() - started


def raw_verify_rate(paths: list[Path]) -> float:
    """Signatures per second with one process per core, every core busy as in the audit: all
    the entries over the seconds each core spent verifying."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        done = list(pool.map(_raw_verify, paths))
    return sum(n for n, _ in done) / (sum(s for _, s in done) / cores)


def pinned(paths: list[Path]) -> Keyring:
    """The keys of the nodes whose bundles this script wrote itself: what an auditor would pin
    after comparing them with each node (a bundle's own header is never trusted otherwise)."""
    from consortium.ledger.bundle import read_header
    from consortium.registry.keyring import Keyring

    return Keyring.pinned(read_header(p).header["vkey"] for p in paths)


def members_documents(paths: list[Path]) -> int:
    """The members documents the bundles carry, once it is checked that they were exported for
    members: a report timed over public bundles would not be the one a member computes."""
    from consortium.disclosure.table import MEMBERS
    from consortium.ledger.bundle import SEALED_LINE, read_header

    count = 0
    for path in paths:
        if read_header(path).header.get("disclosure") != MEMBERS:
            raise SystemExit(f"{path.name} was not exported for members: generate it anew")
        with open(path, "rb") as fh:
            count += sum(1 for line in fh if line.startswith(SEALED_LINE))
    return count


def bench_verify(paths: list[Path], total: int, rounds: int) -> tuple[list[Source], float]:
    from consortium.alliance import ledgers

    keys = pinned(paths)

    print(
        f"\n## 1. verifying {len(paths)} bundles for members: {total:,} entries and "
        f"{members_documents(paths):,} members documents"
    )
    audits, raws, ratios = [], [], []
    sources: list[Source] = []
    for _ in range(rounds):
        # Alternated, one after the other: on a shared machine the speed of a core drifts.
        seconds, sources = timed(
            lambda: [
                ledgers.bundle_source(p, trusted_vkey=keys.vkey(ledgers.bundle_origin(p)))
                for p in paths
            ]
        )
        audits.append(seconds)
        raws.append(raw_verify_rate(paths))
        ratios.append(total / seconds / raws[-1])
        print(
            f"  round: audit {total / seconds:,.0f}/s, raw Ed25519 {raws[-1]:,.0f}/s, "
            f"ratio {ratios[-1]:.2f}"
        )
    audit, limit = statistics.median(audits), statistics.median(raws)
    print(f"{'':36} {'seconds':>8} {'entries/s':>10} {'÷ limit':>8}")
    print(
        f"{'bundle_source (the full audit)':36} {audit:>8.1f} {total / audit:>10,.0f} "
        f"{statistics.median(ratios):>8.2f}"
    )
    print(f"{'raw Ed25519 verify (limit)':36} {total / limit:>8.1f} {limit:>10,.0f} {1:>8.2f}")
    print(
        f"(the limit: libsodium's crypto_sign_open over the same {total:,} signed messages, "
        f"one process per core. Medians of {rounds} round{'s' if rounds > 1 else ''}; "
        "÷ limit is the median of the rounds' ratios)"
    )
    return sources, audit


# --- 2. folding and computing --------------------------------------------------------------------


def parse_pass(paths: list[Path], sizes: list[int]) -> int:
    """Read and parse every entry, and do nothing with it: the limit for folding."""
    from consortium.ledger.bundle import read_entries

    count = 0
    for path, size in zip(paths, sizes, strict=True):
        for _ in read_entries(path, size):
            count += 1
    return count


def bench_compute(
    paths: list[Path], sources: list[Source], total: int
) -> tuple[dict[str, Any], float, float]:
    from consortium.alliance import ledgers, report, shares

    print(f"\n## 2. folding {total:,} entries and computing the report")
    print(f"{'':36} {'seconds':>8} {'entries/s':>10} {'÷ parse pass':>13}")

    def row(name: str, seconds: float) -> None:
        print(f"{name:36} {seconds:>8.1f} {total / seconds:>10,.0f} {seconds / parse:>13.2f}")

    parse, parsed = timed(lambda: parse_pass(paths, [s.cut.size for s in sources]))
    if parsed != total:
        raise SystemExit(f"the bundles hold {parsed:,} entries, not {total:,}")
    row("read + parse every entry (limit)", parse)
    gather, (facts, cuts) = timed(lambda: ledgers.gather(sources))
    row("ledgers.gather (read, parse, fold)", gather)
    in_force = facts.rules_in_force(END)
    if in_force is None:
        raise SystemExit("no benefit rules in force: the generated ledgers are wrong")
    month, _ = timed(lambda: shares.compute(facts, in_force[2], *MONTH))
    row(f"shares.compute, one month ({MONTH[0][:7]})", month)
    body, content = timed(lambda: report.body(facts, cuts, START, END, "month"))
    row("report.body (the year, 12 months)", body)
    row("gather + body", gather + body)
    return content, gather, body


# --- 3. report.verify ----------------------------------------------------------------------------


def headline(content: dict[str, Any], total: int) -> list[str]:
    """Print what the report holds, so that it is evident it is not trivial; return the
    reasons it would be."""
    s = content["summary"]
    rules = content["rules"]
    events = sum(s["totals"]["events"].values())
    print(
        f"\nreport {START} to {END}, rules v{rules['version']} ({rules['method']}): "
        f"worth {float(s['totals']['worth']):,.2f} from {events:,} credit events in "
        f"{total:,} entries; {len(s['institutions'])} institutions, "
        f"{len(s['datasets']):,} datasets, {len(s['contributors']):,} contributors, "
        f"{len(s['payees'])} payees; {s['approvals']['decided']:,} access decisions, "
        f"{len(s['uncredited']):,} uncredited items, {len(content['trends'])} monthly trends; "
        f"{len(canonical_bytes(content)) / 1e6:.1f} MB as canonical JSON"
    )
    top = sorted(s["institutions"], key=lambda i: -float(i["share"]))[:3]
    print("largest shares: " + ", ".join(f"{i['institution']} {i['share']}%" for i in top))
    trivial = []
    if float(s["totals"]["worth"]) <= 0:
        trivial.append("the report is worth nothing")
    if len(s["institutions"]) < len(content["checkpoints"]):
        trivial.append("an institution whose ledger was read is missing")
    if not (s["datasets"] and s["payees"] and s["contributors"] and s["approvals"]["decided"]):
        trivial.append("no datasets, payees, contributors or access decisions")
    return trivial


def bench_verify_report(
    signed: dict[str, Any], paths: list[Path], parts: tuple[float, float, float]
) -> list[str]:
    from consortium.alliance import report

    print("\n## 3. report.verify from the bundles")
    seconds, found = timed(lambda: report.verify(signed, paths, keyring=pinned(paths)))
    audit, gather, body = parts
    print(
        f"report.verify: {seconds:.1f} s; the parts above add up to {sum(parts):.1f} s "
        f"(audit {audit:.1f} + gather {gather:.1f} + body {body:.1f}), "
        f"ratio {seconds / sum(parts):.2f}"
    )
    print(f"differences found: {len(found)}")
    return found


def main(argv: list[str] | None = None) -> int:
    from consortium.alliance import report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 nodes x 1,000 entries")
    parser.add_argument("--nodes", type=int, help="number of nodes (10)")
    parser.add_argument("--entries", type=int, help="entries per node (100,000)")
    parser.add_argument("--rounds", type=int, help="repeats of the verify timings (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="make the bundles here, keep and reuse them")
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a long run shows each figure as it comes
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        nodes=args.nodes or base.nodes,
        entries=args.entries or base.entries,
        rounds=args.rounds or base.rounds,
    )
    total = sizes.nodes * sizes.entries
    print(
        f"# consortium report benchmark{' (--quick)' if args.quick else ''}: "
        f"{sizes.nodes} nodes x {sizes.entries:,} entries = {total:,}; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    started = time.perf_counter()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        paths = bundles(sizes, args.seed, folder)
        sources, audit = bench_verify(paths, total, sizes.rounds)
        content, gather, body = bench_compute(paths, sources, total)
        problems = headline(content, total)
        lead = members_of(sizes.nodes, args.seed)[0]
        signed = report.sign(content, lead.key, lead.origin)
        found = bench_verify_report(signed, paths, (audit, gather, body))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    for line in [*found[:10], *problems]:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if found or problems else 0


if __name__ == "__main__":
    sys.exit(main())
