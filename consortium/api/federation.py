"""``/api/v1/federation``: the consortium this node belongs to, as its members signed it.

Read-only and open, like the members' list: who the members are, their node URLs and keys,
and the versions that made them so, each with the signatures anyone can check (protocol §16).
Changing the membership is done at the console for now (`consortium federation`).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from consortium.api.blueprint import Blueprint
from consortium.api.context import node
from consortium.federation import membership

blp = Blueprint(
    "federation",
    __name__,
    url_prefix="/api/v1/federation",
    description="The consortium's membership document, version by version.",
)


class MemberSignatureView(Schema):
    origin = fields.String()
    signature = fields.String(metadata={"description": "Ed25519 over JCS(document), base64."})


class MembershipVersionView(Schema):
    version = fields.Integer()
    digest = fields.String(metadata={"description": "Base64 SHA-256 of JCS(document)."})
    status = fields.String(metadata={"description": "`proposed` or `accepted`."})
    changed_at = fields.String()
    document = fields.Dict(metadata={"description": "The membership document (protocol §16)."})
    signatures = fields.List(fields.Nested(MemberSignatureView))
    awaiting = fields.List(
        fields.String(), metadata={"description": "What a proposed version still needs."}
    )


@blp.route("/membership")
class Membership(MethodView):
    @blp.response(200, MembershipVersionView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every membership version this node knows, newest first (empty before it belongs
        to a consortium)."""
        return membership.versions(node().engine)
