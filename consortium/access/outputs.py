"""What came of a grant: publications, preprints, derived datasets, software, citations —
reported by the grant's holder, signed on the ledger, and the basis of the credit that flows
back to the data's contributors.

A derived dataset must be registered (by a steward, with ``derived_from`` naming the granted
data) while the grant is active: deriving data from an expired or revoked grant is using it
without a right, so the report is refused. Publications and citations may come later.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import JSON, Column, Connection, Engine, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.access.grants import ACTIVE, GRANT, READERS
from consortium.auth.roles import Actor
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.datasets import DATASET, VERSION
from consortium.text import Text

KINDS = ("publication", "preprint", "derived_dataset", "software", "citation")
DOI = re.compile(r"10\.\d{4,9}/\S+")
# How people paste a DOI: bare, as a resolver link (old or new), or with the "doi:" scheme.
_DOI_PREFIX = re.compile(r"(?:doi:|https?://(?:dx\.)?doi\.org/)\s*", re.IGNORECASE)
DOI_FORMS = "a DOI such as 10.1000/xyz123 (or doi:10.1000/xyz123, https://doi.org/10.1000/xyz123)"


def normalise_doi(value: str) -> str | None:
    """The DOI as stored: bare and in lower case, or None if ``value`` is not a DOI.

    DOIs are case-insensitive (the DOI Handbook, 3.4), so ``10.1000/ABC`` and
    ``https://doi.org/10.1000/abc`` name one work, and must count as one output.
    """
    bare = _DOI_PREFIX.sub("", value.strip(), count=1)
    return bare.lower() if DOI.fullmatch(bare) else None


class Doi(Text):
    """A DOI in any of the forms people paste, loaded as its normalised form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        doi = normalise_doi(super()._deserialize(value, attr, data, **kwargs))
        if doi is None:
            raise ValidationError(DOI_FORMS)
        return doi


def _not_in_future(day: date) -> None:
    if day > datetime.now(UTC).date():
        raise ValidationError("is in the future: report an output once it has appeared")


class Output(SQLModel, table=True):
    __tablename__ = "output"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    grant_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    details: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    datasets: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    reported_by: str = Field(sa_column=Column(String(128), nullable=False))
    reported_at: str = Field(sa_column=Column(String(32), nullable=False))


OUTPUT = projection_table(Output.__table__)


class OutputSchema(Schema):
    kind = Text(required=True, validate=validate.OneOf(KINDS))
    title = Text(required=True, validate=validate.Length(min=1, max=500))
    doi = Doi(
        metadata={
            "description": "Bare, doi: or https://doi.org/…; stored bare and in lower case.",
            "example": "10.1101/2027.05.12.27012345",
        }
    )
    url = Text(validate=validate.Length(min=1, max=1000))
    date = fields.Date(
        validate=_not_in_future,
        metadata={"description": "When it was published or released; not in the future."},
    )
    derived_dataset = Text(
        metadata={"description": "For a derived dataset: its id, registered with provenance."}
    )

    @validates_schema
    def _kind(self, data: dict[str, Any], **_: Any) -> None:
        if data["kind"] == "derived_dataset" and "derived_dataset" not in data:
            raise ValidationError("a derived dataset output names the dataset", "derived_dataset")
        if data["kind"] in ("publication", "preprint") and not (data.get("doi") or data.get("url")):
            raise ValidationError("give the DOI (or a URL)", "doi")


def report_output(ledger: Ledger, actor: Actor, grant_id: str, payload: dict) -> Event:
    """The grant holder reports an output; it is linked to the granted datasets."""
    data = OutputSchema().load(payload)
    if "date" in data:
        data["date"] = data["date"].isoformat()
    with ledger.transaction() as tx:
        grant = tx.conn.execute(select(GRANT).where(GRANT.c.id == grant_id)).first()
        if grant is None:
            raise NotFound(f"no grant {grant_id!r}")
        if grant.holder != actor.name:
            raise Forbidden("only the grant's holder reports its outputs")
        granted = [d["id"] for d in grant.document["datasets"]]
        if "doi" in data:
            _check_doi_unreported(tx.conn, grant_id, data["doi"])
        if data["kind"] == "derived_dataset":
            if grant.status != ACTIVE:
                raise Conflict(
                    f"grant {grant_id!r} is {grant.status}: data cannot be derived under it"
                )
            _check_derivation(tx.conn, data["derived_dataset"], granted)
        output_id = new_id("out")
        return record(
            tx,
            "output.reported",
            actor.name,
            {"output": output_id, "grant": grant_id, "datasets": granted, **data},
        )


def _check_doi_unreported(conn: Connection, grant_id: str, doi: str) -> None:
    """One output per DOI per grant: the same work reported twice would count twice."""
    reported = conn.execute(
        select(OUTPUT.c.id, OUTPUT.c.details)
        .where(OUTPUT.c.grant_id == grant_id)
        .order_by(OUTPUT.c.reported_at, OUTPUT.c.id)
    )
    for output_id, details in reported:
        if "doi" in details and normalise_doi(details["doi"]) == doi:
            raise Conflict(f"{doi} was reported for grant {grant_id!r} already, as {output_id}")


def _check_derivation(conn: Connection, dataset_id: str, granted: list[str]) -> None:
    row = conn.execute(select(DATASET).where(DATASET.c.id == dataset_id)).first()
    if row is None:
        raise Invalid("unknown dataset", {"derived_dataset": [f"no dataset {dataset_id!r}"]})
    meta = conn.execute(
        select(VERSION.c.metadata).where(
            VERSION.c.dataset_id == dataset_id, VERSION.c.version == row.latest_version
        )
    ).scalar_one()
    sources = {s["dataset"] for s in meta["derived_from"]}
    if not sources & set(granted):
        raise Invalid(
            "no provenance",
            {"derived_dataset": ["its derived_from names none of the granted datasets"]},
        )


def list_outputs(engine: Engine, actor: Actor | None, grant_id: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        query = select(OUTPUT).order_by(OUTPUT.c.reported_at, OUTPUT.c.id)
        if grant_id:
            query = query.where(OUTPUT.c.grant_id == grant_id)
        rows = conn.execute(query).all()
    visible = actor is not None and actor.has(*READERS)
    return [_view(r) for r in rows if visible or (actor and r.reported_by == actor.name)]


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "grant": row.grant_id,
        "kind": row.kind,
        "datasets": row.datasets,
        "reported_by": row.reported_by,
        "reported_at": row.reported_at,
        **row.details,
    }


@projects("output.reported")
def _reported(conn: Connection, event: Event) -> None:
    b = event.body
    details = {k: v for k, v in b.items() if k not in ("output", "grant", "datasets", "kind")}
    conn.execute(
        insert(OUTPUT).values(
            id=b["output"],
            grant_id=b["grant"],
            kind=b["kind"],
            details=details,
            datasets=b["datasets"],
            reported_by=event.actor,
            reported_at=event.time,
        )
    )
