"""``/api/v1/access-requests`` and ``/api/v1/grants``: from "I need this data" to a grant."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from consortium.access import consent, grants, incidents, outputs, requests, transparency
from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, optional_actor, require_actor
from consortium.auth.roles import ADMIN, DIRECTOR, RESEARCHER, ROLES, STEWARD
from consortium.events import Event
from consortium.text import Text

SECURED = {"security": [{BEARER: []}]}
ANYONE_SIGNED_IN = ROLES

blp = Blueprint(
    "access",
    __name__,
    url_prefix="/api/v1",
    description="Access requests, their review, and the grants they lead to.",
)


class FindingView(Schema):
    term = fields.String()
    verdict = fields.String(
        metadata={"description": "allowed, refused, review, obligation or note"}
    )
    reason = fields.String()


class CheckView(Schema):
    compatible = fields.Boolean()
    submittable = fields.Boolean(
        metadata={"description": "Whether it can be submitted (if not compatible: for review)."}
    )
    refusal = fields.String(metadata={"description": "Why it cannot be submitted, if so."})
    second_approval = fields.Boolean(metadata={"description": "A director must co-approve."})
    datasets = fields.List(fields.Dict())
    findings = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FindingView)))


class RequestView(CheckView):
    entry = fields.Integer()
    id = fields.String()
    researcher = fields.String()
    status = fields.String(metadata={"description": ", ".join(requests.STATUSES)})
    project_title = fields.String()
    purposes = fields.List(fields.Dict())
    purpose_text = fields.String()
    investigator = fields.String()
    institution = fields.String()
    ethics_reference = fields.String()
    duration_months = fields.Integer()
    commercial = fields.Boolean()
    not_for_profit = fields.Boolean()
    region = fields.String()
    manual_review = fields.Boolean(metadata={"description": "Submitted despite refused terms."})
    submitted_at = fields.String()
    review_due = fields.String(metadata={"description": "Decide by this date."})
    approved_by = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    grant_id = fields.String(allow_none=True)
    decisions = fields.List(fields.Dict())


class GrantView(Schema):
    entry = fields.Integer()
    id = fields.String()
    request_id = fields.String()
    holder = fields.String()
    status = fields.String(metadata={"description": ", ".join(grants.STATUSES)})
    document = fields.Dict(metadata={"description": "The signed grant document."})
    signature = fields.String()
    digest = fields.String()
    valid_until = fields.String()
    issued_at = fields.String()
    ended_at = fields.String(allow_none=True)
    end_reason = fields.String(allow_none=True)
    review_reason = fields.String(
        allow_none=True, metadata={"description": "Why it is flagged for review (consent)."}
    )
    deletion_attested_at = fields.String(allow_none=True)


class GrantStatusView(Schema):
    grant = fields.String()
    status = fields.String(metadata={"description": ", ".join(grants.STATUSES)})
    valid_from = fields.String()
    valid_until = fields.String()
    ended_at = fields.String(allow_none=True)
    digest = fields.String(metadata={"description": "Compare with the grant file's document."})


class GrantFile(Schema):
    document = fields.Dict()
    signature = fields.String()
    vkey = fields.String()


class StatusArgs(Schema):
    status = Text(validate=validate.OneOf(requests.STATUSES))


class GrantStatusArgs(Schema):
    status = Text(validate=validate.OneOf(grants.STATUSES))


def _request(event: Event) -> dict[str, Any]:
    view = requests.get_request(node().engine, actor(), event.body["request"])
    return {**view, "entry": event.index}


def _decided(events: list[Event]) -> dict[str, Any]:
    return _request(events[0]) | {"entry": events[-1].index}


@blp.route("/access-requests")
class Requests(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.arguments(StatusArgs, location="query")
    @blp.response(200, RequestView(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """The review queue (stewards, directors, admins, auditors), or your own requests."""
        return requests.list_requests(node().engine, actor(), args.get("status"))

    @blp.doc(**SECURED)
    @require_actor(RESEARCHER)
    @blp.arguments(requests.RequestSchema)
    @blp.response(201, RequestView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Request access (researcher). The compatibility check runs first: a request that
        fails it is refused, unless the contract allows manual review."""
        return _request(requests.submit_request(node().ledger, actor(), body()))


@blp.route("/access-requests/check")
class Check(MethodView):
    @blp.doc(**SECURED)
    @require_actor(RESEARCHER, STEWARD)
    @blp.arguments(requests.RequestSchema)
    @blp.response(200, CheckView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Run the compatibility check without submitting anything."""
        return requests.preview(node().engine, actor(), body())


@blp.route("/access-requests/<request_id>")
class OneRequest(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.response(200, RequestView)
    def get(self, request_id: str) -> dict[str, Any]:
        return requests.get_request(node().engine, actor(), request_id)

    @blp.doc(**SECURED)
    @require_actor(RESEARCHER)
    @blp.arguments(requests.RequestSchema)
    @blp.response(200, RequestView)
    def put(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Resubmit a request that was returned for changes (its researcher)."""
        return _request(requests.resubmit_request(node().ledger, actor(), request_id, body()))


@blp.route("/access-requests/<request_id>/withdraw")
class Withdraw(MethodView):
    @blp.doc(**SECURED)
    @require_actor(RESEARCHER)
    @blp.arguments(requests.OptionalReasonSchema)
    @blp.response(200, RequestView)
    def post(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Withdraw your request while it is open."""
        return _request(requests.withdraw_request(node().ledger, actor(), request_id, body()))


@blp.route("/access-requests/<request_id>/return")
class Return(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(requests.ReasonSchema)
    @blp.response(200, RequestView)
    def post(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Send a request back to its researcher for changes, saying what to change."""
        return _request(requests.return_request(node().ledger, actor(), request_id, body()))


@blp.route("/access-requests/<request_id>/deny")
class Deny(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD, DIRECTOR)
    @blp.arguments(requests.ReasonSchema)
    @blp.response(200, RequestView)
    def post(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Deny a request, with the reason (steward; director at the second approval)."""
        return _request(requests.deny_request(node().ledger, actor(), request_id, body()))


@blp.route("/access-requests/<request_id>/approve")
class Approve(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(requests.OptionalReasonSchema)
    @blp.response(200, RequestView)
    def post(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Approve (steward). The grant is issued at once, or after a director's co-approval
        where the data require a second approver."""
        n = node()
        return _decided(requests.approve_request(n.ledger, n.key, actor(), request_id, body()))


@blp.route("/access-requests/<request_id>/co-approve")
class CoApprove(MethodView):
    @blp.doc(**SECURED)
    @require_actor(DIRECTOR)
    @blp.arguments(requests.OptionalReasonSchema)
    @blp.response(200, RequestView)
    def post(self, _: dict[str, Any], request_id: str) -> dict[str, Any]:
        """The second approval (director); issues the grant."""
        n = node()
        return _decided(requests.co_approve_request(n.ledger, n.key, actor(), request_id, body()))


@blp.route("/grants")
class Grants(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.arguments(GrantStatusArgs, location="query")
    @blp.response(200, GrantView(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every grant (stewards, directors, admins, auditors), or your own."""
        return grants.list_grants(node().engine, actor(), args.get("status"))


@blp.route("/grants/<grant_id>")
class OneGrant(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.response(200, GrantView)
    def get(self, grant_id: str) -> dict[str, Any]:
        return grants.get_grant(node().engine, actor(), grant_id)


@blp.route("/grants/<grant_id>/status")
class OneGrantStatus(MethodView):
    @blp.response(200, GrantStatusView)
    def get(self, grant_id: str) -> dict[str, Any]:
        """Whether a grant is still in force: public, for anyone verifying a grant file."""
        return grants.grant_status(node().engine, grant_id)


@blp.route("/grants/<grant_id>/file")
class OneGrantFile(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.response(200, GrantFile)
    def get(self, grant_id: str) -> dict[str, Any]:
        """The grant as a file anyone can verify offline with the node's vkey."""
        return grants.grant_file(node().engine, actor(), grant_id, node().vkey)


@blp.route("/grants/<grant_id>/revoke")
class Revoke(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(grants.RevokeSchema)
    @blp.response(200, GrantView)
    def post(self, _: dict[str, Any], grant_id: str) -> dict[str, Any]:
        """Revoke an active grant, with the reason (steward)."""
        event = grants.revoke_grant(node().ledger, actor(), grant_id, body())
        return {**grants.get_grant(node().engine, actor(), grant_id), "entry": event.index}


# --- consent, outputs, incidents, transparency ------------------------------------------------


class OutputView(Schema):
    entry = fields.Integer()
    id = fields.String()
    grant = fields.String()
    kind = fields.String(metadata={"description": ", ".join(outputs.KINDS)})
    title = fields.String()
    doi = fields.String()
    url = fields.String()
    date = fields.String()
    derived_dataset = fields.String()
    datasets = fields.List(fields.String())
    reported_by = fields.String()
    reported_at = fields.String()


class IncidentView(Schema):
    entry = fields.Integer()
    id = fields.String()
    status = fields.String()
    severity = fields.String()
    kind = fields.String()
    description = fields.String()
    datasets = fields.List(fields.String())
    grants = fields.List(fields.String())
    suspended = fields.List(fields.String())
    reported_by = fields.String()
    reported_at = fields.String()
    closed_at = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True)


class TransparencyView(Schema):
    dataset = fields.String()
    grants = fields.List(fields.Dict())
    outputs = fields.List(fields.Dict())


class SummaryView(Schema):
    institution = fields.String()
    members = fields.List(fields.String())
    datasets_by_tier = fields.Dict()
    grants_by_status = fields.Dict()
    grants_by_purpose = fields.Dict()
    outputs_by_kind = fields.Dict()


class ApprovalTimesView(Schema):
    institution = fields.String()
    decided = fields.Integer()
    median_hours = fields.Float(allow_none=True)
    p90_hours = fields.Float(allow_none=True)
    open = fields.Integer(metadata={"description": "Waiting for this institution's decision."})
    overdue = fields.Integer(metadata={"description": "Open and past their review date."})
    returned = fields.Integer(metadata={"description": "Returned to their researcher."})
    by_requesting_institution = fields.Dict()


@blp.route("/datasets/<dataset_id>/consent-withdrawal")
class ConsentWithdrawal(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(consent.ConsentWithdrawalSchema)
    @blp.response(201, GrantView(many=True))
    def post(self, _: dict[str, Any], dataset_id: str) -> list[dict[str, Any]]:
        """Record that consent was withdrawn (steward): no new grants; the active grants of
        the dataset (returned) are flagged for review."""
        event = consent.withdraw_consent(node().ledger, actor(), dataset_id, body())
        return [
            {**grants.get_grant(node().engine, actor(), g), "entry": event.index}
            for g in event.body["grants_flagged"]
        ]


@blp.route("/grants/<grant_id>/outputs")
class GrantOutputs(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*ANYONE_SIGNED_IN)
    @blp.response(200, OutputView(many=True))
    def get(self, grant_id: str) -> list[dict[str, Any]]:
        return outputs.list_outputs(node().engine, actor(), grant_id)

    @blp.doc(**SECURED)
    @require_actor(RESEARCHER)
    @blp.arguments(outputs.OutputSchema)
    @blp.response(201, OutputView)
    def post(self, _: dict[str, Any], grant_id: str) -> dict[str, Any]:
        """Report what came of the grant (its holder): a publication, preprint, derived
        dataset, software or citation."""
        event = outputs.report_output(node().ledger, actor(), grant_id, body())
        found = outputs.list_outputs(node().engine, actor(), grant_id)
        return {**next(o for o in found if o["id"] == event.body["output"]), "entry": event.index}


@blp.route("/grants/<grant_id>/deletion")
class Deletion(MethodView):
    @blp.doc(**SECURED)
    @require_actor(RESEARCHER)
    @blp.arguments(grants.DeletionSchema)
    @blp.response(201, GrantView)
    def post(self, _: dict[str, Any], grant_id: str) -> dict[str, Any]:
        """Attest that every copy was deleted, as the contract requires (the grant's holder)."""
        event = grants.attest_deletion(node().ledger, actor(), grant_id, body())
        return {**grants.get_grant(node().engine, actor(), grant_id), "entry": event.index}


@blp.route("/incidents")
class Incidents(MethodView):
    @blp.doc(**SECURED)
    @require_actor(*incidents.READERS)
    @blp.response(200, IncidentView(many=True))
    def get(self) -> list[dict[str, Any]]:
        return incidents.list_incidents(node().engine, actor())

    @blp.doc(**SECURED)
    @require_actor(STEWARD, ADMIN)
    @blp.arguments(incidents.IncidentSchema)
    @blp.response(201, IncidentView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Report a suspected breach, misuse or key compromise (steward or admin)."""
        event = incidents.report_incident(node().ledger, actor(), body())
        return _incident(event)


def _incident(event: Event) -> dict[str, Any]:
    view = incidents.get_incident(node().engine, actor(), event.body["incident"])
    return {**view, "entry": event.index}


@blp.route("/incidents/<incident_id>/suspend-grants")
class SuspendGrants(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.response(200, IncidentView)
    def post(self, incident_id: str) -> dict[str, Any]:
        """Suspend every active grant the incident touches, in one action (steward)."""
        return _incident(incidents.suspend_grants(node().ledger, actor(), incident_id))


@blp.route("/incidents/<incident_id>/close")
class CloseIncident(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD, ADMIN)
    @blp.arguments(incidents.CloseSchema)
    @blp.response(200, IncidentView)
    def post(self, _: dict[str, Any], incident_id: str) -> dict[str, Any]:
        """Close with the resolution; optionally reinstate the suspended grants."""
        return _incident(incidents.close_incident(node().ledger, actor(), incident_id, body()))


@blp.route("/datasets/<dataset_id>/transparency")
class DatasetTransparency(MethodView):
    @blp.response(200, TransparencyView)
    def get(self, dataset_id: str) -> dict[str, Any]:
        """Who holds grants on the dataset, for which purposes, and what came of them."""
        return transparency.dataset_transparency(node().engine, optional_actor(), dataset_id)


@blp.route("/transparency")
class Summary(MethodView):
    @blp.response(200, SummaryView)
    def get(self) -> dict[str, Any]:
        """The public summary: members, datasets by tier, grants by purpose, outputs."""
        return transparency.public_summary(node().engine)


@blp.route("/statistics/approval-times")
class ApprovalTimes(MethodView):
    @blp.response(200, ApprovalTimesView)
    def get(self) -> dict[str, Any]:
        """How fast this institution decides access requests (median, 90th percentile)."""
        return transparency.approval_times(node().engine)
