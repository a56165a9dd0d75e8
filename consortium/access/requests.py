"""Access requests: submitted by a researcher, checked automatically against each dataset's
contract, reviewed by a steward (and a director where the data require a second approver),
and decided with a reason. Every transition is a signed ledger entry; an illegal one (approve
twice, approve a withdrawn request) is a 409 and writes nothing.

    submitted ──approve──> approved ──> grant issued
        │  └───approve (second approver needed)──> awaiting-second-approval ──co-approve──┘
        ├──return──> returned ──resubmit──> submitted
        ├──deny──> denied            (also from awaiting-second-approval)
        └──withdraw──> withdrawn     (also from returned, awaiting-second-approval)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    String,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from consortium.access import compatibility
from consortium.access.catalogue import active_contracts
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, RESEARCHER, STEWARD, Actor
from consortium.duo import DuoError, resolve
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger, LedgerTransaction
from consortium.registry.datasets import DATASET, VERSION, WITHDRAWN
from consortium.registry.settings import current_settings
from consortium.text import Text

SUBMITTED = "submitted"
RETURNED = "returned"
AWAITING_SECOND = "awaiting-second-approval"
APPROVED = "approved"
DENIED = "denied"
WITHDRAWN_REQUEST = "withdrawn"
STATUSES = (SUBMITTED, RETURNED, AWAITING_SECOND, APPROVED, DENIED, WITHDRAWN_REQUEST)
OPEN_STATUSES = (SUBMITTED, RETURNED, AWAITING_SECOND)
READERS = frozenset({STEWARD, DIRECTOR, ADMIN, AUDITOR})


class AccessRequest(SQLModel, table=True):
    __tablename__ = "access_request"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    researcher: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    project_title: str = Field(sa_column=Column(String(300), nullable=False))
    details: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    datasets: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    findings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    manual_review: bool = Field(sa_column=Column(Boolean, nullable=False))
    second_approval: bool = Field(sa_column=Column(Boolean, nullable=False))
    submitted_at: str = Field(sa_column=Column(String(32), nullable=False))
    review_due: str = Field(sa_column=Column(String(10), nullable=False))
    approved_by: str | None = Field(sa_column=Column(String(128), nullable=True))
    decided_at: str | None = Field(sa_column=Column(String(32), nullable=True))
    grant_id: str | None = Field(sa_column=Column(String(64), nullable=True))


class AccessDecision(SQLModel, table=True):
    __tablename__ = "access_decision"

    entry_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    request_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    decision: str = Field(sa_column=Column(String(32), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    reason: str | None = Field(sa_column=Column(String(2000), nullable=True))
    at: str = Field(sa_column=Column(String(32), nullable=False))


REQUEST = projection_table(AccessRequest.__table__)
DECISION = projection_table(AccessDecision.__table__)


class PurposeSchema(Schema):
    code = Text(required=True, metadata={"example": "HMB"})
    disease = Text(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "For DS: the disease, e.g. MONDO:0005148."},
    )


class DatasetChoiceSchema(Schema):
    id = Text(required=True)
    contract = Text(metadata={"description": "Which contract, if several cover the dataset."})


class RequestSchema(Schema):
    """What a researcher asks for."""

    datasets = fields.List(
        fields.Nested(DatasetChoiceSchema), required=True, validate=validate.Length(min=1, max=50)
    )
    project_title = Text(required=True, validate=validate.Length(min=1, max=300))
    purposes = fields.List(
        fields.Nested(PurposeSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "DUO permission codes: GRU, HMB, DS (with disease), POA."},
    )
    purpose_text = Text(required=True, validate=validate.Length(min=1, max=4000))
    investigator = Text(required=True, validate=validate.Length(min=1, max=200))
    institution = Text(required=True, validate=validate.Length(min=1, max=200))
    ethics_reference = Text(validate=validate.Length(min=1, max=200))
    duration_months = fields.Integer(strict=True, required=True, validate=validate.Range(1, 600))
    commercial = fields.Boolean(required=True)
    not_for_profit = fields.Boolean(
        load_default=False, metadata={"description": "The requesting organisation is."}
    )
    region = Text(
        validate=validate.Regexp(r"^[A-Z]{2}$", error="an ISO 3166-1 alpha-2 code such as DE"),
        metadata={"description": "Where the data will be used."},
    )

    @validates_schema
    def _purposes(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        for i, purpose in enumerate(data.get("purposes", [])):
            try:
                term = resolve(purpose["code"])
            except DuoError as exc:
                errors[i] = {"code": [str(exc)]}
                continue
            if term.kind != "permission":
                errors[i] = {"code": [f"{purpose['code']} is a DUO modifier, not a purpose"]}
            elif term.shorthand == "DS" and "disease" not in purpose:
                errors[i] = {"disease": ["a disease-specific (DS) purpose names the disease"]}
            else:
                purpose["code"] = term.id
        if errors:
            raise ValidationError({"purposes": errors})


class ReasonSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))


class OptionalReasonSchema(Schema):
    reason = Text(validate=validate.Length(min=1, max=2000))


# --- reads -----------------------------------------------------------------------------------


def _row(conn: Connection, request_id: str) -> Any:
    row = conn.execute(select(REQUEST).where(REQUEST.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"no access request {request_id!r}")
    return row


def _view(conn: Connection, row: Any) -> dict[str, Any]:
    decisions = conn.execute(
        select(DECISION).where(DECISION.c.request_id == row.id).order_by(DECISION.c.entry_index)
    ).all()
    return {
        **{k: v for k, v in row._asdict().items() if k != "details"},
        **row.details,
        "compatible": all(
            f["verdict"] != compatibility.REFUSED for fs in row.findings.values() for f in fs
        ),
        "decisions": [
            {"decision": d.decision, "by": d.actor, "reason": d.reason, "at": d.at}
            for d in decisions
        ],
    }


def _may_read(actor: Actor, row: Any) -> bool:
    return actor.has(*READERS) or row.researcher == actor.name


def get_request(engine: Engine, actor: Actor, request_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = _row(conn, request_id)
        if not _may_read(actor, row):
            raise NotFound(f"no access request {request_id!r}")
        return _view(conn, row)


def list_requests(engine: Engine, actor: Actor, status: str | None = None) -> list[dict]:
    """A steward's queue (everything, oldest first), or a researcher's own requests."""
    with engine.connect() as conn:
        query = select(REQUEST).order_by(REQUEST.c.submitted_at, REQUEST.c.id)
        if status:
            query = query.where(REQUEST.c.status == status)
        if not actor.has(*READERS):
            query = query.where(REQUEST.c.researcher == actor.name)
        return [_view(conn, r) for r in conn.execute(query)]


# --- the check -------------------------------------------------------------------------------


def _covered(conn: Connection, contract: Any, dataset_id: str) -> tuple[int, dict[str, Any]]:
    """The dataset version a contract covers (it names one), with its metadata: a request is
    assessed, and granted, for the version the contract was signed over."""
    version = next(d["version"] for d in contract.document["datasets"] if d["id"] == dataset_id)
    meta = conn.execute(
        select(VERSION.c.metadata).where(
            VERSION.c.dataset_id == dataset_id, VERSION.c.version == version
        )
    ).scalar_one()
    return version, meta


def check(conn: Connection, data: dict[str, Any], today: date) -> dict[str, Any]:
    """Resolve each dataset to its version and contract and assess the request against them.

    Returns the datasets (with the contract chosen), the findings per dataset, and whether a
    second approver and manual review are needed. Raises Invalid for datasets that cannot be
    requested at all.
    """
    chosen: list[dict[str, Any]] = []
    findings: dict[str, list[dict[str, str]]] = {}
    errors: dict[str, list[str]] = {}
    manual_ok = True
    second = False
    for i, choice in enumerate(data["datasets"]):
        row = conn.execute(select(DATASET).where(DATASET.c.id == choice["id"])).first()
        if row is None or row.published_version is None:
            errors[f"datasets.{i}.id"] = [f"no published dataset {choice['id']!r} here"]
            continue
        contracts = active_contracts(conn, choice["id"])
        if "contract" in choice:
            contracts = [c for c in contracts if c.id == choice["contract"]]
        if not contracts:
            errors[f"datasets.{i}.id"] = [
                f"no active contract covers {choice['id']!r}"
                + (f" under {choice['contract']!r}" if "contract" in choice else "")
            ]
            continue

        # Among several contracts, the first under which the request is compatible.
        assessed = []
        for c in contracts:
            version, meta = _covered(conn, c, row.id)
            assessed.append((c, version, meta, compatibility.assess(data, meta, c.document, today)))
        contract, version, meta, found = next(
            (a for a in assessed if compatibility.compatible(a[3])), assessed[0]
        )
        if row.status == WITHDRAWN:
            found.insert(
                0,
                compatibility.Finding(
                    "dataset", compatibility.REFUSED, "the dataset has been withdrawn"
                ),
            )
        if row.consent_withdrawn_at is not None:
            found.insert(
                0,
                compatibility.Finding(
                    "consent",
                    compatibility.REFUSED,
                    f"consent was withdrawn on {row.consent_withdrawn_at[:10]}: no new grants",
                ),
            )
        manual_ok = manual_ok and contract.document["manual_review_of_incompatible_requests"]
        second = second or meta["sensitivity"] == "highly-sensitive" or meta["genetic_data"]
        chosen.append(
            {
                "id": row.id,
                "version": version,
                "contract": contract.id,
                "contract_version": contract.version,
            }
        )
        findings[row.id] = [f.as_dict() for f in found]
    if errors:
        raise Invalid("these datasets cannot be requested", errors)
    ok = all(f["verdict"] != compatibility.REFUSED for fs in findings.values() for f in fs)
    return {
        "datasets": chosen,
        "findings": findings,
        "manual_review": not ok,
        "second_approval": second,
        "refusal": _refusal(findings, ok or manual_ok),
    }


def _refusal(findings: dict[str, list[dict[str, str]]], reviewable: bool) -> Invalid | None:
    """Why the request cannot be submitted at all, if it cannot: consent withdrawn, a term no
    review can waive, or refused terms under a contract that allows no manual review."""

    def refused(keep: Any) -> list[str]:
        return [
            f"{ds}: {f['reason']}"
            for ds, fs in findings.items()
            for f in fs
            if f["verdict"] == compatibility.REFUSED and keep(f)
        ]

    blocked = [ds for ds, fs in findings.items() if any(f["term"] == "consent" for f in fs)]
    if blocked:
        return Invalid(
            "consent was withdrawn", {"datasets": [f"{ds}: no new grants" for ds in blocked]}
        )
    binding = refused(lambda f: not compatibility.waivable(f))
    if binding:
        return Invalid("the request is refused on terms no review can waive", {"findings": binding})
    if not reviewable:
        return Invalid(
            "the request is not compatible with the contract, which allows no manual review",
            {"findings": refused(lambda f: True)},
        )
    return None


def _submittable(result: dict[str, Any]) -> dict[str, Any]:
    """The check's result for the ledger, or the reason it cannot be submitted."""
    refusal = result.pop("refusal")
    if refusal is not None:
        raise refusal
    return result


def preview(engine: Engine, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
    """The compatibility check alone, before submitting: nothing is written."""
    actor.require(RESEARCHER, STEWARD)
    data = RequestSchema().load(payload)
    with engine.connect() as conn:
        result = check(conn, data, datetime.now(UTC).date())
    refusal = result.pop("refusal")
    result["compatible"] = not result.pop("manual_review")
    result["submittable"] = refusal is None
    if refusal is not None:
        result["refusal"] = f"{refusal.message}: " + "; ".join(
            m for messages in refusal.errors.values() for m in messages
        )
    return result


def working_days_after(start: date, days: int) -> date:
    """The date ``days`` working days (Monday to Friday) after ``start``."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


# --- commands --------------------------------------------------------------------------------


def _details(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "datasets"}


def submit_request(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(RESEARCHER)
    data = RequestSchema().load(payload)
    with ledger.transaction() as tx:
        today = datetime.now(UTC).date()
        result = _submittable(check(tx.conn, data, today))
        days = current_settings(tx.conn)["review_deadline_days"]
        request_id = new_id("req")
        return record(
            tx,
            "access.requested",
            actor.name,
            {
                "request": request_id,
                "details": _details(data),
                **result,
                "review_due": working_days_after(today, days).isoformat(),
            },
        )


def _transition(
    tx: LedgerTransaction,
    actor: Actor,
    request_id: str,
    kind: str,
    allowed_from: tuple[str, ...],
    body: dict[str, Any],
) -> tuple[Any, Event]:
    row = _row(tx.conn, request_id)
    if row.status not in allowed_from:
        verb = kind.replace("_", "-")
        raise Conflict(f"request {request_id!r} is {row.status}; it cannot be {verb}")
    return row, record(tx, f"access.{kind}", actor.name, {"request": request_id, **body})


def resubmit_request(ledger: Ledger, actor: Actor, request_id: str, payload: dict) -> Event:
    actor.require(RESEARCHER)
    data = RequestSchema().load(payload)
    with ledger.transaction() as tx:
        if _row(tx.conn, request_id).researcher != actor.name:
            raise Forbidden("only the researcher who made a request may resubmit it")
        today = datetime.now(UTC).date()
        result = _submittable(check(tx.conn, data, today))
        # The stewards' clock starts again: the request is back in their hands.
        days = current_settings(tx.conn)["review_deadline_days"]
        due = working_days_after(today, days).isoformat()
        return _transition(
            tx, actor, request_id, "resubmitted", (RETURNED,),
            {"details": _details(data), **result, "review_due": due},
        )[1]  # fmt: skip


def withdraw_request(ledger: Ledger, actor: Actor, request_id: str, payload: dict) -> Event:
    actor.require(RESEARCHER)
    reason = OptionalReasonSchema().load(payload).get("reason")
    with ledger.transaction() as tx:
        if _row(tx.conn, request_id).researcher != actor.name:
            raise Forbidden("only the researcher who made a request may withdraw it")
        body = {"reason": reason} if reason else {}
        return _transition(tx, actor, request_id, "withdrawn", OPEN_STATUSES, body)[1]


def return_request(ledger: Ledger, actor: Actor, request_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    reason = ReasonSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        return _transition(tx, actor, request_id, "returned", (SUBMITTED,), {"reason": reason})[1]


def deny_request(ledger: Ledger, actor: Actor, request_id: str, payload: dict) -> Event:
    actor.require(STEWARD, DIRECTOR)
    reason = ReasonSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        row = _row(tx.conn, request_id)
        if row.status == AWAITING_SECOND:
            actor.require(DIRECTOR)
        else:
            actor.require(STEWARD)
        allowed = (SUBMITTED, AWAITING_SECOND)
        return _transition(tx, actor, request_id, "denied", allowed, {"reason": reason})[1]


def approve_request(
    ledger: Ledger, key: Any, actor: Actor, request_id: str, payload: dict
) -> list[Event]:
    """The steward's approval; it issues the grant unless a director must co-approve."""
    from consortium.access.grants import check_grantable, issue_grant

    actor.require(STEWARD)
    reason = OptionalReasonSchema().load(payload).get("reason")
    with ledger.transaction() as tx:
        row = _row(tx.conn, request_id)
        if row.status == SUBMITTED:
            check_grantable(tx.conn, row.datasets)
        if row.researcher == actor.name:
            raise Forbidden("a request must be approved by someone other than who made it")
        if row.status == SUBMITTED and row.manual_review and not reason:
            raise Invalid(
                "this request failed the compatibility check",
                {"reason": ["say why it is approved despite the refused terms"]},
            )
        body = {"reason": reason} if reason else {}
        body["second_approval_needed"] = row.second_approval
        _, event = _transition(tx, actor, request_id, "approved", (SUBMITTED,), body)
        if row.second_approval:
            return [event]
        return [event, issue_grant(tx, key, actor, _row(tx.conn, request_id))]


def co_approve_request(
    ledger: Ledger, key: Any, actor: Actor, request_id: str, payload: dict
) -> list[Event]:
    """The director's second approval, where the data require it; issues the grant."""
    from consortium.access.grants import issue_grant

    actor.require(DIRECTOR)
    reason = OptionalReasonSchema().load(payload).get("reason")
    with ledger.transaction() as tx:
        row = _row(tx.conn, request_id)
        if actor.name in (row.approved_by, row.researcher):
            raise Forbidden("the second approver must be a different person")
        body = {"reason": reason} if reason else {}
        _, event = _transition(tx, actor, request_id, "co_approved", (AWAITING_SECOND,), body)
        return [event, issue_grant(tx, key, actor, _row(tx.conn, request_id))]


# --- projectors ------------------------------------------------------------------------------


def _decided(conn: Connection, event: Event, decision: str) -> None:
    conn.execute(
        insert(DECISION).values(
            entry_index=event.index,
            request_id=event.body["request"],
            decision=decision,
            actor=event.actor,
            reason=event.body.get("reason"),
            at=event.time,
        )
    )


def _status(conn: Connection, event: Event, status: str, **values: Any) -> None:
    conn.execute(
        update(REQUEST).where(REQUEST.c.id == event.body["request"]).values(status=status, **values)
    )


@projects("access.requested")
def _requested(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(REQUEST).values(
            id=b["request"],
            researcher=event.actor,
            status=SUBMITTED,
            project_title=b["details"]["project_title"],
            details=b["details"],
            datasets=b["datasets"],
            findings=b["findings"],
            manual_review=b["manual_review"],
            second_approval=b["second_approval"],
            submitted_at=event.time,
            review_due=b["review_due"],
        )
    )
    _decided(conn, event, "submitted")


@projects("access.resubmitted")
def _resubmitted(conn: Connection, event: Event) -> None:
    b = event.body
    _status(
        conn,
        event,
        SUBMITTED,
        project_title=b["details"]["project_title"],
        details=b["details"],
        datasets=b["datasets"],
        findings=b["findings"],
        manual_review=b["manual_review"],
        second_approval=b["second_approval"],
        **({"review_due": b["review_due"]} if "review_due" in b else {}),
    )
    _decided(conn, event, "resubmitted")


@projects("access.returned")
def _returned(conn: Connection, event: Event) -> None:
    _status(conn, event, RETURNED)
    _decided(conn, event, "returned")


@projects("access.withdrawn")
def _withdrawn(conn: Connection, event: Event) -> None:
    _status(conn, event, WITHDRAWN_REQUEST, decided_at=event.time)
    _decided(conn, event, "withdrawn")


@projects("access.denied")
def _denied(conn: Connection, event: Event) -> None:
    _status(conn, event, DENIED, decided_at=event.time)
    _decided(conn, event, "denied")


@projects("access.approved")
def _approved(conn: Connection, event: Event) -> None:
    if event.body["second_approval_needed"]:
        _status(conn, event, AWAITING_SECOND, approved_by=event.actor)
    else:
        _status(conn, event, APPROVED, approved_by=event.actor, decided_at=event.time)
    _decided(conn, event, "approved")


@projects("access.co_approved")
def _co_approved(conn: Connection, event: Event) -> None:
    _status(conn, event, APPROVED, decided_at=event.time)
    _decided(conn, event, "co-approved")
