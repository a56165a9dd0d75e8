"""``/api/v1/access-requests`` and ``/api/v1/grants``: from "I need this data" to a grant."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from consortium.access import grants, requests
from consortium.api.context import BEARER, actor, body, node, require_actor
from consortium.auth.roles import DIRECTOR, RESEARCHER, ROLES, STEWARD
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
