"""``/api/v1/contracts``, ``/api/v1/contract-templates`` and ``/api/v1/benefit-rules``."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from consortium.access import termination
from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, optional_actor, require_actor
from consortium.api.schemas import ContractView, RulesView, SignatureOut, TerminationView
from consortium.auth.roles import ADMIN, LEAD, STEWARD
from consortium.contracts import benefit_rules as rules
from consortium.contracts import lifecycle
from consortium.contracts.templates import TemplateError, list_templates, load_template
from consortium.disclosure.readers import Reader, contract_for
from consortium.events import Event
from consortium.text import MAX_ID, Text

SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "contracts",
    __name__,
    url_prefix="/api/v1",
    description="Sharing contracts, their templates, and the alliance's benefit rules.",
)


class TemplateView(Schema):
    name = Text()
    title = Text()
    description = Text()
    fill = fields.List(Text(), metadata={"description": "Fields the steward supplies."})
    defaults = fields.Dict()


class StatusArgs(Schema):
    status = Text(validate=validate.OneOf(lifecycle.STATUSES))


class VersionArgs(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


class DocumentSchema(Schema):
    document = fields.Dict(required=True, metadata={"description": "The document to sign."})


def _template(t: Any) -> dict[str, Any]:
    return {
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "fill": list(t.fill_fields),
        "defaults": t.defaults,
    }


def _contract(event: Event) -> dict[str, Any]:
    version = event.body.get("version") or max(event.body["versions"])
    view = lifecycle.get_contract(node().engine, event.body["contract"], version)
    return {**view, "entry": event.index}


def _rules(event: Event) -> dict[str, Any]:
    return {**rules.get_rules(node().engine, event.body["version"]), "entry": event.index}


@blp.route("/contract-templates")
class Templates(MethodView):
    @blp.response(200, TemplateView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The contract templates a steward can start from."""
        return [_template(t) for t in list_templates()]


@blp.route("/contract-templates/<name>")
class OneTemplate(MethodView):
    @blp.response(200, TemplateView)
    def get(self, name: str) -> dict[str, Any]:
        try:
            return _template(load_template(name))
        except TemplateError as exc:
            abort(404, message=str(exc))


def _for_reader(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reader = Reader(optional_actor())
    with node().engine.connect() as conn:
        return [contract_for(conn, reader, v) for v in views]


@blp.route("/contracts")
class Contracts(MethodView):
    @blp.arguments(StatusArgs, location="query")
    @blp.response(200, ContractView(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every contract version: its terms for anyone, the rest as protocol §13 allows; each
        dataset's title and DUO terms as its tier allows the reader (``details_withheld``)."""
        views = lifecycle.list_contracts(node().engine, args.get("status"), optional_actor())
        return _for_reader(views)

    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(lifecycle.DraftSchema)
    @blp.response(201, ContractView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Draft a contract from a template (steward)."""
        return _contract(lifecycle.draft_contract(node().ledger, actor(), body()))


@blp.route("/contracts/countersign")
class Countersign(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(DocumentSchema)
    @blp.response(200, SignatureOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Sign a contract proposed on another party's node (steward); send the signature
        back to that node's ``/contracts/{id}/signatures``."""
        n = node()
        signature = lifecycle.countersign(n.ledger, n.key, actor(), data["document"])
        return {"signature": signature, "signer": n.origin}


@blp.route("/contracts/<contract_id>")
class OneContract(MethodView):
    @blp.arguments(VersionArgs, location="query")
    @blp.response(200, ContractView)
    def get(self, args: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """A contract, its latest version by default, as protocol §13 allows the reader."""
        view = lifecycle.get_contract(
            node().engine, contract_id, args.get("version"), optional_actor()
        )
        return _for_reader([view])[0]

    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(lifecycle.AmendSchema)
    @blp.response(200, ContractView)
    def patch(self, _: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """Change a draft (steward)."""
        return _contract(lifecycle.revise_draft(node().ledger, actor(), contract_id, body()))


@blp.route("/contracts/<contract_id>/propose")
class Propose(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.response(200, ContractView)
    def post(self, contract_id: str) -> dict[str, Any]:
        """Freeze the draft and ask the parties to sign it (steward)."""
        return _contract(lifecycle.propose_contract(node().ledger, actor(), contract_id))


@blp.route("/contracts/<contract_id>/sign")
class Sign(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.response(200, ContractView)
    def post(self, contract_id: str) -> dict[str, Any]:
        """Sign as this node's institution (steward's instruction, node key)."""
        n = node()
        return _contract(lifecycle.sign_contract(n.ledger, n.key, actor(), contract_id))


@blp.route("/contracts/<contract_id>/signatures")
class Signatures(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(lifecycle.SignatureSchema)
    @blp.response(201, ContractView)
    def post(self, _: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """Record another party's signature; it is checked against that party's key."""
        return _contract(lifecycle.add_signature(node().ledger, actor(), contract_id, body()))


@blp.route("/contracts/<contract_id>/terminate")
class Terminate(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(lifecycle.TerminateSchema)
    @blp.response(200, TerminationView)
    def post(self, _: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """End a proposed or active contract early, with the reason (steward); the grants
        resting on it end with it (listed in ``grants_ended``)."""
        done = termination.terminate_contract(node().ledger, actor(), contract_id, body())
        return {**_contract(done.contract), "grants_ended": [vars(g) for g in done.grants_ended]}


@blp.route("/contracts/<contract_id>/amendments")
class Amendments(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(lifecycle.AmendSchema)
    @blp.response(201, ContractView)
    def post(self, _: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """Draft the next version of an active contract (steward)."""
        return _contract(lifecycle.amend_contract(node().ledger, actor(), contract_id, body()))


@blp.route("/benefit-rules")
class Rules(MethodView):
    @blp.response(200, RulesView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every proposed version and who signed it."""
        return rules.list_rules(node().engine)

    @blp.doc(**SECURED)
    @require_actor(LEAD)
    @blp.arguments(rules.ProposalSchema)
    @blp.response(201, RulesView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Propose the next version of the benefit rules (alliance lead)."""
        return _rules(rules.propose_rules(node().ledger, actor(), body()))


@blp.route("/benefit-rules/in-force")
class InForce(MethodView):
    @blp.response(200, RulesView)
    def get(self) -> dict[str, Any]:
        """The newest version signed by every member it names."""
        found = rules.rules_in_force(node().engine)
        if found is None:
            abort(404, message="No version of the benefit rules has been signed by all members.")
        return found


@blp.route("/benefit-rules/countersign")
class RulesCountersign(MethodView):
    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(DocumentSchema)
    @blp.response(200, SignatureOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Accept rules proposed on another member's node (admin)."""
        n = node()
        signature = rules.countersign_rules(n.ledger, n.key, actor(), data["document"])
        return {"signature": signature, "signer": n.origin}


@blp.route("/benefit-rules/<int:version>")
class OneRules(MethodView):
    @blp.response(200, RulesView)
    def get(self, version: int) -> dict[str, Any]:
        return rules.get_rules(node().engine, version)


@blp.route("/benefit-rules/<int:version>/sign")
class RulesSign(MethodView):
    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.response(200, RulesView)
    def post(self, version: int) -> dict[str, Any]:
        """Accept this version as this institution (admin's instruction, node key)."""
        n = node()
        return _rules(rules.sign_rules(n.ledger, n.key, actor(), version))


@blp.route("/benefit-rules/<int:version>/signatures")
class RulesSignatures(MethodView):
    @blp.doc(**SECURED)
    @require_actor(ADMIN, LEAD)
    @blp.arguments(rules.RulesSignatureSchema)
    @blp.response(201, RulesView)
    def post(self, _: dict[str, Any], version: int) -> dict[str, Any]:
        """Record another member's signature; checked against its key (admin or lead)."""
        return _rules(rules.add_rules_signature(node().ledger, actor(), version, body()))
