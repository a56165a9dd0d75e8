"""``/api/v1/node``: who this node is and the key its ledger is verified with."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from consortium import __version__
from consortium.api.blueprint import Blueprint
from consortium.api.context import node
from consortium.crypto.keys import b64encode

blp = Blueprint("node", __name__, url_prefix="/api/v1/node", description="This node.")


class NodeSchema(Schema):
    name = fields.String(metadata={"example": "St Mary's Hospital"})
    origin = fields.String(
        metadata={"description": "The ledger's origin, the first line of its checkpoints."}
    )
    public_key = fields.String(metadata={"description": "Base64 Ed25519 public key."})
    vkey = fields.String(metadata={"description": "C2SP verifier key for the checkpoints."})
    witness_vkey = fields.String(
        metadata={
            "description": "C2SP vkey (signature type 0x04) of this node's witness key, which "
            "cosigns members' checkpoints (cosignature/v1)."
        }
    )
    software = fields.String(metadata={"example": "consortium 0.1.0"})


@blp.route("")
class NodeInfo(MethodView):
    @blp.response(200, NodeSchema)
    def get(self) -> dict[str, Any]:
        """Name, origin and keys of this node."""
        n = node()
        return {
            "name": n.name,
            "origin": n.origin,
            "public_key": b64encode(n.public_key),
            "vkey": n.vkey,
            "witness_vkey": n.witness_vkey,
            "software": f"consortium {__version__}",
        }
