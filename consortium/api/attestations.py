"""``/api/v1/attestations``: record an institution's signed statement on the ledger."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, node, require_actor
from consortium.api.ledger import EntrySchema
from consortium.attestations import AttestationSchema, record_attestation
from consortium.auth.roles import ADMIN, STEWARD
from consortium.crypto.canonical import parse
from consortium.crypto.keys import b64encode
from consortium.text import Text

blp = Blueprint(
    "attestations",
    __name__,
    url_prefix="/api/v1/attestations",
    description="Signed statements by this node's institution.",
)


class RecordedSchema(Schema):
    index = fields.Integer(
        strict=True, metadata={"description": "The entry's index in the ledger."}
    )
    leaf_hash = Text(metadata={"description": "Base64 RFC 6962 leaf hash of the entry."})
    entry = fields.Nested(EntrySchema)


@blp.route("")
class Attestations(MethodView):
    @blp.doc(security=[{BEARER: []}])
    @require_actor(STEWARD, ADMIN)
    @blp.arguments(AttestationSchema)
    @blp.response(201, RecordedSchema)
    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record an attestation signed by this node on behalf of a steward or admin.

        The entry is covered by the next checkpoint (within the node's checkpoint interval);
        ask for its inclusion proof once the checkpoint's size exceeds its index.
        """
        done = record_attestation(node().ledger, actor(), payload)
        return {
            "index": done.index,
            "leaf_hash": b64encode(done.leaf_hash),
            "entry": parse(done.data),
        }
