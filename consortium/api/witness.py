"""``/api/v1/witness``: this node as a C2SP tlog-witness for its peers' logs.

The wire format is the spec's, not JSON, so that witness clients nobody here wrote can
use it: a text body in, signature lines out, and a 409 whose body is the witness's latest
size as ``text/x.tlog.size``. Other refusals are problem+json like the rest of the API.
Authentication is the checkpoint's signature by a member's log key; no token is needed.
"""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from consortium.api.blueprint import Blueprint
from consortium.api.context import node
from consortium.federation.witness import SIZE_CONTENT_TYPE, SizeConflict, add_checkpoint

blp = Blueprint(
    "witness",
    __name__,
    url_prefix="/api/v1/witness",
    description="C2SP tlog-witness: cosign members' checkpoints.",
)

_TEXT = {"schema": {"type": "string"}}


@blp.route("/add-checkpoint")
class AddCheckpoint(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "description": "`old N`, consistency proof lines (base64), a blank line, then the "
            "checkpoint note signed by the member's log key (C2SP tlog-witness).",
            "content": {"text/plain": _TEXT},
        },
        responses={
            "200": {
                "description": "cosignature/v1 signature line(s) by this node's witness key.",
                "content": {"text/plain": _TEXT},
            },
            "400": {"description": "Malformed body, or old greater than the checkpoint size."},
            "403": {"description": "No valid signature by the member's log key."},
            "404": {"description": "Not a log this node witnesses."},
            "409": {
                "description": "old is not the latest size cosigned for the log, or that size "
                "was cosigned with another root; the body is the latest size.",
                "content": {SIZE_CONTENT_TYPE: _TEXT},
            },
            "422": {"description": "The consistency proof does not verify."},
        },
    )
    def post(self) -> Response:
        """Cosign a member's checkpoint that is consistent with the last one cosigned."""
        n = node()
        try:
            lines = add_checkpoint(n.engine, n.witness_key, n.witness_name, request.get_data())
        except SizeConflict as exc:
            return Response(f"{exc.latest}\n", status=409, content_type=SIZE_CONTENT_TYPE)
        return Response(lines, content_type="text/plain; charset=utf-8")
