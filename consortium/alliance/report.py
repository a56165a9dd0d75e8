"""Contribution reports: what each institution, dataset and contributor put in and got back.

A report is a JSON document computed from facts alone (see `consortium.alliance.facts`), so it
is reproducible: it names the benefit rules it applied and the checkpoint of every ledger it
read, and `verify` recomputes every figure from bundles of those ledgers. The node that built
it signs it with its key, so a copy passed around can be traced to its author.

Figures are decimal strings with fixed decimals (credit 6, percentages 2, days 2) produced by
one function, so a verifier's recomputation matches to the character, not to a tolerance.

What a period's figures hold:

- ``totals``: events by type and their worth under the rules;
- ``institutions``: per member, datasets published, grants issued on its node, outputs from
  them, costs and declared effort, credit by every method, its share under the rules'
  method, and what compensation runs within the period paid it;
- ``datasets``: grants, outputs and credit per dataset;
- ``contributors``: a dataset's credit divided among the people its metadata names, by their
  weights, and effort declared for a named person or team — recognition, apart from money;
- ``payees``: credit by the contracts' benefit splits, which compensation follows, and what
  runs within the period paid each payee;
- ``participation``: how many members contributed, and on how many days each node whose
  ledger was read had someone act on it;
- ``approvals``: days from request to first decision, and requests still open at the end;
- ``uncredited``: reuse that earned no credit — grants of the period with no output reported
  by its end, and events the rules give no weight.

A report over a long period adds ``trends``: the same credit, per month, quarter or year.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from marshmallow import validate

from consortium.alliance.compensation import READERS
from consortium.alliance.contributions import PeriodSchema
from consortium.alliance.facts import Facts
from consortium.alliance.ledgers import (
    Cut,
    LedgerReadError,
    Source,
    gather,
    member_bundles,
    own_source,
)
from consortium.alliance.recompute import differences, named_ledgers
from consortium.alliance.shares import Shares, compute, fixed, in_period, publishers
from consortium.auth.roles import Actor
from consortium.contracts.benefit_rules import METHODS
from consortium.contracts.signing import document_digest, sign_document
from consortium.credit import CreditError
from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import NodeKey, b64decode, b64encode, verify_signature
from consortium.errors import Conflict, Invalid
from consortium.ledger.audit import Progress
from consortium.ledger.log import Ledger
from consortium.registry.keyring import Keyring
from consortium.text import Text

REPORT_TYPE = "consortium.contribution-report/v1"
FORMATS = ("json", "csv")
INTERVALS = ("month", "quarter", "year")
UNSIGNED = ("generated_at", "signer", "signature")


class ReportError(ValueError):
    """A report that cannot be built or checked as asked, with the reason in one line."""


def _percent(part: Fraction, whole: Fraction) -> str:
    return fixed(100 * part / whole, 2) if whole else fixed(0, 2)


def sub_periods(start: str, end: str, interval: str) -> list[tuple[str, str]]:
    """[start, end) cut at calendar month, quarter or year boundaries."""
    months = {"month": 1, "quarter": 3, "year": 12}[interval]
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    cuts, at = [], first
    while at < last:
        index = (at.year * 12 + at.month - 1) // months * months + months
        boundary = date(index // 12, index % 12 + 1, 1)
        nxt = min(boundary, last)
        cuts.append((at.isoformat(), nxt.isoformat()))
        at = nxt
    return cuts


def _shares(facts: Facts, rules: dict[str, Any], start: str, end: str) -> Shares:
    try:
        return compute(facts, rules, start, end)
    except CreditError as exc:
        raise ReportError(str(exc)) from exc


def figures(facts: Facts, rules: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    """Every figure of one period; see the module docstring."""
    shares = _shares(facts, rules, start, end)
    method = rules["method"]
    runs = [r for r in facts.runs if start <= r.start and r.end <= end]
    return {
        "period": {"start": start, "end": end},
        "totals": {
            "worth": fixed(shares.total),
            "events": dict(sorted(shares.counts.items())),
        },
        "institutions": _institutions(facts, shares, method, runs, start, end),
        "datasets": _datasets(facts, shares, start, end),
        "contributors": _contributors(facts, shares, rules, start, end),
        "payees": _payees(shares, runs),
        "participation": _participation(facts, shares, start, end),
        "approvals": _approvals(facts, start, end),
        "uncredited": _uncredited(facts, shares, start, end),
        "compensation": [
            {
                "run": r.id,
                "period": {"start": r.start, "end": r.end},
                "pool": r.pool,
                "currency": r.currency,
                "paid": str(sum((Decimal(p["paid"]) for p in r.payees), Decimal(0))),
            }
            for r in runs
        ],
        "standard_error": (
            {o: fixed(e) for o, e in sorted(shares.standard_error.items())}
            if shares.standard_error
            else None
        ),
    }


def _institutions(
    facts: Facts, shares: Shares, method: str, runs: list[Any], start: str, end: str
) -> list[dict[str, Any]]:
    published: dict[str, int] = defaultdict(int)
    for ds in facts.datasets.values():
        if ds.published_at and in_period(ds.published_at, start, end):
            published[ds.publisher] += 1
    grants: dict[str, int] = defaultdict(int)
    issuer = {g.id: g.issuer for g in facts.grants.values()}
    for g in facts.grants.values():
        if in_period(g.issued_at, start, end):
            grants[g.issuer] += 1
    outputs: dict[str, int] = defaultdict(int)
    for o in facts.outputs:
        if in_period(o.reported_at, start, end):
            outputs[issuer.get(o.grant, o.origin)] += 1
    costs: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    declared: dict[str, Decimal] = defaultdict(Decimal)
    for c in facts.claims:
        if in_period(c.at, start, end):
            if c.currency:
                costs[c.origin][c.currency] += Decimal(c.units)
            else:
                declared[c.origin] += Decimal(c.units)
    paid: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in runs:
        for p in r.payees:
            paid[p["origin"]][r.currency] += Decimal(p["paid"])
    origins = sorted(set(facts.members) | set(shares.institutions.get(method, {})))
    chosen = shares.institutions.get(method, {})
    return [
        {
            "origin": o,
            "institution": facts.members.get(o, o),
            "datasets_published": published[o],
            "grants_issued": grants[o],
            "outputs": outputs[o],
            "costs": {cur: str(a) for cur, a in sorted(costs[o].items())},
            "declared_units": str(declared[o]),
            "credit": {
                m: fixed(shares.institutions.get(m, {}).get(o, Fraction(0))) for m in METHODS
            },
            "share": _percent(chosen.get(o, Fraction(0)), shares.total),
            "compensation": {cur: str(a) for cur, a in sorted(paid[o].items())},
        }
        for o in origins
    ]


def _payees(shares: Shares, runs: list[Any]) -> list[dict[str, Any]]:
    """Credit per payee, and what runs within the period paid them (per currency)."""
    paid: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in runs:
        for p in r.payees:
            paid[(p["origin"], p["kind"], p["name"])][r.currency] += Decimal(p["paid"])
    credit = {(p.origin, p.kind, p.name): c for p, c in shares.payees.items()}
    return [
        {
            "origin": origin,
            "kind": kind,
            "name": name,
            "credit": fixed(credit.get((origin, kind, name), Fraction(0))),
            "compensation": {cur: str(a) for cur, a in sorted(paid[(origin, kind, name)].items())},
        }
        for origin, kind, name in sorted(set(credit) | set(paid))
    ]


def _datasets(facts: Facts, shares: Shares, start: str, end: str) -> list[dict[str, Any]]:
    grants: dict[str, int] = defaultdict(int)
    used: dict[str, list[str]] = {}
    for g in facts.grants.values():
        used[g.id] = [d["id"] for d in g.datasets]
        if in_period(g.issued_at, start, end):
            for d in used[g.id]:
                grants[d] += 1
    outputs: dict[str, int] = defaultdict(int)
    for o in facts.outputs:
        if in_period(o.reported_at, start, end):
            for d in used.get(o.grant, o.datasets):
                outputs[d] += 1
    ids = sorted(set(shares.datasets) | set(grants) | set(outputs))
    publisher = publishers(facts)
    return [
        {
            "dataset": d,
            "publisher": publisher.get(d),
            "grants": grants[d],
            "outputs": outputs[d],
            "credit": fixed(shares.datasets.get(d, Fraction(0))),
        }
        for d in ids
    ]


def _contributors(
    facts: Facts, shares: Shares, rules: dict[str, Any], start: str, end: str
) -> list[dict[str, Any]]:
    """A dataset's credit divided among the people its metadata names, plus the declared
    effort a named person or team did (as the rules weigh it)."""
    credit: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    datasets: dict[tuple[str, str], set[str]] = defaultdict(set)
    weight = Fraction(rules["event_weights"].get("contribution.declared", 0))
    for c in facts.claims:
        if c.contributor and c.currency is None and in_period(c.at, start, end):
            credit[(c.origin, c.contributor)] += weight * Fraction(c.units)
    for d, amount in shares.datasets.items():
        ds = facts.datasets.get(d)
        named = ds.credit_before(end)[0] if ds else []
        if ds is None or not named:
            continue
        weights = [(c["name"], Fraction(c["weight"])) for c in named]
        total = sum((w for _, w in weights), Fraction(0))
        for name, w in weights:
            if w:
                credit[(ds.publisher, name)] += amount * w / total
                datasets[(ds.publisher, name)].add(d)
    return [
        {"origin": o, "name": n, "datasets": sorted(datasets[(o, n)]), "credit": fixed(c)}
        for (o, n), c in sorted(credit.items())
    ]


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _participation(facts: Facts, shares: Shares, start: str, end: str) -> dict[str, Any]:
    proportional = shares.institutions.get("proportional", {})
    contributing = sorted(o for o in facts.members if proportional.get(o))
    length = _days(start, end)
    nodes = []
    for origin in sorted(facts.members):
        days = facts.active_days.get(origin)
        active = None if days is None else sum(1 for d in days if start <= d < end)
        nodes.append(
            {
                "origin": origin,
                "institution": facts.members[origin],
                "ledger_read": days is not None,
                "active_days": active,
                "active_share": None if active is None else _percent(Fraction(active), length),
            }
        )
    return {
        "members": len(facts.members),
        "contributing": contributing,
        "share": _percent(Fraction(len(contributing)), Fraction(len(facts.members))),
        "days": length,
        "nodes": nodes,
    }


def _elapsed_days(since: str, until: str) -> Fraction:
    a = datetime.fromisoformat(since.replace("Z", "+00:00"))
    b = datetime.fromisoformat(until.replace("Z", "+00:00"))
    delta = b - a
    return Fraction(delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds,
                    86_400_000_000)  # fmt: skip


def _approvals(facts: Facts, start: str, end: str) -> dict[str, Any]:
    waits: list[Fraction] = []
    decisions: dict[str, int] = defaultdict(int)
    still_open = 0
    for r in facts.requests.values():
        if r.decided_at and r.decision and in_period(r.decided_at, start, end):
            waits.append(_elapsed_days(r.submitted_at, r.decided_at))
            decisions[r.decision] += 1
        if r.submitted_at[:10] < end and (r.decided_at is None or r.decided_at[:10] >= end):
            still_open += 1
    waits.sort()
    return {
        "decided": len(waits),
        "decisions": dict(sorted(decisions.items())),
        "median_days": fixed(statistics.median(waits), 2) if waits else None,
        "mean_days": fixed(sum(waits, Fraction(0)) / len(waits), 2) if waits else None,
        "p90_days": fixed(waits[(len(waits) * 9 - 1) // 10], 2) if waits else None,
        "max_days": fixed(waits[-1], 2) if waits else None,
        "open_at_end": still_open,
    }


def _uncredited(facts: Facts, shares: Shares, start: str, end: str) -> list[dict[str, Any]]:
    """Grants of the period with no output reported by its end, and events the rules give
    no weight: reuse the figures do not reward, for the lead to follow up."""
    reported = {o.grant for o in facts.outputs if o.reported_at[:10] < end}
    found = [
        {"type": "grant.issued", "ref": g.id, "at": g.issued_at,
         "reason": "no output reported for this grant by the end of the period"}
        for g in facts.grants.values()
        if in_period(g.issued_at, start, end) and g.id not in reported
    ]  # fmt: skip
    found += [
        {"type": e.type, "ref": e.ref, "at": e.at, "reason": f"the rules give {e.type} no weight"}
        for e in shares.unweighted
    ]
    return sorted(found, key=lambda u: (u["at"], u["type"], u["ref"]))


def _trend(facts: Facts, rules: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    shares = _shares(facts, rules, start, end)
    chosen = shares.institutions.get(rules["method"], {})
    return {
        "period": {"start": start, "end": end},
        "worth": fixed(shares.total),
        "events": dict(sorted(shares.counts.items())),
        "credit": {o: fixed(c) for o, c in sorted(chosen.items())},
    }


def body(
    facts: Facts,
    cuts: Iterable[Cut],
    start: str,
    end: str,
    interval: str | None = None,
    rules_key: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The report's content: everything but who signed it and when.

    ``rules_key`` (proposer, version) names the benefit rules to apply; by default those in
    force at the end of the period.
    """
    if start >= end:
        raise ReportError("the period must end after it starts")
    if interval is not None and interval not in INTERVALS:
        raise ReportError(f"the interval must be one of {', '.join(INTERVALS)}")
    if rules_key is None:
        in_force = facts.rules_in_force(end)
        if in_force is None:
            raise ReportError(f"no benefit rules were in force on {end}: they weigh all credit")
        proposer, version, rules = in_force
    else:
        proposer, version = rules_key
        if rules_key not in facts.rules_accepted:
            raise ReportError(f"benefit rules version {version} of {proposer} were never accepted")
        rules = facts.rules[rules_key]
    content: dict[str, Any] = {
        "type": REPORT_TYPE,
        "period": {"start": start, "end": end},
        "interval": interval,
        "rules": {
            "proposer": proposer,
            "version": version,
            "digest": document_digest(rules),
            "method": rules["method"],
            "event_weights": rules["event_weights"],
        },
        "checkpoints": [c.as_dict() for c in sorted(cuts, key=lambda c: c.origin)],
        "summary": figures(facts, rules, start, end),
    }
    if interval is not None:
        content["trends"] = [
            _trend(facts, rules, a, b) for a, b in sub_periods(start, end, interval)
        ]
    return content


def sign(content: dict[str, Any], key: NodeKey, origin: str) -> dict[str, Any]:
    """The report as its author hands it out: signed over everything in it but the signature."""
    report = {
        **content,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signer": {"origin": origin, "public_key": b64encode(key.public_key)},
    }
    return {**report, "signature": sign_document(key, report)}


def check_signature(report: dict[str, Any]) -> str:
    """The signer's origin if the report's signature verifies; else a `ReportError`."""
    try:
        signer = report["signer"]
        key = b64decode(signer["public_key"], 32)
        signature = b64decode(report["signature"], 64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"the report is not signed: {exc}") from exc
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    if not verify_signature(key, canonical_bytes(unsigned), signature):
        raise ReportError("the report's signature does not verify: it was changed after signing")
    return str(signer["origin"])


CSV_COLUMNS = (
    "period_start", "period_end", "level", "origin", "id", "name", "kind", "datasets_published",
    "grants", "outputs", "costs", "declared_units", "credit",
    *(f"credit_{m.replace('-', '_')}" for m in METHODS), "share_percent", "compensation",
)  # fmt: skip


def to_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV: one per institution, dataset, contributor and payee over the
    whole period, then one per institution and trend period.

    ``credit`` is, for an institution or a payee, its credit under the rules' method; for a
    dataset or a contributor, the credit that came to rest on the data (recognition); an
    institution's row also has its credit by every method.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    s, method = report["summary"], report["rules"]["method"]
    at = {"period_start": s["period"]["start"], "period_end": s["period"]["end"]}
    for i in s["institutions"]:
        writer.writerow({
            **at, "level": "institution", "origin": i["origin"], "id": i["origin"],
            "name": i["institution"], "datasets_published": i["datasets_published"],
            "grants": i["grants_issued"], "outputs": i["outputs"],
            "costs": _amounts(i["costs"]), "declared_units": i["declared_units"],
            "credit": i["credit"][method],
            **{f"credit_{m.replace('-', '_')}": v for m, v in i["credit"].items()},
            "share_percent": i["share"], "compensation": _amounts(i["compensation"]),
        })  # fmt: skip
    for d in s["datasets"]:
        writer.writerow({
            **at, "level": "dataset", "origin": d["publisher"] or "", "id": d["dataset"],
            "grants": d["grants"], "outputs": d["outputs"], "credit": d["credit"],
        })  # fmt: skip
    for c in s["contributors"]:
        writer.writerow({**at, "level": "contributor", "origin": c["origin"], "name": c["name"],
                         "id": " ".join(c["datasets"]), "credit": c["credit"]})  # fmt: skip
    for p in s["payees"]:
        writer.writerow({**at, "level": "payee", "origin": p["origin"], "name": p["name"],
                         "kind": p["kind"], "credit": p["credit"],
                         "compensation": _amounts(p["compensation"])})  # fmt: skip
    for t in report.get("trends", []):
        for origin, credit in t["credit"].items():
            writer.writerow({"period_start": t["period"]["start"],
                             "period_end": t["period"]["end"], "level": "trend",
                             "origin": origin, "id": origin, "credit": credit})  # fmt: skip
    return buffer.getvalue()


def _amounts(by_currency: dict[str, str]) -> str:
    return " ".join(f"{a} {cur}" for cur, a in by_currency.items())


class ReportQuery(PeriodSchema):
    """A report's period and options; the API's query and `consortium report build`'s options
    use the same names (``by``, not the report's own field name ``interval``)."""

    by = Text(
        validate=validate.OneOf(INTERVALS),
        metadata={"description": "Add trends per " + ", ".join(INTERVALS) + "."},
    )
    format = Text(load_default="json", validate=validate.OneOf(FORMATS))


def contribution_report(
    ledger: Ledger,
    key: NodeKey,
    actor: Actor,
    query: dict[str, Any],
    bundles: Iterable[Path] = (),
    progress: Callable[[str], Progress | None] | None = None,
) -> dict[str, Any]:
    """A signed report for the period in ``query`` (see `ReportQuery`), over this node's
    ledger and other members' ``bundles``; refused (409) when it cannot be computed, e.g.
    without benefit rules in force at the period's end, and (422) for a bundle that is not a
    member's or does not verify against the member's key."""
    actor.require(*READERS)
    data = ReportQuery().load(query)
    start, end = str(data["start"]), str(data["end"])
    try:
        peers = member_bundles(ledger.engine, bundles, progress)
        return build(ledger, key, start, end, data.get("by"), peers)
    except LedgerReadError as exc:
        raise Invalid(str(exc)) from exc
    except ReportError as exc:
        raise Conflict(str(exc)) from exc


def build(
    ledger: Ledger,
    key: NodeKey,
    start: str,
    end: str,
    interval: str | None = None,
    peers: Iterable[Source] = (),
) -> dict[str, Any]:
    """A signed report over this node's ledger, cut now, and any peers' verified bundles."""
    facts, cuts = gather([own_source(ledger), *peers])
    return sign(body(facts, cuts, start, end, interval), key, ledger.origin)


def verify(
    report: dict[str, Any],
    bundles: Iterable[Path],
    *,
    keyring: Keyring,
    progress: Callable[[str], Progress | None] | None = None,
) -> list[str]:
    """Recompute ``report`` from ledger bundles; returns what differs (empty: every figure
    holds). Raises `ReportError` for a report that is not one, whose signature fails, or
    whose signer is not the node whose key the signer's bundle proves, `LedgerReadError`
    for a bundle missing, not verifying or not matching its checkpoint, and `UntrustedKey`
    when ``keyring`` has no key for a ledger it names. A report is always built on a node
    whose own ledger it read, so its signer's bundle, checked with the key trusted for the
    signer, is among those given."""
    if report.get("type") != REPORT_TYPE:
        raise ReportError(f"not a contribution report (type {report.get('type')!r})")
    check_signature(report)
    try:
        period, interval = report["period"], report.get("interval")
        rules_key = (report["rules"]["proposer"], report["rules"]["version"])
        checkpoints = report["checkpoints"]
    except (KeyError, TypeError) as exc:
        raise ReportError(f"the report is incomplete: {exc}") from exc
    facts, cuts, keys = named_ledgers(
        "the report", checkpoints, bundles, keyring=keyring, progress=progress
    )
    signer = report["signer"]["origin"]
    if keys.get(signer) != b64decode(report["signer"]["public_key"], 32):
        raise ReportError(
            f"the report claims to be signed by {signer}, whose ledger it read, but not with"
            " that node's key"
        )
    expected = body(facts, cuts, period["start"], period["end"], interval, rules_key)
    content = {k: v for k, v in report.items() if k not in UNSIGNED}
    return list(differences(expected, content))
