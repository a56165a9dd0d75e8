"""The catalogue: how a researcher finds datasets to ask for.

Search runs over the metadata the reader may see and nothing else, so it never reveals what a
withheld record says: a restricted dataset's description does not make it match for someone
who could not read that description. Words match title, description, keywords, the standard
the data conforms to and the creators' and contributors' names; a purpose (a DUO permission)
matches datasets whose own DUO permissions cover it, following the hierarchy NRES ⊃ GRU ⊃
HMB ⊃ DS (`consortium.duo.covers`). Whether the *diseases* of a DS purpose match is left to
the request's compatibility check, which explains its answer.

Each result names the active contracts under which the dataset can be requested here: a
dataset under none can be found but not yet requested.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, validate, validates
from sqlalchemy import Connection, Engine, select

from consortium.auth.roles import Actor
from consortium.contracts.lifecycle import ACTIVE, CONTRACT
from consortium.duo import DuoError, covers, permission
from consortium.registry.datasets import STATUSES, list_datasets
from consortium.registry.members import self_member
from consortium.text import Text


class SearchSchema(Schema):
    status = Text(validate=validate.OneOf(STATUSES))
    q = Text(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "Words that must all appear in the metadata (any case).",
            "example": "diabetes HbA1c",
        },
    )
    purpose = Text(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "A DUO permission (GRU, HMB, DS, POA…): only datasets whose "
            "permissions cover it.",
            "example": "HMB",
        },
    )

    @validates("purpose")
    def _purpose(self, value: str, **_: Any) -> None:
        try:
            permission(value, "purpose")
        except DuoError as exc:
            raise ValidationError(str(exc)) from exc


def active_contracts(conn: Connection, dataset_id: str) -> list[Any]:
    """The active contracts under which this node provides the dataset."""
    own = self_member(conn).origin
    rows = conn.execute(
        select(CONTRACT).where(CONTRACT.c.status == ACTIVE).order_by(CONTRACT.c.id)
    ).all()
    return [
        r
        for r in rows
        if any(d["id"] == dataset_id and d["provider"] == own for d in r.document["datasets"])
    ]


def _words(metadata: dict[str, Any]) -> str:
    people = [p["name"] for p in (*metadata.get("creators", []), *metadata["contributors"])]
    parts = [
        metadata["title"],
        metadata.get("description", ""),
        metadata.get("conforms_to", ""),
        *metadata.get("keywords", []),
        *people,
    ]
    return " ".join(parts).casefold()


def _matches(metadata: dict[str, Any] | None, words: list[str], purpose: str | None) -> bool:
    if metadata is None:
        return not words and purpose is None
    if not all(w in _words(metadata) for w in words):
        return False
    granted = metadata["duo"]["permissions"]
    return purpose is None or any(covers(code, purpose) for code in granted)


def search(
    engine: Engine,
    actor: Actor | None,
    q: str | None = None,
    purpose: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Datasets the reader may see that match every criterion given, oldest first."""
    words = (q or "").casefold().split()
    found = [
        view
        for view in list_datasets(engine, actor, status)
        if _matches(view.get("metadata"), words, purpose)
    ]
    with engine.connect() as conn:
        for view in found:
            view["contracts"] = [c.id for c in active_contracts(conn, view["id"])]
    return found
