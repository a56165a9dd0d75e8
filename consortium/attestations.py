"""Attestations: an institution's signed statement, such as "copy deleted as the contract
requires". The first kind of entry users create; later kinds follow the same shape: a
marshmallow schema that both the API and the CLI use, and a command that validates, then
appends, in one transaction.
"""

from __future__ import annotations

from typing import Any

import orjson
from marshmallow import Schema, ValidationError, validate, validates_schema

from consortium.auth.roles import ADMIN, STEWARD, Actor
from consortium.disclosure.store import seal_body
from consortium.ledger.log import Appended, Ledger
from consortium.text import PlainDict, Text

KIND = "attestation"
MAX_DETAILS_BYTES = 16 * 1024


class AttestationSchema(Schema):
    """What an attestation says. Unknown fields are refused, not silently dropped."""

    statement = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=4000),
            validate.Regexp(r"\S", error="must not be blank"),
        ],
        metadata={
            "description": "The statement, in plain words.",
            "example": "All copies of dataset D-17 were deleted as contract C-4 requires.",
        },
    )
    subject = Text(
        validate=validate.Length(min=1, max=256),
        metadata={
            "description": "What the statement is about (a dataset, contract or grant id).",
            "example": "contract:C-4",
        },
    )
    details = PlainDict(
        keys=Text(),
        metadata={"description": "Further structured facts (at most 16 KiB as JSON)."},
    )

    @validates_schema
    def _details_size(self, data: dict[str, Any], **_: Any) -> None:
        details = data.get("details")
        if details is None:
            return
        try:
            size = len(orjson.dumps(details))
        except TypeError as exc:
            raise ValidationError("details must be plain JSON", "details") from exc
        if size > MAX_DETAILS_BYTES:
            raise ValidationError(f"details must be at most {MAX_DETAILS_BYTES} bytes", "details")
        if unportable_number(details):
            raise ValidationError(
                "details may hold only whole numbers up to 2^53; write others as strings",
                "details",
            )


def unportable_number(value: Any) -> bool:
    """Fractions and huge integers are refused: their JSON text is where languages disagree."""
    if isinstance(value, float):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) > 2**53 - 1
    if isinstance(value, dict):
        return any(unportable_number(v) for v in value.values())
    if isinstance(value, list):
        return any(unportable_number(v) for v in value)
    return False


def record_attestation(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Appended:
    """Validate ``payload`` and append it as an attestation by ``actor`` (steward or admin).

    Raises marshmallow's ValidationError (with field messages) before anything is written.
    """
    actor.require(STEWARD, ADMIN)
    body = AttestationSchema().load(payload)
    with ledger.transaction() as tx:
        signed_actor, clear = seal_body(tx.conn, KIND, actor.name, body)
        return tx.append(KIND, signed_actor, clear)
