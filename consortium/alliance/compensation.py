"""Compensation runs: a period's pool paid out by the credit the ledgers show.

A run is one signed ledger entry that says everything needed to check it: the period, the
pool and its currency, the benefit rules and method used, the checkpoint of every ledger it
read, and for every payee the credit that weighed, the amount allocated, what was carried in
from the previous run, what is paid now and what is carried forward (below the minimum
payout). Anyone holding the same ledgers recomputes the same cents.

A run is refused for a period that has not ended, with no benefit rules in force at its end,
or overlapping an earlier run in the same currency — a period is paid once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from marshmallow import validate, validates
from sqlalchemy import JSON, Column, Connection, Engine, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.alliance.contributions import AMOUNT, PeriodSchema, currency_field, positive
from consortium.alliance.facts import Facts
from consortium.alliance.ledgers import (
    Cut,
    LedgerReadError,
    Source,
    cut_own,
    gather,
    member_bundles,
    own_entries,
)
from consortium.alliance.recompute import differences, named_ledgers
from consortium.alliance.shares import Payee, compute, fixed
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, LEAD, Actor
from consortium.contracts.signing import document_digest
from consortium.credit import CreditError, pay_out
from consortium.disclosure.sealing import digest_of
from consortium.disclosure.views import member_view
from consortium.errors import Conflict, DomainError, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.audit import Progress
from consortium.ledger.bundle import BundleError, entries_with_sealed
from consortium.ledger.entry import EntryError, parse_entry
from consortium.ledger.log import Ledger
from consortium.registry.keyring import Keyring
from consortium.registry.sealed import SealError
from consortium.text import Text

RUN = "compensation.run"
QUANTUM = r"^(1|0\.(0{0,3})1)$"
READERS = frozenset({ADMIN, DIRECTOR, LEAD, AUDITOR})


class CompensationRun(SQLModel, table=True):
    __tablename__ = "compensation_run"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    period_start: str = Field(sa_column=Column(String(10), nullable=False))
    period_end: str = Field(sa_column=Column(String(10), nullable=False))
    pool: str = Field(sa_column=Column(String(32), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    quantum: str = Field(sa_column=Column(String(8), nullable=False))
    minimum: str = Field(sa_column=Column(String(32), nullable=False))
    method: str = Field(sa_column=Column(String(32), nullable=False))
    rules: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    checkpoints: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    payees: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))


RUNS = projection_table(CompensationRun.__table__)


class RunSchema(PeriodSchema):
    pool = Text(
        required=True,
        validate=validate.Regexp(AMOUNT, error="an amount such as 10000 or 10000.50"),
        metadata={"example": "10000.00"},
    )
    currency = currency_field()
    minimum = Text(
        load_default="0",
        validate=validate.Regexp(AMOUNT, error="an amount such as 50 or 50.00"),
        metadata={"description": "Smaller payouts are carried over to the next run."},
    )
    quantum = Text(
        load_default="0.01",
        validate=validate.Regexp(QUANTUM, error="1, 0.1, 0.01, 0.001 or 0.0001"),
        metadata={"description": "The smallest amount paid: the currency's minor unit."},
    )

    @validates("pool")
    def _pool(self, value: str, **_: Any) -> None:
        positive(value)


def _key(payee: Payee | tuple[str, str, str]) -> str:
    """A payee as one string, the form `pay_out` ranks ties by."""
    return "\t".join(payee if isinstance(payee, tuple) else (payee.origin, payee.kind, payee.name))


def run_compensation(
    ledger: Ledger,
    actor: Actor,
    payload: dict[str, Any],
    bundles: Iterable[Path] = (),
    progress: Callable[[str], Progress | None] | None = None,
) -> Event:
    """Pay a period's pool by credit (alliance lead) on this node's ledger and other members'
    ``bundles``; see the module docstring."""
    actor.require(LEAD)
    data = RunSchema().load(payload)
    start, end = data["start"].isoformat(), data["end"].isoformat()
    today = ledger.clock().date()
    if data["end"] > today:
        raise Invalid(
            "the period has not ended",
            {"end": [f"the period runs until {_day_before(data['end'])}: pay it once it is over"]},
        )
    try:
        peers = member_bundles(ledger.engine, bundles, progress)
    except LedgerReadError as exc:
        raise Invalid(str(exc)) from exc
    for peer in peers:
        # A period is paid once: a bundle from before its end would leave events out for good.
        if peer.exported_at is not None and peer.exported_at[:10] < end:
            raise Invalid(
                f"the bundle of {peer.cut.origin} was exported on {peer.exported_at[:10]}, "
                "before the period ended: ask for a new one"
            )
    # The lock is held from the cut to the run's entry: no entry, and no other run, between.
    with ledger.transaction() as tx:
        cut = cut_own(tx)
        try:
            facts, cuts = gather([Source(cut, own_entries(tx.conn, cut.size)), *peers])
        except LedgerReadError as exc:
            raise Invalid(str(exc)) from exc
        for run in facts.runs:
            if run.currency == data["currency"] and run.start < end and start < run.end:
                last = _day_before(date.fromisoformat(run.end))
                raise Conflict(
                    f"{run.id} already paid {run.start} to {last} in {run.currency}:"
                    " a period is paid once"
                )
        paid = payout(facts, cuts, start, end, data)
        return record(tx, RUN, actor.name, {"run": new_id("run"), **paid})


def payout(
    facts: Facts, cuts: list[Cut], start: str, end: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A run's content (all but its id) from the facts of the ledgers it read; ``data`` holds
    the pool, currency, quantum and minimum. Refused (`Conflict`, `Invalid`) when there is
    nothing to pay by."""
    pool, quantum = Decimal(data["pool"]), Decimal(data["quantum"])
    in_force = facts.rules_in_force(end)
    if in_force is None:
        raise Conflict(f"no benefit rules were in force on {end}: they weigh what is paid")
    proposer, version, rules = in_force
    try:
        shares = compute(facts, rules, start, end)
    except CreditError as exc:
        raise Conflict(str(exc)) from exc
    weights = {_key(p): w for p, w in shares.payees.items() if w > 0}
    if not weights:
        raise Conflict(f"no credit was earned from {start} to {end}: nothing to pay by")
    carried_in = {_key(k): v for k, v in facts.carried(data["currency"]).items()}
    try:
        paid = pay_out(pool, weights, quantum, Decimal(data["minimum"]), carried_in)
    except CreditError as exc:
        raise Invalid("the pool cannot be paid out", {"pool": [str(exc)]}) from exc
    zero = Decimal(0)
    payees = []
    for key in sorted(set(weights) | set(carried_in)):
        origin, kind, name = key.split("\t")
        payees.append(
            {
                "origin": origin,
                "kind": kind,
                "name": name,
                "credit": fixed(weights.get(key, 0)),
                "allocated": str(paid.allocated.get(key, zero).quantize(quantum)),
                "carried_in": str(carried_in.get(key, zero).quantize(quantum)),
                "paid": str(paid.paid.get(key, zero).quantize(quantum)),
                "carried": str(paid.carried.get(key, zero).quantize(quantum)),
            }
        )
    return {
        "period": {"start": start, "end": end},
        "pool": str(pool.quantize(quantum)),
        "currency": data["currency"],
        "quantum": data["quantum"],
        "minimum": str(Decimal(data["minimum"]).quantize(quantum)),
        "method": rules["method"],
        "rules": {"proposer": proposer, "version": version, "digest": document_digest(rules)},
        "checkpoints": [c.as_dict() for c in cuts],
        "payees": payees,
    }


def verify_run(
    run_id: str,
    bundles: Iterable[Path],
    *,
    keyring: Keyring,
    progress: Callable[[str], Progress | None] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Find run ``run_id`` in the bundles and pay it again from the ledgers it names: returns
    the run and what differs (empty: every amount holds). The bundle holding the run is
    audited in full, so the run entry itself is proven to be its node's."""
    paths = list(bundles)
    run = _find_run(run_id, paths)
    facts, cuts, _ = named_ledgers(
        "the run", run["checkpoints"], paths, keyring=keyring, progress=progress
    )
    period = run["period"]
    try:
        expected = payout(facts, cuts, period["start"], period["end"], run)
    except DomainError as exc:
        return run, [f"the ledgers give no payout: {exc.message}"]
    return run, list(differences(expected, {k: v for k, v in run.items() if k != "run"}))


def _find_run(run_id: str, paths: list[Path]) -> dict[str, Any]:
    needle = f'"kind":"{RUN}"'.encode()
    for path in paths:
        try:
            for data, sealed in entries_with_sealed(path):
                if needle in data:
                    entry = member_view(parse_entry(data), {digest_of(d): d for d in sealed})
                    if entry.body.get("run") == run_id:
                        return entry.body
        except (BundleError, EntryError, SealError) as exc:  # the audit names the damage
            raise LedgerReadError(f"{path.name} cannot be read: {exc}") from exc
    raise LedgerReadError(f"no bundle given holds compensation run {run_id!r}")


def _day_before(end: date) -> str:
    return date.fromordinal(end.toordinal() - 1).isoformat()


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "period": {"start": row.period_start, "end": row.period_end},
        "pool": row.pool,
        "currency": row.currency,
        "quantum": row.quantum,
        "minimum": row.minimum,
        "method": row.method,
        "rules": row.rules,
        "checkpoints": row.checkpoints,
        "payees": row.payees,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at,
    }


def list_runs(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    actor.require(*READERS)
    with engine.connect() as conn:
        rows = conn.execute(select(RUNS).order_by(RUNS.c.recorded_at, RUNS.c.id))
        return [_view(r) for r in rows]


def get_run(engine: Engine, actor: Actor, run: str) -> dict[str, Any]:
    actor.require(*READERS)
    with engine.connect() as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run)).first()
    if row is None:
        raise NotFound(f"no compensation run {run!r}")
    return _view(row)


@projects(RUN)
def _run(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(RUNS).values(
            id=b["run"],
            period_start=b["period"]["start"],
            period_end=b["period"]["end"],
            pool=b["pool"],
            currency=b["currency"],
            quantum=b["quantum"],
            minimum=b["minimum"],
            method=b["method"],
            rules=b["rules"],
            checkpoints=b["checkpoints"],
            payees=b["payees"],
            recorded_by=event.actor,
            recorded_at=event.time,
        )
    )
