"""``/api/v1/ledger``: entries, checkpoints and proofs — everything a verifier needs.

Entries are sent as their exact stored bytes (RFC 8785 canonical JSON), spliced into the page
without re-serialising, so a client that re-canonicalises an entry gets back the bytes that
were hashed and signed.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consortium.api.blueprint import Blueprint
from consortium.api.context import node, reader
from consortium.crypto.keys import b64encode
from consortium.disclosure.readers import disclose
from consortium.ledger.log import ProofError

blp = Blueprint(
    "ledger", __name__, url_prefix="/api/v1/ledger", description="The node's signed ledger."
)

MAX_PAGE = 1000
_INDEX = {"validate": validate.Range(min=0, max=2**62)}


class EntriesQuery(Schema):
    start = fields.Integer(load_default=0, **_INDEX, metadata={"description": "First index."})
    end = fields.Integer(
        **_INDEX,
        metadata={"description": f"One past the last index; at most start + {MAX_PAGE}."},
    )

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if "end" in data and data["end"] <= data["start"]:
            raise ValidationError("end must be greater than start", "end")


class EntrySchema(Schema):
    v = fields.Integer()
    index = fields.Integer()
    time = fields.String()
    kind = fields.String()
    actor = fields.String()
    body = fields.Dict()
    prev = fields.String(metadata={"description": "Base64 leaf hash of the previous entry."})
    sig = fields.String(metadata={"description": "Base64 Ed25519 signature by the node key."})


class EntryPageSchema(Schema):
    start = fields.Integer()
    end = fields.Integer()
    tree_size = fields.Integer(metadata={"description": "Entries in the log when read."})
    next = fields.Integer(
        allow_none=True, metadata={"description": "Start of the next page, or null at the end."}
    )
    entries = fields.List(fields.Nested(EntrySchema))


class InclusionQuery(Schema):
    index = fields.Integer(required=True, **_INDEX)
    tree_size = fields.Integer(required=True, validate=validate.Range(min=1))


class ConsistencyQuery(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1))
    second = fields.Integer(required=True, validate=validate.Range(min=1))


class InclusionProofSchema(Schema):
    index = fields.Integer()
    tree_size = fields.Integer()
    hashes = fields.List(fields.String(), metadata={"description": "Base64 SHA-256 hashes."})


class ConsistencyProofSchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    hashes = fields.List(fields.String(), metadata={"description": "Base64 SHA-256 hashes."})


@blp.route("/checkpoint")
class LatestCheckpoint(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "C2SP tlog-checkpoint signed note.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Response:
        """The latest signed checkpoint (origin, size, root hash, signature)."""
        note = node().ledger.latest_checkpoint()
        if note is None:
            abort(404, message="This ledger has no checkpoint yet.")
        return Response(note, mimetype="text/plain")


@blp.route("/entries")
class Entries(MethodView):
    @blp.arguments(EntriesQuery, location="query", as_kwargs=True)
    @blp.response(200, EntryPageSchema)
    def get(self, start: int, end: int | None = None) -> Response:
        """Entries ``start <= index < end`` in order, each exactly as stored and signed."""
        ledger = node().ledger
        size = ledger.size()
        if start > size:
            abort(400, message=f"start {start} is beyond the log's {size} entries")
        stop = min(end if end is not None else start + MAX_PAGE, start + MAX_PAGE, size)
        entries = ledger.entries(start, stop) if stop > start else []
        stop = start + len(entries)
        head = (
            f'{{"start":{start},"end":{stop},"tree_size":{size},'
            f'"next":{stop if stop < size else "null"},"entries":['
        )
        body = head.encode() + b",".join(entries) + b"]}"
        return Response(body, mimetype="application/json")


def _proof_error(exc: ProofError) -> None:
    abort(400, message=str(exc))


@blp.route("/proofs/inclusion")
class Inclusion(MethodView):
    @blp.arguments(InclusionQuery, location="query", as_kwargs=True)
    @blp.response(200, InclusionProofSchema)
    def get(self, index: int, tree_size: int) -> dict[str, Any]:
        """Audit path proving entry ``index`` is in the tree of ``tree_size`` entries."""
        try:
            hashes = node().ledger.inclusion_proof(index, tree_size)
        except ProofError as exc:
            _proof_error(exc)
        return {"index": index, "tree_size": tree_size, "hashes": [b64encode(h) for h in hashes]}


@blp.route("/proofs/consistency")
class Consistency(MethodView):
    @blp.arguments(ConsistencyQuery, location="query", as_kwargs=True)
    @blp.response(200, ConsistencyProofSchema)
    def get(self, first: int, second: int) -> dict[str, Any]:
        """Proof that the tree of ``first`` entries is a prefix of the tree of ``second``."""
        try:
            hashes = node().ledger.consistency_proof(first, second)
        except ProofError as exc:
            _proof_error(exc)
        return {"first": first, "second": second, "hashes": [b64encode(h) for h in hashes]}


class SealedDocumentSchema(Schema):
    digest = fields.String(metadata={"description": "The digest the signed entry holds."})
    document = fields.String(
        metadata={
            "description": "The exact RFC 8785 bytes of {salt, document}: their base64 SHA-256 "
            "is the digest."
        }
    )


class DisclosureSchema(Schema):
    index = fields.Integer()
    kind = fields.String()
    clear = fields.Dict(metadata={"description": "The body's public members, as signed."})
    committed = fields.Dict(
        keys=fields.String(), values=fields.String(),
        metadata={"description": "Every sealed class of the entry and its digest."},
    )  # fmt: skip
    sealed = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(SealedDocumentSchema),
        metadata={"description": "The sealed documents this reader may read, by class."},
    )
    withheld = fields.List(
        fields.String(), metadata={"description": "Classes this reader may not read."}
    )
    erased = fields.List(
        fields.String(), metadata={"description": "Classes erased on request (personal data)."}
    )


@blp.route("/entries/<int:index>/sealed")
class Sealed(MethodView):
    @blp.response(200, DisclosureSchema)
    def get(self, index: int) -> dict[str, Any]:
        """The sealed parts of one entry that the reader may read (protocol §13).

        Anyone may ask; without credentials only the list of what is withheld comes back.
        A person signs in with a bearer token; a member node signs the request with its key
        (protocol §14) and reads what members may. Each document is returned byte for byte,
        to be checked against the signed entry.
        """
        who = reader()
        with node().engine.connect() as conn:
            return disclose(conn, who, index)
