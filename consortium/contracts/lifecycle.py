"""A sharing contract's life: draft → proposed → signed by every party → active → expired,
terminated, or superseded by an amendment.

The contract document (see `consortium.contracts.document`) is what every party signs. The
node fills in what it knows better than the steward: the contract's id and version, each
party's institution name and public key from the member registry, and each local dataset's
published version. Once proposed, the document is frozen; each signature is checked against
the party's key before it is recorded, and the last one makes the contract active. An
amendment is the next version of the same contract: when it becomes active, the version it
amends is superseded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import (
    JSON,
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

from consortium.auth.roles import OPERATOR, STEWARD, Actor
from consortium.contracts.coverage import DESCRIBED, described, mismatches, shown_to
from consortium.contracts.document import ContractDocumentError, check_document, normalise
from consortium.contracts.signing import (
    check_not_countersigned,
    check_signature,
    document_digest,
    project_countersignature,
    sign_document,
)
from consortium.contracts.templates import TemplateError, load_template, merge, missing_fields
from consortium.crypto.keys import NodeKey
from consortium.duo import covers, resolve
from consortium.errors import Conflict, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger, LedgerTransaction
from consortium.registry.datasets import DATASET, VERSION, WITHDRAWN
from consortium.registry.members import MEMBER, self_member
from consortium.registry.metadata import TIERS, DuoSchema
from consortium.text import MAX_ID, PlainDict, Text

DRAFT = "draft"
PROPOSED = "proposed"
ACTIVE = "active"
EXPIRED = "expired"
TERMINATED = "terminated"
SUPERSEDED = "superseded"
STATUSES = (DRAFT, PROPOSED, ACTIVE, EXPIRED, TERMINATED, SUPERSEDED)
CONTRACT_DOCUMENT = "contract"
# What the node fills in; a steward's values for these are ignored.
_NODE_FIELDS = ("type", "id", "version", "amends", "template")
# Given at the top level of a draft, never inside ``terms``.
_TOP_FIELDS = ("title", "parties", "datasets")


class Contract(SQLModel, table=True):
    __tablename__ = "contract"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    template: str = Field(sa_column=Column(String(100), nullable=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    digest: str | None = Field(sa_column=Column(String(44), nullable=True))
    term_end: str = Field(sa_column=Column(String(10), nullable=False))
    drafted_by: str = Field(sa_column=Column(String(128), nullable=False))
    drafted_at: str = Field(sa_column=Column(String(32), nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))
    end_reason: str | None = Field(sa_column=Column(String(2000), nullable=True))


class ContractSignature(SQLModel, table=True):
    __tablename__ = "contract_signature"

    contract_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    party: str = Field(sa_column=Column(String(255), primary_key=True))
    signature: str = Field(sa_column=Column(String(88), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))
    entry_index: int = Field(sa_column=Column(Integer, nullable=False))


CONTRACT = projection_table(Contract.__table__)
SIGNATURE = projection_table(ContractSignature.__table__)


class PartyRefSchema(Schema):
    origin = Text(required=True, metadata={"example": "consortium.example/ngi"})
    role = Text(required=True, validate=validate.OneOf(("provider", "recipient", "member")))


class DatasetRefSchema(Schema):
    id = Text(required=True)
    version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Default: published version."},
    )
    provider = Text(metadata={"description": "Origin of the providing party."})
    # What the document says the dataset is. This node writes it for its own datasets from
    # the registry; for another institution's, the steward may copy it from that
    # institution's catalogue, and the provider's node checks it before countersigning.
    title = Text(
        validate=validate.Length(min=1, max=300),
        metadata={"description": "Another institution's dataset only: its title."},
    )
    sensitivity = Text(
        validate=validate.OneOf(TIERS),
        metadata={"description": "Another institution's dataset only: its sensitivity tier."},
    )
    duo = fields.Nested(
        DuoSchema,
        metadata={"description": "Another institution's dataset only: its DUO terms."},
    )


class DraftSchema(Schema):
    template = Text(required=True, metadata={"example": "non-commercial-health-research"})
    title = Text(validate=validate.Length(min=1, max=300))
    parties = fields.List(fields.Nested(PartyRefSchema), validate=validate.Length(min=1))
    datasets = fields.List(fields.Nested(DatasetRefSchema), validate=validate.Length(min=1))
    terms = PlainDict(
        keys=Text(),
        load_default=dict,
        metadata={
            "description": "Any other contract fields (term, purposes, modifiers, "
            "obligations, compensation, benefit_split…), over the template's defaults."
        },
    )

    @validates_schema
    def _terms(self, data: dict[str, Any], **_: Any) -> None:
        _terms_own_fields(data)


def _terms_own_fields(data: dict[str, Any]) -> None:
    """``terms`` carries the contract's terms; who and what it covers have their own fields,
    which the node checks against the member registry and the datasets."""
    reserved = [k for k in data.get("terms", {}) if k in (*_NODE_FIELDS, *_TOP_FIELDS)]
    if reserved:
        raise ValidationError(
            {
                "terms": {
                    k: [
                        "not a term: give it at the top level"
                        if k in _TOP_FIELDS
                        else "filled in by the node"
                    ]
                    for k in reserved
                }
            }
        )


class AmendSchema(Schema):
    title = Text(validate=validate.Length(min=1, max=300))
    parties = fields.List(fields.Nested(PartyRefSchema), validate=validate.Length(min=1))
    datasets = fields.List(fields.Nested(DatasetRefSchema), validate=validate.Length(min=1))
    terms = PlainDict(keys=Text(), load_default=dict)

    @validates_schema
    def _terms(self, data: dict[str, Any], **_: Any) -> None:
        _terms_own_fields(data)


class SignatureSchema(Schema):
    party = Text(required=True, metadata={"description": "The signing party's origin."})
    signature = Text(
        required=True, metadata={"description": "Base64 Ed25519 signature of the document."}
    )


class TerminateSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))
    version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Only this version (e.g. an unwanted amendment)."},
    )


# --- reads -----------------------------------------------------------------------------------


def _row(conn: Connection, contract_id: str, version: int | None = None) -> Any:
    query = select(CONTRACT).where(CONTRACT.c.id == contract_id)
    if version is not None:
        query = query.where(CONTRACT.c.version == version)
    row = conn.execute(query.order_by(CONTRACT.c.version.desc()).limit(1)).first()
    if row is None:
        what = f"version {version} of contract" if version else "contract"
        raise NotFound(f"no {what} {contract_id!r}")
    return row


def _view(conn: Connection, row: Any, reader: Actor | None) -> dict[str, Any]:
    signatures = conn.execute(
        select(SIGNATURE)
        .where(SIGNATURE.c.contract_id == row.id, SIGNATURE.c.version == row.version)
        .order_by(SIGNATURE.c.entry_index)
    ).all()
    signed = {s.party for s in signatures}
    return {
        "id": row.id,
        "version": row.version,
        "status": row.status,
        "title": row.title,
        "template": row.template,
        "digest": row.digest,
        "drafted_by": row.drafted_by,
        "drafted_at": row.drafted_at,
        "changed_at": row.changed_at,
        "end_reason": row.end_reason,
        "document": shown_to(row.document, reader),
        "signatures": [
            {
                "party": s.party,
                "signature": s.signature,
                "recorded_by": s.recorded_by,
                "recorded_at": s.recorded_at,
            }
            for s in signatures
        ],
        "awaiting": [p["origin"] for p in row.document["parties"] if p["origin"] not in signed],
    }


def get_contract(
    engine: Engine,
    contract_id: str,
    version: int | None = None,
    reader: Actor | None = OPERATOR,
) -> dict:
    """A contract version as ``reader`` may see it (see `coverage.shown_to`); the node's
    own commands and its console read the whole document."""
    with engine.connect() as conn:
        return _view(conn, _row(conn, contract_id, version), reader)


def list_contracts(
    engine: Engine, status: str | None = None, reader: Actor | None = OPERATOR
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(CONTRACT).order_by(CONTRACT.c.drafted_at, CONTRACT.c.id, CONTRACT.c.version)
        if status:
            query = query.where(CONTRACT.c.status == status)
        return [_view(conn, r, reader) for r in conn.execute(query)]


# --- building the document -------------------------------------------------------------------


def _parties(conn: Connection, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parties = []
    errors: dict[str, list[str]] = {}
    for i, ref in enumerate(refs):
        member = conn.execute(select(MEMBER).where(MEMBER.c.origin == ref["origin"])).first()
        if member is None:
            errors[f"parties.{i}.origin"] = [f"no member institution {ref['origin']!r}"]
            continue
        parties.append(
            {
                "institution": member.institution,
                "origin": member.origin,
                "public_key": member.public_key,
                "role": ref["role"],
            }
        )
    if errors:
        raise Invalid("unknown parties", errors)
    return parties


def _datasets(conn: Connection, refs: list[dict[str, Any]], own: str) -> list[dict[str, Any]]:
    """Resolve the steward's dataset references; local ones default to the published version
    and are described from the registry, others are described as the steward wrote them."""
    out = []
    errors: dict[str, list[str]] = {}
    for i, ref in enumerate(refs):
        provider = ref.get("provider", own)
        given = {k: ref[k] for k in DESCRIBED if k in ref}
        if provider != own:
            if "version" not in ref:
                errors[f"datasets.{i}.version"] = ["required for another institution's dataset"]
                continue
            out.append({"id": ref["id"], "version": ref["version"], "provider": provider, **given})
            continue
        for field in given:
            errors[f"datasets.{i}.{field}"] = ["filled in by this node from its registry"]
        row = conn.execute(select(DATASET).where(DATASET.c.id == ref["id"])).first()
        version = ref.get("version", row.published_version if row else None)
        if row is None or version is None:
            errors[f"datasets.{i}.id"] = [f"no published dataset {ref['id']!r} on this node"]
            continue
        meta = _version_metadata(conn, ref["id"], version)
        # A version that does not exist is reported by _check_local_datasets.
        details = described(meta) if meta is not None else {}
        out.append({"id": ref["id"], "version": version, "provider": own, **details})
    if errors:
        raise Invalid("unusable datasets", errors)
    return out


def _version_metadata(conn: Connection, dataset_id: str, version: int) -> dict[str, Any] | None:
    return conn.execute(
        select(VERSION.c.metadata).where(
            VERSION.c.dataset_id == dataset_id, VERSION.c.version == version
        )
    ).scalar()


def _check_local_datasets(conn: Connection, document: dict[str, Any], own: str) -> None:
    """This node's datasets in a contract must be published, not withdrawn and not revised
    since (a contract names the version in force), described as the registry describes
    them, and the contract may not allow more than they declare. Checked when a contract is
    drafted, revised, amended, proposed, and before this node countersigns another's."""
    errors: dict[str, list[str]] = {}
    for i, ref in enumerate(document["datasets"]):
        if ref["provider"] != own:
            continue
        row = conn.execute(select(DATASET).where(DATASET.c.id == ref["id"])).first()
        ver = conn.execute(
            select(VERSION).where(
                VERSION.c.dataset_id == ref["id"], VERSION.c.version == ref["version"]
            )
        ).first()
        if row is None or ver is None:
            errors[f"datasets.{i}"] = [f"no dataset {ref['id']!r} version {ref['version']} here"]
        elif row.status == WITHDRAWN:
            errors[f"datasets.{i}"] = [f"dataset {ref['id']!r} is withdrawn"]
        elif ver.approval_required and ver.approved_by is None:
            errors[f"datasets.{i}"] = [f"version {ref['version']} of {ref['id']!r} is not approved"]
        elif row.published_version != ref["version"]:
            errors[f"datasets.{i}"] = [
                f"{ref['id']!r} was revised: version {row.published_version} is published, the "
                f"contract names version {ref['version']}; name the dataset again in the draft "
                f"to cover version {row.published_version}"
            ]
        else:
            for field, problem in mismatches(ref, ver.metadata).items():
                errors[f"datasets.{i}.{field}"] = [problem]
    if errors:
        raise Invalid("unusable datasets", errors)
    _check_dataset_terms(conn, document, own)


def _check_parties(conn: Connection, document: dict[str, Any]) -> None:
    """Every party is a member, named with the key this node has for it."""
    errors: dict[str, list[str]] = {}
    for i, party in enumerate(document["parties"]):
        key = conn.execute(
            select(MEMBER.c.public_key).where(MEMBER.c.origin == party["origin"])
        ).scalar()
        if key is None:
            errors[f"parties.{i}.origin"] = [f"no member institution {party['origin']!r}"]
        elif key != party["public_key"]:
            errors[f"parties.{i}.public_key"] = ["is not the key this node has for that member"]
    if errors:
        raise Invalid("unknown parties", errors)


def _checked(document: dict[str, Any]) -> dict[str, Any]:
    try:
        check_document(document)
    except ContractDocumentError as exc:
        raise Invalid("the contract is not valid", exc.errors) from exc
    return document


def _compose(
    conn: Connection, base: dict[str, Any], data: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """The steward's values over ``base``, then the node's own fields, then validation."""
    own = self_member(conn).origin
    document = merge(base, {k: v for k, v in data["terms"].items() if k not in _NODE_FIELDS})
    if "title" in data:
        document["title"] = data["title"]
    if "parties" in data:
        document["parties"] = _parties(conn, data["parties"])
    if "datasets" in data:
        document["datasets"] = _datasets(conn, data["datasets"], own)
    document.update(identity)
    document = _checked(normalise(document))
    _check_parties(conn, document)
    _check_local_datasets(conn, document, own)
    return document


def _looser(shorthand: str, dataset: dict[str, Any], contract: dict[str, Any]) -> str | None:
    """How a contract's modifier parameters are looser than the dataset's, if they are."""
    if shorthand == "GS":
        outside = sorted(set(contract["regions"]) - set(dataset["regions"]))
        if outside:
            return (
                f"may be used only in {', '.join(dataset['regions'])}; "
                f"the contract also allows {', '.join(outside)}"
            )
    if shorthand == "TS" and contract["months"] > dataset["months"]:
        return f"limits use to {dataset['months']} months; the contract allows {contract['months']}"
    if shorthand == "MOR" and contract["until"] < dataset["until"]:
        return (
            f"bars publication until {dataset['until']}; "
            f"the contract only until {contract['until']}"
        )
    return None


def _check_dataset_terms(conn: Connection, document: dict[str, Any], own: str) -> None:
    """A contract may not allow more than this node's datasets declare.

    Every purpose must be covered by each local dataset's DUO permissions (GRU ⊃ HMB ⊃ DS),
    and every condition a dataset declares (its DUO modifiers) must be in the contract: a
    steward cannot sign away, by choosing a looser template, what the data's consent allows.
    """
    errors: dict[str, list[str]] = {}
    contract_modifiers = {m["code"]: m for m in document["modifiers"]}
    for ref in document["datasets"]:
        if ref["provider"] != own:
            continue
        meta = _version_metadata(conn, ref["id"], ref["version"])
        if meta is None:
            continue  # reported by _check_local_datasets
        allowed = meta["duo"]["permissions"]
        for purpose in document["purposes"]:
            if not any(covers(p, purpose["code"]) for p in allowed):
                errors.setdefault("purposes", []).append(
                    f"{resolve(purpose['code']).shorthand} is not covered by {ref['id']}'s "
                    f"permissions ({', '.join(resolve(p).shorthand for p in allowed)})"
                )
            elif (
                resolve(purpose["code"]).shorthand == "DS"
                and meta["duo"].get("diseases")
                and purpose.get("disease") not in meta["duo"]["diseases"]
            ):
                errors.setdefault("purposes", []).append(
                    f"{ref['id']} allows disease-specific use only for "
                    f"{', '.join(meta['duo']['diseases'])}"
                )
        for modifier in meta["duo"]["modifiers"]:
            term = resolve(modifier["code"])
            ours = contract_modifiers.get(modifier["code"])
            if ours is None:
                errors.setdefault("modifiers", []).append(
                    f"{ref['id']} requires {term.shorthand} ({term.label}); "
                    "the contract must include it"
                )
                continue
            looser = _looser(term.shorthand, modifier, ours)
            if looser:
                errors.setdefault("modifiers", []).append(f"{ref['id']} {looser}")
    if errors:
        raise Invalid("the contract allows more than its datasets do", errors)


# --- commands --------------------------------------------------------------------------------


def draft_contract(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    """Start a contract from a template, filled in with the steward's values."""
    actor.require(STEWARD)
    data = DraftSchema().load(payload)
    try:
        template = load_template(data["template"])
    except TemplateError as exc:
        raise Invalid("unknown template", {"template": [str(exc)]}) from exc
    values = {
        **data["terms"],
        **{k: data[k] for k in ("title", "parties", "datasets") if k in data},
    }
    missing = missing_fields(template, values)
    if missing:
        raise Invalid(
            "the template needs more values", {m: ["required by this template"] for m in missing}
        )
    with ledger.transaction() as tx:
        contract_id = new_id("ctr")
        base = template.fill({})
        identity = {"id": contract_id, "version": 1, "amends": None, "template": template.name}
        document = _compose(tx.conn, base, data, identity)
        return record(
            tx,
            "contract.drafted",
            actor.name,
            {"contract": contract_id, "version": 1, "document": document},
        )


def revise_draft(ledger: Ledger, actor: Actor, contract_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    data = AmendSchema().load(payload)
    with ledger.transaction() as tx:
        row = _row(tx.conn, contract_id)
        if row.status != DRAFT:
            raise Conflict(f"contract {contract_id!r} is {row.status}; only drafts change")
        identity = {k: row.document[k] for k in _NODE_FIELDS}
        document = _compose(tx.conn, row.document, data, identity)
        return record(
            tx,
            "contract.revised",
            actor.name,
            {"contract": contract_id, "version": row.version, "document": document},
        )


def propose_contract(ledger: Ledger, actor: Actor, contract_id: str) -> Event:
    """Freeze the draft: from now on the parties sign exactly these bytes."""
    actor.require(STEWARD)
    with ledger.transaction() as tx:
        row = _row(tx.conn, contract_id)
        if row.status != DRAFT:
            raise Conflict(f"contract {contract_id!r} is {row.status}, not a draft")
        _checked(row.document)
        _check_term_open(row.document)
        _check_parties(tx.conn, row.document)
        _check_local_datasets(tx.conn, row.document, self_member(tx.conn).origin)
        _check_amended_in_force(tx.conn, row.document)
        return record(
            tx,
            "contract.proposed",
            actor.name,
            {
                "contract": contract_id,
                "version": row.version,
                "digest": document_digest(row.document),
            },
        )


def contract_status(conn: Connection, contract_id: str, version: int) -> str | None:
    """One contract version's status, or None if there is no such version."""
    return conn.execute(
        select(CONTRACT.c.status).where(CONTRACT.c.id == contract_id, CONTRACT.c.version == version)
    ).scalar()


def _check_amended_in_force(conn: Connection, document: dict[str, Any]) -> None:
    """An amendment can only replace the version in force."""
    amends = document.get("amends")
    if not amends:
        return
    status = contract_status(conn, amends["id"], amends["version"])
    if status != ACTIVE:
        raise Conflict(
            f"version {document['version']} amends version {amends['version']}, which is "
            f"{status}; terminate this amendment"
        )


def _check_term_open(document: dict[str, Any]) -> None:
    """A contract whose last day has passed can no longer be agreed to."""
    end = document["term"]["end"]
    if end < datetime.now(UTC).date().isoformat():
        raise Conflict(
            f"the contract's term ended on {end}; a contract that has ended cannot be agreed to"
        )


def _signature_event(tx: Any, actor: Actor, row: Any, party: str, signature: str) -> Event:
    parties = {p["origin"]: p for p in row.document["parties"]}
    if party not in parties:
        raise Invalid("not a party", {"party": [f"{party!r} is not a party to this contract"]})
    already = tx.conn.execute(
        select(SIGNATURE.c.party).where(
            SIGNATURE.c.contract_id == row.id,
            SIGNATURE.c.version == row.version,
            SIGNATURE.c.party == party,
        )
    ).first()
    if already is not None:
        raise Conflict(f"{party!r} has signed version {row.version} of {row.id!r} already")
    if row.status != PROPOSED:
        raise Conflict(f"contract {row.id!r} is {row.status}; only proposed contracts are signed")
    _check_term_open(row.document)
    _check_amended_in_force(tx.conn, row.document)
    check_signature(parties[party]["public_key"], row.document, signature)
    return record(
        tx,
        "contract.signed",
        actor.name,
        {
            "contract": row.id,
            "version": row.version,
            "digest": row.digest,
            "party": party,
            "signature": signature,
        },
    )


def sign_contract(ledger: Ledger, key: NodeKey, actor: Actor, contract_id: str) -> Event:
    """This node's institution signs, on its steward's instruction."""
    actor.require(STEWARD)
    with ledger.transaction() as tx:
        row = _row(tx.conn, contract_id)
        own = self_member(tx.conn).origin
        signature = sign_document(key, row.document)
        return _signature_event(tx, actor, row, own, signature)


def add_signature(ledger: Ledger, actor: Actor, contract_id: str, payload: dict) -> Event:
    """Record another party's signature, made on its own node (`countersign`)."""
    actor.require(STEWARD)
    data = SignatureSchema().load(payload)
    with ledger.transaction() as tx:
        row = _row(tx.conn, contract_id)
        return _signature_event(tx, actor, row, data["party"], data["signature"])


def countersign(ledger: Ledger, key: NodeKey, actor: Actor, document: dict[str, Any]) -> str:
    """Sign another institution's proposed contract as a party, and keep a record of it.

    The proposing node records the returned signature with `add_signature`.
    """
    actor.require(STEWARD)
    document = _checked(document)
    with ledger.transaction() as tx:
        own = self_member(tx.conn)
        mine = [p for p in document["parties"] if p["origin"] == own.origin]
        if not mine or mine[0]["public_key"] != own.public_key:
            raise Invalid(
                "not a party",
                {"parties": ["this institution (with this node's key) is not a party"]},
            )
        if tx.conn.execute(select(CONTRACT.c.id).where(CONTRACT.c.id == document["id"])).first():
            raise Conflict(
                f"contract {document['id']!r} was drafted on this node; sign it with "
                "`contract sign`, not as someone else's proposal"
            )
        check_not_countersigned(tx.conn, CONTRACT_DOCUMENT, document["id"], document["version"])
        _check_term_open(document)
        _check_local_datasets(tx.conn, document, own.origin)
        signature = sign_document(key, document)
        record(
            tx,
            "contract.countersigned",
            actor.name,
            {
                "contract": document["id"],
                "version": document["version"],
                "digest": document_digest(document),
                "title": document["title"],
                "signature": signature,
            },
        )
        return signature


def record_termination(
    tx: LedgerTransaction, actor: Actor, contract_id: str, payload: dict
) -> Event:
    """End the contract: every version still in force or pending, or just ``version``.

    Naming a version drops only that one, e.g. an amendment the parties no longer want,
    while the version in force stays active. The grants resting on a contract end with it,
    which the access side records in the same transaction
    (`consortium.access.termination.terminate_contract`, the command to call).
    """
    actor.require(STEWARD)
    data = TerminateSchema().load(payload)
    rows = tx.conn.execute(
        select(CONTRACT.c.version, CONTRACT.c.status)
        .where(CONTRACT.c.id == contract_id)
        .order_by(CONTRACT.c.version)
    ).all()
    if not rows:
        raise NotFound(f"no contract {contract_id!r}")
    live = [r.version for r in rows if r.status in (DRAFT, PROPOSED, ACTIVE)]
    if "version" in data:
        status = {r.version: r.status for r in rows}.get(data["version"])
        if status is None:
            raise NotFound(f"no version {data['version']} of contract {contract_id!r}")
        if data["version"] not in live:
            raise Conflict(f"version {data['version']} is {status}; it cannot be terminated")
        pending = [r.version for r in rows if r.status in (DRAFT, PROPOSED)]
        if status == ACTIVE and pending:
            raise Conflict(
                f"version {pending[-1]} amends the version in force; terminate it first, "
                "or terminate the whole contract (without --version)"
            )
        live = [data["version"]]
    if not live:
        raise Conflict(f"contract {contract_id!r} is {rows[-1].status}; nothing to terminate")
    return record(
        tx,
        "contract.terminated",
        actor.name,
        {"contract": contract_id, "versions": live, "reason": data["reason"]},
    )


def amend_contract(ledger: Ledger, actor: Actor, contract_id: str, payload: dict) -> Event:
    """Draft the next version of an active contract; it supersedes the old one once signed."""
    actor.require(STEWARD)
    data = AmendSchema().load(payload)
    with ledger.transaction() as tx:
        rows = tx.conn.execute(
            select(CONTRACT).where(CONTRACT.c.id == contract_id).order_by(CONTRACT.c.version)
        ).all()
        if not rows:
            raise NotFound(f"no contract {contract_id!r}")
        pending = [r for r in rows if r.status in (DRAFT, PROPOSED)]
        if pending:
            raise Conflict(
                f"version {pending[-1].version} of {contract_id!r} is a pending amendment "
                f"({pending[-1].status}); finish or terminate that version first"
            )
        active = [r for r in rows if r.status == ACTIVE]
        if not active:
            raise Conflict(f"contract {contract_id!r} is {rows[-1].status}; only active ones amend")
        row = active[-1]
        version = rows[-1].version + 1
        identity = {
            "id": contract_id,
            "version": version,
            "amends": {"id": contract_id, "version": row.version},
            "template": row.template,
        }
        document = _compose(tx.conn, row.document, data, identity)
        return record(
            tx,
            "contract.drafted",
            actor.name,
            {"contract": contract_id, "version": version, "document": document},
        )


def expire_contracts(ledger: Ledger, actor: Actor, today: date | None = None) -> list[Event]:
    """Expire every active contract whose term ended before ``today`` (the scheduled job)."""
    today = today or datetime.now(UTC).date()
    done = []
    with ledger.transaction() as tx:
        due = tx.conn.execute(
            select(CONTRACT.c.id, CONTRACT.c.version).where(
                CONTRACT.c.status == ACTIVE, CONTRACT.c.term_end < today.isoformat()
            )
        ).all()
        for contract_id, version in due:
            done.append(
                record(
                    tx,
                    "contract.expired",
                    actor.name,
                    {"contract": contract_id, "version": version, "on": today.isoformat()},
                )
            )
    return done


# --- projectors ------------------------------------------------------------------------------


def _set_status(conn: Connection, event: Event, status: str, **extra: Any) -> None:
    b = event.body
    conn.execute(
        update(CONTRACT)
        .where(CONTRACT.c.id == b["contract"], CONTRACT.c.version == b["version"])
        .values(status=status, changed_at=event.time, **extra)
    )


@projects("contract.drafted")
def _drafted(conn: Connection, event: Event) -> None:
    doc = event.body["document"]
    conn.execute(
        insert(CONTRACT).values(
            id=doc["id"],
            version=doc["version"],
            status=DRAFT,
            title=doc["title"],
            template=doc["template"],
            document=doc,
            term_end=doc["term"]["end"],
            drafted_by=event.actor,
            drafted_at=event.time,
            changed_at=event.time,
        )
    )


@projects("contract.revised")
def _revised(conn: Connection, event: Event) -> None:
    doc = event.body["document"]
    _set_status(conn, event, DRAFT, document=doc, title=doc["title"], term_end=doc["term"]["end"])


@projects("contract.proposed")
def _proposed(conn: Connection, event: Event) -> None:
    _set_status(conn, event, PROPOSED, digest=event.body["digest"])


@projects("contract.signed")
def _signed(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(SIGNATURE).values(
            contract_id=b["contract"],
            version=b["version"],
            party=b["party"],
            signature=b["signature"],
            recorded_by=event.actor,
            recorded_at=event.time,
            entry_index=event.index,
        )
    )
    row = _row(conn, b["contract"], b["version"])
    signed = set(
        conn.execute(
            select(SIGNATURE.c.party).where(
                SIGNATURE.c.contract_id == row.id, SIGNATURE.c.version == row.version
            )
        ).scalars()
    )
    if signed >= {p["origin"] for p in row.document["parties"]}:
        _set_status(conn, event, ACTIVE)
        amends = row.document.get("amends")
        if amends:
            conn.execute(
                update(CONTRACT)
                .where(
                    CONTRACT.c.id == amends["id"],
                    CONTRACT.c.version == amends["version"],
                    CONTRACT.c.status == ACTIVE,
                )
                .values(status=SUPERSEDED, changed_at=event.time)
            )


@projects("contract.terminated")
def _terminated(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        update(CONTRACT)
        .where(CONTRACT.c.id == b["contract"], CONTRACT.c.version.in_(b["versions"]))
        .values(status=TERMINATED, changed_at=event.time, end_reason=b["reason"])
    )


@projects("contract.countersigned")
def _countersigned(conn: Connection, event: Event) -> None:
    project_countersignature(
        conn, event, CONTRACT_DOCUMENT, event.body["contract"], event.body["title"]
    )


@projects("contract.expired")
def _expired(conn: Connection, event: Event) -> None:
    _set_status(conn, event, EXPIRED, end_reason=f"term ended; expired on {event.body['on']}")
