"""Datasets: register, revise (a new version; old versions stay), approve, withdraw, profile.

Each command is one ledger entry. Only public metadata is written on the ledger in clear;
for every other tier the entry carries a sealed digest (see `consortium.registry.sealed`) and
the node shows the metadata to the roles the tier allows (`can_see`).

Publishing needs a department director's co-approval when the institution's settings say
so; the approver must not be the steward who registered that version (four eyes).
"""

from __future__ import annotations

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

from consortium.attestations import unportable_number
from consortium.auth.people import person_row
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, RESEARCHER, STEWARD, Actor
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.members import MEMBER, self_member
from consortium.registry.metadata import (
    CONSORTIUM,
    HIGHLY_SENSITIVE,
    PUBLIC,
    RESTRICTED,
    DatasetMetadataSchema,
)
from consortium.registry.sealed import seal, sealed_bytes, unseal
from consortium.registry.settings import current_settings
from consortium.text import MAX_ID, PlainDict, Text, bad_text_path

AWAITING = "awaiting-approval"
PUBLISHED = "published"
WITHDRAWN = "withdrawn"
STATUSES = (AWAITING, PUBLISHED, WITHDRAWN)

# Who may read a dataset's metadata, by tier. Anonymous readers see public metadata only.
READERS: dict[str, frozenset[str] | None] = {
    PUBLIC: None,  # everyone
    CONSORTIUM: frozenset({ADMIN, STEWARD, DIRECTOR, RESEARCHER, "lead", AUDITOR}),
    RESTRICTED: frozenset({ADMIN, STEWARD, DIRECTOR, RESEARCHER, AUDITOR}),
    HIGHLY_SENSITIVE: frozenset({ADMIN, STEWARD, DIRECTOR, AUDITOR}),
}
# Versions not yet approved are the institution's internal business.
GOVERNORS = frozenset({ADMIN, STEWARD, DIRECTOR, AUDITOR})


class Dataset(SQLModel, table=True):
    __tablename__ = "dataset"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    sensitivity: str = Field(sa_column=Column(String(32), nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    publisher: str = Field(sa_column=Column(String(255), nullable=False))
    latest_version: int = Field(sa_column=Column(Integer, nullable=False))
    published_version: int | None = Field(sa_column=Column(Integer, nullable=True))
    registered_at: str = Field(sa_column=Column(String(32), nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))
    withdrawn_reason: str | None = Field(sa_column=Column(String(2000), nullable=True))
    consent_withdrawn_at: str | None = Field(sa_column=Column(String(32), nullable=True))


class DatasetVersion(SQLModel, table=True):
    __tablename__ = "dataset_version"

    dataset_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", JSON, nullable=False))
    sealed: str | None = Field(sa_column=Column(String(44), nullable=True))
    approval_required: bool = Field(sa_column=Column(Boolean, nullable=False))
    registered_by: str = Field(sa_column=Column(String(128), nullable=False))
    registered_at: str = Field(sa_column=Column(String(32), nullable=False))
    entry_index: int = Field(sa_column=Column(Integer, nullable=False))
    approved_by: str | None = Field(sa_column=Column(String(128), nullable=True))
    approved_at: str | None = Field(sa_column=Column(String(32), nullable=True))


class DatasetProfile(SQLModel, table=True):
    __tablename__ = "dataset_profile"

    entry_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    dataset_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    summary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    sealed: str | None = Field(sa_column=Column(String(44), nullable=True))
    attested_by: str = Field(sa_column=Column(String(128), nullable=False))
    attested_at: str = Field(sa_column=Column(String(32), nullable=False))


DATASET = projection_table(Dataset.__table__)
VERSION = projection_table(DatasetVersion.__table__)
PROFILE = projection_table(DatasetProfile.__table__)


class WithdrawSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))


class ApproveSchema(Schema):
    version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The version. Default: the one version awaiting approval."},
    )


class ProfileSummarySchema(Schema):
    """The summary `consortium profile` writes; never the data. Extra facts are kept."""

    class Meta:
        unknown = "include"

    sha256 = Text(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    records = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=2**53 - 1)
    )
    bytes = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=2**53 - 1)
    )
    columns = fields.List(PlainDict(), load_default=list)
    identifier_findings = fields.List(PlainDict(), load_default=list)
    direct_identifiers_found = fields.Boolean(load_default=False)

    @validates_schema
    def _plain(self, data: dict[str, Any], **_: Any) -> None:
        found = bad_text_path(data)
        if found:
            raise ValidationError(f"{found[0]}: {found[1]}")
        if unportable_number(data):
            raise ValidationError("the summary may hold only whole numbers; write others as text")


class AttachProfileSchema(Schema):
    version = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Default: the latest."},
    )
    profile = fields.Nested(ProfileSummarySchema, required=True)
    identifiers_reviewed = Text(
        validate=validate.Length(min=1, max=2000),
        metadata={
            "description": "Required when the profile found direct identifiers: why they may "
            "stay (e.g. the matches were checked and are not identifiers)."
        },
    )

    @validates_schema
    def _identifiers(self, data: dict[str, Any], **_: Any) -> None:
        found = data["profile"].get("direct_identifiers_found")
        if found and not data.get("identifiers_reviewed"):
            raise ValidationError(
                "the profile found direct identifiers: remove them from the data and profile "
                "it again, or explain why they may stay (identifiers_reviewed; on the "
                "console, --identifiers-reviewed)",
                "identifiers_reviewed",
            )


# --- reads -----------------------------------------------------------------------------------


def can_see(actor: Actor | None, sensitivity: str) -> bool:
    readers = READERS[sensitivity]
    if readers is None:
        return True
    return actor is not None and actor.has(*readers)


def dataset_row(conn: Connection, dataset_id: str) -> Any:
    row = conn.execute(select(DATASET).where(DATASET.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(f"no dataset {dataset_id!r}")
    return row


def _open_dataset(conn: Connection, dataset_id: str) -> Any:
    """The dataset's row, for a command that only a dataset not withdrawn allows."""
    row = dataset_row(conn, dataset_id)
    if row.status == WITHDRAWN:
        raise Conflict(f"dataset {dataset_id!r} is withdrawn")
    return row


def _visible(actor: Actor | None, row: Any) -> bool:
    """Whether ``actor`` may know the dataset exists at all."""
    if row.published_version is None and not _governs(actor):
        return False
    return actor is not None or row.sensitivity == PUBLIC


def _governs(actor: Actor | None) -> bool:
    return actor is not None and actor.has(*GOVERNORS)


def _released(ver: Any) -> bool:
    """Whether a version was ever published (approved, or needing no approval)."""
    return not ver.approval_required or ver.approved_by is not None


def _view(conn: Connection, actor: Actor | None, row: Any, version: int | None = None) -> dict:
    """What ``actor`` may see of one version: the shown version's own tier decides.

    A dataset's tier can change between versions, so the tier of the published version says
    nothing about an older or newer one.
    """
    shown = version or row.published_version or row.latest_version
    ver = conn.execute(
        select(VERSION).where(VERSION.c.dataset_id == row.id, VERSION.c.version == shown)
    ).first()
    if ver is None or not (_governs(actor) or _released(ver)):
        raise NotFound(f"dataset {row.id!r} has no version {shown}")
    tier = ver.metadata["sensitivity"]
    view: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "sensitivity": row.sensitivity,
        "publisher": row.publisher,
        "latest_version": row.latest_version,
        "published_version": row.published_version,
        "version": shown,
        "version_sensitivity": tier,
        "registered_at": row.registered_at,
        "changed_at": row.changed_at,
    }
    if row.status == WITHDRAWN:
        view["withdrawn_reason"] = row.withdrawn_reason
    if row.consent_withdrawn_at is not None:
        view["consent_withdrawn_at"] = row.consent_withdrawn_at
    if can_see(actor, tier):
        view["metadata"] = _accounts_for(actor, ver.metadata)
        view["approved_by"] = ver.approved_by
        view["approved_at"] = ver.approved_at
        profiles = conn.execute(
            select(PROFILE)
            .where(PROFILE.c.dataset_id == row.id, PROFILE.c.version == shown)
            .order_by(PROFILE.c.entry_index)
        ).all()
        view["profiles"] = [
            {"entry": p.entry_index, "by": p.attested_by, "at": p.attested_at, **p.summary}
            for p in profiles
        ]
    else:
        view["metadata_withheld"] = True
    if ver.sealed:
        view["sealed_digest"] = ver.sealed
    return view


def _accounts_for(actor: Actor | None, metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata with contributors' account names only for the node's staff (and each person
    their own): which contributor is which account is personal (protocol §13)."""
    if actor is not None and actor.has(ADMIN, STEWARD, DIRECTOR):
        return metadata
    mine = actor.name if actor is not None else None
    return {
        **metadata,
        "contributors": [
            c if c.get("username") == mine else {k: v for k, v in c.items() if k != "username"}
            for c in metadata["contributors"]
        ],
    }


def list_datasets(engine: Engine, actor: Actor | None, status: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        query = select(DATASET).order_by(DATASET.c.registered_at, DATASET.c.id)
        if status:
            query = query.where(DATASET.c.status == status)
        return [_view(conn, actor, r) for r in conn.execute(query) if _visible(actor, r)]


def get_dataset(
    engine: Engine, actor: Actor | None, dataset_id: str, version: int | None = None
) -> dict:
    with engine.connect() as conn:
        row = dataset_row(conn, dataset_id)
        if not _visible(actor, row):
            raise NotFound(f"no dataset {dataset_id!r}")
        return _view(conn, actor, row, version)


def sealed_metadata(
    engine: Engine, actor: Actor | None, dataset_id: str, version: int | None = None
) -> bytes:
    """The exact salted bytes behind a version's ``metadata_sealed`` digest, for a reader
    the tier allows: SHA-256 of them must equal the digest in the signed ledger entry."""
    view = get_dataset(engine, actor, dataset_id, version)
    if "metadata" not in view:
        raise Forbidden("this dataset's metadata is not shown to your roles")
    if "sealed_digest" not in view:
        raise NotFound("this version's metadata is on the ledger in clear; nothing is sealed")
    with engine.connect() as conn:
        data = sealed_bytes(conn, view["sealed_digest"])
    if data is None:
        raise NotFound(f"sealed document {view['sealed_digest']} is missing from this node")
    return data


# --- commands --------------------------------------------------------------------------------


def _load_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    return DatasetMetadataSchema().load(payload)


def _check_references(conn: Connection, metadata: dict[str, Any], own_id: str | None) -> None:
    """Contributors' usernames must name people on this node, or no one would be told.
    Local sources must be published (at the version named); others must be members'."""
    own = self_member(conn).origin
    errors: dict[str, list[str]] = {
        f"contributors.{i}.username": [f"no person {c['username']!r} on this node"]
        for i, c in enumerate(metadata["contributors"])
        if "username" in c and person_row(conn, c["username"]) is None
    }
    for i, source in enumerate(metadata["derived_from"]):
        where = f"derived_from.{i}"
        publisher = source.get("publisher", own)
        if publisher != own:
            if conn.execute(select(MEMBER.c.origin).where(MEMBER.c.origin == publisher)).first():
                continue
            errors[f"{where}.publisher"] = [f"no member institution {publisher!r}"]
            continue
        row = conn.execute(select(DATASET).where(DATASET.c.id == source["dataset"])).first()
        if source["dataset"] == own_id:
            errors[f"{where}.dataset"] = ["a dataset cannot be derived from itself"]
        elif row is None or row.published_version is None or row.status == WITHDRAWN:
            errors[f"{where}.dataset"] = [
                f"no published dataset {source['dataset']!r} on this node "
                "(give its publisher if another institution holds it)"
            ]
        elif source.get("version", 1) > row.published_version:
            errors[f"{where}.version"] = [
                f"dataset {source['dataset']!r} has no published version {source['version']}"
            ]
    if own_id is not None and not errors:
        cycle = _derivation_cycle(conn, own_id, metadata["derived_from"], own)
        if cycle:
            errors["derived_from"] = [
                "a dataset cannot be derived, however indirectly, from itself"
                " (each derived from the next): " + " → ".join(cycle)
            ]
    if errors:
        titles = [
            title
            for field, title in (
                ("contributors.", "unknown contributors"),
                ("derived_from", "unusable source datasets"),
            )
            if any(path.startswith(field) for path in errors)
        ]
        raise Invalid("; ".join(titles), errors)


def _derivation_cycle(
    conn: Connection, own_id: str, sources: list[dict[str, Any]], own: str
) -> list[str] | None:
    """The path by which ``own_id`` would derive from itself through this node's datasets
    (their latest versions), or None. Credit cannot flow round a cycle, so it is refused."""
    latest = conn.execute(
        select(VERSION.c.dataset_id, VERSION.c.metadata).join(
            DATASET,
            (DATASET.c.id == VERSION.c.dataset_id)
            & (DATASET.c.latest_version == VERSION.c.version),
        )
    )
    derived = {
        d: [s["dataset"] for s in m.get("derived_from", []) if s.get("publisher", own) == own]
        for d, m in latest
    }
    derived[own_id] = [s["dataset"] for s in sources if s.get("publisher", own) == own]
    trail: dict[str, str] = {}
    todo = list(derived[own_id])
    for first in todo:
        trail.setdefault(first, own_id)
    while todo:
        here = todo.pop()
        if here == own_id:
            path = [own_id]
            step = trail[own_id]
            while step != own_id:
                path.append(step)
                step = trail[step]
            return [own_id, *reversed(path[1:]), own_id]
        for nxt in derived.get(here, []):
            if nxt not in trail:
                trail[nxt] = here
                todo.append(nxt)
    return None


def _version_body(
    conn: Connection, dataset_id: str, version: int, metadata: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset": dataset_id,
        "version": version,
        "sensitivity": metadata["sensitivity"],
        "approval_required": bool(current_settings(conn)["director_approval_required"]),
    }
    # Which contributor is which person of this node is personal (protocol §13): the link
    # goes into the entry's personal document, never into the metadata, public or sealed.
    contributors = [
        {k: v for k, v in c.items() if k != "username"} for c in metadata["contributors"]
    ]
    bare = {**metadata, "contributors": contributors}
    if metadata["sensitivity"] == PUBLIC:
        body["metadata"] = bare
    else:
        body["metadata_sealed"] = seal(conn, bare)
        # Members recompute credit from who made the data and what it came from.
        body["credit"] = {"contributors": contributors, "derived_from": metadata["derived_from"]}
    accounts = [
        {"contributor": i, "username": c["username"]}
        for i, c in enumerate(metadata["contributors"])
        if "username" in c
    ]
    if accounts:
        body["accounts"] = accounts
    return body


def register_dataset(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(STEWARD)
    metadata = _load_metadata(payload)
    with ledger.transaction() as tx:
        _check_references(tx.conn, metadata, None)
        dataset_id = new_id("ds")
        body = _version_body(tx.conn, dataset_id, 1, metadata)
        body["publisher"] = self_member(tx.conn).origin
        return record(tx, "dataset.registered", actor.name, body)


def revise_dataset(ledger: Ledger, actor: Actor, dataset_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    metadata = _load_metadata(payload)
    with ledger.transaction() as tx:
        row = _open_dataset(tx.conn, dataset_id)
        _check_references(tx.conn, metadata, dataset_id)
        body = _version_body(tx.conn, dataset_id, row.latest_version + 1, metadata)
        return record(tx, "dataset.revised", actor.name, body)


def awaiting_approval(conn: Connection, row: Any) -> list[int]:
    """The versions of a dataset that wait for a director: never approved, and newer than the
    published version (an older one can no longer be published)."""
    return list(
        conn.execute(
            select(VERSION.c.version)
            .where(
                VERSION.c.dataset_id == row.id,
                VERSION.c.approval_required.is_(True),
                VERSION.c.approved_by.is_(None),
                VERSION.c.version > (row.published_version or 0),
            )
            .order_by(VERSION.c.version)
        ).scalars()
    )


def _version_to_approve(conn: Connection, row: Any, data: dict[str, Any]) -> int:
    """The version named, or the one awaiting approval: a director should not have to look
    up a number when there is nothing to choose between."""
    if "version" in data:
        return data["version"]
    waiting = awaiting_approval(conn, row)
    if not waiting:
        raise Conflict(f"no version of {row.id!r} is awaiting approval")
    if len(waiting) > 1:
        listed = ", ".join(map(str, waiting))
        raise Invalid(
            "several versions await approval",
            {"version": [f"versions {listed} of {row.id!r} await approval: name one"]},
        )
    return waiting[0]


def approve_dataset(ledger: Ledger, actor: Actor, dataset_id: str, payload: dict) -> Event:
    actor.require(DIRECTOR)
    data = ApproveSchema().load(payload)
    with ledger.transaction() as tx:
        row = _open_dataset(tx.conn, dataset_id)
        version = _version_to_approve(tx.conn, row, data)
        ver = tx.conn.execute(
            select(VERSION).where(VERSION.c.dataset_id == dataset_id, VERSION.c.version == version)
        ).first()
        if ver is None:
            raise NotFound(f"dataset {dataset_id!r} has no version {version}")
        if not ver.approval_required or ver.approved_by is not None:
            raise Conflict(f"version {version} of {dataset_id!r} is not awaiting approval")
        if version != row.latest_version:
            raise Conflict(f"version {version} is superseded by {row.latest_version}")
        if ver.registered_by == actor.name:
            raise Forbidden("a version must be approved by someone other than who registered it")
        return record(
            tx, "dataset.approved", actor.name, {"dataset": dataset_id, "version": version}
        )


def withdraw_dataset(ledger: Ledger, actor: Actor, dataset_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    reason = WithdrawSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        row = dataset_row(tx.conn, dataset_id)
        if row.status == WITHDRAWN:
            raise Conflict(f"dataset {dataset_id!r} is withdrawn already")
        return record(
            tx, "dataset.withdrawn", actor.name, {"dataset": dataset_id, "reason": reason}
        )


def attach_profile(ledger: Ledger, actor: Actor, dataset_id: str, payload: dict) -> Event:
    """Record a profile summary as the institution's signed quality attestation."""
    actor.require(STEWARD)
    data = AttachProfileSchema().load(payload)
    with ledger.transaction() as tx:
        row = _open_dataset(tx.conn, dataset_id)
        version = data.get("version", row.latest_version)
        if version > row.latest_version:
            raise NotFound(f"dataset {dataset_id!r} has no version {version}")
        profile = dict(data["profile"])
        if "identifiers_reviewed" in data:
            profile["identifiers_reviewed"] = data["identifiers_reviewed"]
        tier = tx.conn.execute(
            select(VERSION.c.metadata).where(
                VERSION.c.dataset_id == dataset_id, VERSION.c.version == version
            )
        ).scalar_one()["sensitivity"]
        body: dict[str, Any] = {"dataset": dataset_id, "version": version}
        # The profiled version's own tier decides: column names can be as telling as a title.
        if tier == PUBLIC:
            body["profile"] = profile
        else:
            body["profile_sealed"] = seal(tx.conn, profile)
        return record(tx, "dataset.profiled", actor.name, body)


# --- projectors ------------------------------------------------------------------------------


def _metadata(conn: Connection, body: dict[str, Any], field: str) -> dict[str, Any]:
    sealed = body.get(f"{field}_sealed")
    return unseal(conn, sealed) if sealed else body[field]


def _insert_version(conn: Connection, event: Event) -> dict[str, Any]:
    b = event.body
    metadata = _metadata(conn, b, "metadata")
    accounts = b.get("accounts")
    if isinstance(accounts, list):  # erased, it reads as a marker: the links are gone
        contributors = [dict(c) for c in metadata["contributors"]]
        for link in accounts:
            contributors[link["contributor"]]["username"] = link["username"]
        metadata = {**metadata, "contributors": contributors}
    conn.execute(
        insert(VERSION).values(
            dataset_id=b["dataset"],
            version=b["version"],
            metadata=metadata,
            sealed=b.get("metadata_sealed"),
            approval_required=b["approval_required"],
            registered_by=event.actor,
            registered_at=event.time,
            entry_index=event.index,
        )
    )
    return metadata


@projects("dataset.registered")
def _registered(conn: Connection, event: Event) -> None:
    b = event.body
    metadata = _insert_version(conn, event)
    published = None if b["approval_required"] else 1
    conn.execute(
        insert(DATASET).values(
            id=b["dataset"],
            status=PUBLISHED if published else AWAITING,
            sensitivity=b["sensitivity"],
            title=metadata["title"],
            publisher=b["publisher"],
            latest_version=1,
            published_version=published,
            registered_at=event.time,
            changed_at=event.time,
        )
    )


@projects("dataset.revised")
def _revised(conn: Connection, event: Event) -> None:
    b = event.body
    metadata = _insert_version(conn, event)
    values: dict[str, Any] = {"latest_version": b["version"], "changed_at": event.time}
    if not b["approval_required"]:
        values.update(
            published_version=b["version"],
            status=PUBLISHED,
            sensitivity=b["sensitivity"],
            title=metadata["title"],
        )
    conn.execute(update(DATASET).where(DATASET.c.id == b["dataset"]).values(**values))


@projects("dataset.approved")
def _approved(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        update(VERSION)
        .where(VERSION.c.dataset_id == b["dataset"], VERSION.c.version == b["version"])
        .values(approved_by=event.actor, approved_at=event.time)
    )
    ver = conn.execute(
        select(VERSION).where(
            VERSION.c.dataset_id == b["dataset"], VERSION.c.version == b["version"]
        )
    ).one()
    conn.execute(
        update(DATASET)
        .where(DATASET.c.id == b["dataset"])
        .values(
            published_version=b["version"],
            status=PUBLISHED,
            sensitivity=ver.metadata["sensitivity"],
            title=ver.metadata["title"],
            changed_at=event.time,
        )
    )


@projects("dataset.withdrawn")
def _withdrawn(conn: Connection, event: Event) -> None:
    conn.execute(
        update(DATASET)
        .where(DATASET.c.id == event.body["dataset"])
        .values(status=WITHDRAWN, withdrawn_reason=event.body["reason"], changed_at=event.time)
    )


@projects("dataset.profiled")
def _profiled(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(PROFILE).values(
            entry_index=event.index,
            dataset_id=b["dataset"],
            version=b["version"],
            summary=_metadata(conn, b, "profile"),
            sealed=b.get("profile_sealed"),
            attested_by=event.actor,
            attested_at=event.time,
        )
    )
