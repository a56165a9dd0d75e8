"""``/api/v1/contributions`` and ``/api/v1/costs``: what institutions put in besides data."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields

from consortium.alliance import compensation, contributions, report
from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, require_actor
from consortium.auth.roles import ADMIN, LEAD, STEWARD
from consortium.events import Event

SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "alliance",
    __name__,
    url_prefix="/api/v1",
    description="Contributions besides data (recorded costs, declared effort) and the "
    "compensation runs that pay a period's pool by credit.",
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


class RunPayeeView(Schema):
    origin = fields.String(metadata={"description": "The member whose credit this is."})
    kind = fields.String(metadata={"description": "institution, contributor or fund"})
    name = fields.String()
    credit = fields.String(metadata={"description": "The credit that weighed, 6 decimals."})
    allocated = fields.String(metadata={"description": "This run's share of the pool."})
    carried_in = fields.String(metadata={"description": "Owed from the previous run."})
    paid = fields.String()
    carried = fields.String(metadata={"description": "Below the minimum: owed next run."})


class RunView(Schema):
    entry = fields.Integer()
    id = fields.String()
    period = fields.Dict(keys=fields.String(), values=fields.String())
    pool = fields.String()
    currency = fields.String()
    quantum = fields.String(metadata={"description": "The smallest amount paid."})
    minimum = fields.String(metadata={"description": "Smaller totals are carried over."})
    method = fields.String()
    rules = fields.Dict(metadata={"description": "The benefit rules: proposer, version, digest."})
    checkpoints = fields.List(
        fields.Dict(), metadata={"description": "Each ledger read: origin, size, root, note."}
    )
    payees = fields.List(fields.Nested(RunPayeeView))
    recorded_by = fields.String()
    recorded_at = fields.String()


@blp.route("/compensation/runs")
class Runs(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*compensation.READERS)
    @blp.response(200, RunView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Compensation runs, oldest first."""
        return compensation.list_runs(node().engine, actor())

    @blp.doc(**SECURED)
    @require_actor(LEAD)
    @blp.arguments(compensation.RunSchema)
    @blp.response(201, RunView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Pay a period's pool by the credit on the ledger (alliance lead).

        Refused (409) for a period already paid in the currency or without benefit rules in
        force at its end, and (422) for a period that has not ended.
        """
        event = compensation.run_compensation(node().ledger, actor(), body())
        return {**compensation.get_run(node().engine, actor(), event.body["run"]),
                "entry": event.index}  # fmt: skip


@blp.route("/compensation/runs/<run_id>")
class RunItem(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*compensation.READERS)
    @blp.response(200, RunView)
    def get(self, run_id: str) -> dict[str, Any]:
        """One compensation run."""
        return compensation.get_run(node().engine, actor(), run_id)


@blp.route("/reports/contributions")
class ContributionReport(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*report.READERS)
    @blp.arguments(report.ReportQuery, location="query")
    @blp.response(200, description="The signed report (JSON), or its rows as CSV.")
    def get(self, query: dict[str, Any]) -> Any:
        """A contribution report for a period, signed by this node (see the protocol).

        Reads this node's ledger up to a checkpoint signed now, and names it, so that
        `consortium report verify` can recompute every figure from a bundle of the ledger.
        ``format=csv`` returns the rows for a spreadsheet instead.
        """
        n = node()
        args = {k: str(v) for k, v in query.items()}
        signed = report.contribution_report(n.ledger, n.key, actor(), args)
        if query["format"] == "csv":
            name = f"contributions-{args['start']}-{args['end']}.csv"
            return Response(
                report.to_csv(signed),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return signed
