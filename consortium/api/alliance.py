"""``/api/v1/contributions`` and ``/api/v1/costs``: what institutions put in besides data."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from consortium.alliance import contributions
from consortium.api.context import BEARER, actor, body, node, require_actor
from consortium.auth.roles import ADMIN, STEWARD
from consortium.events import Event

SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "alliance",
    __name__,
    url_prefix="/api/v1",
    description="Contributions besides data: recorded costs and declared effort.",
)


class ContributionView(Schema):
    entry = fields.Integer()
    id = fields.String()
    kind = fields.String(metadata={"description": "cost, or " + ", ".join(contributions.KINDS)})
    description = fields.String()
    units = fields.String(metadata={"description": "The amount of a cost; units declared."})
    currency = fields.String(allow_none=True)
    dataset = fields.String(allow_none=True)
    contributor = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.String()


def _done(event: Event, key: str) -> dict[str, Any]:
    rows = contributions.list_contributions(node().engine, actor())
    return {**next(r for r in rows if r["id"] == event.body[key]), "entry": event.index}


@blp.route("/contributions")
class Contributions(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*contributions.READERS)
    @blp.response(200, ContributionView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Recorded costs and declared contributions, oldest first."""
        return contributions.list_contributions(node().engine, actor())

    @blp.doc(**SECURED)
    @require_actor(STEWARD, ADMIN)
    @blp.arguments(contributions.DeclarationSchema)
    @blp.response(201, ContributionView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Declare effort or expertise the institution contributed (steward or admin)."""
        event = contributions.declare_contribution(node().ledger, actor(), body())
        return _done(event, "contribution")


@blp.route("/costs")
class Costs(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD, ADMIN)
    @blp.arguments(contributions.CostSchema)
    @blp.response(201, ContributionView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Record what creating, keeping or securing data cost (steward or admin)."""
        return _done(contributions.record_cost(node().ledger, actor(), body()), "cost")
