"""``/api/v1/datasets``: register, revise, approve, withdraw and profile datasets."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from consortium.access import catalogue
from consortium.access.catalogue import SearchSchema
from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, optional_actor, require_actor
from consortium.api.schemas import DatasetView
from consortium.auth.roles import DIRECTOR, STEWARD
from consortium.events import Event
from consortium.registry import datasets
from consortium.registry.metadata import DatasetMetadataSchema
from consortium.text import MAX_ID

SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "datasets",
    __name__,
    url_prefix="/api/v1/datasets",
    description="Datasets registered at this node (metadata only; the data never moves).",
)


class VersionArgs(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


def _done(event: Event) -> dict[str, Any]:
    view = datasets.get_dataset(node().engine, actor(), event.body["dataset"])
    return {**view, "entry": event.index}


@blp.route("")
class Datasets(MethodView):
    @blp.arguments(SearchSchema, location="query")
    @blp.response(200, DatasetView(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Search the datasets this reader may know of; metadata only where the tier allows.

        Anonymous readers see published datasets with public metadata. Signed-in members see
        the rest, with the metadata of restricted and highly sensitive datasets withheld from
        roles that do not need it. Words and purpose match only metadata the reader may see.
        Each dataset lists the active contracts under which it can be requested here.
        """
        return catalogue.search(node().engine, optional_actor(), **args)

    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(DatasetMetadataSchema)
    @blp.response(201, DatasetView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Register a dataset (steward). It is published at once, or after a director's
        co-approval when the settings require it."""
        return _done(datasets.register_dataset(node().ledger, actor(), body()))


@blp.route("/<dataset_id>")
class OneDataset(MethodView):
    @blp.arguments(VersionArgs, location="query")
    @blp.response(200, DatasetView)
    def get(self, args: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        """One dataset, its published version by default."""
        return datasets.get_dataset(
            node().engine, optional_actor(), dataset_id, args.get("version")
        )


@blp.route("/<dataset_id>/sealed")
class Sealed(MethodView):
    @blp.arguments(VersionArgs, location="query")
    @blp.response(200, content_type="application/json")
    def get(self, args: dict[str, Any], dataset_id: str) -> Response:
        """The salted metadata document behind the ledger's ``metadata_sealed`` digest.

        Returned byte for byte, so that its SHA-256 can be compared with the digest in the
        signed entry; only for readers the dataset's tier allows.
        """
        data = datasets.sealed_metadata(
            node().engine, optional_actor(), dataset_id, args.get("version")
        )
        return Response(data, mimetype="application/json")


@blp.route("/<dataset_id>/versions")
class Versions(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(DatasetMetadataSchema)
    @blp.response(201, DatasetView)
    def post(self, _: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        """Register a new version with the full metadata (steward); old versions are kept."""
        return _done(datasets.revise_dataset(node().ledger, actor(), dataset_id, body()))


@blp.route("/<dataset_id>/approve")
class Approve(MethodView):
    @blp.doc(**SECURED)
    @require_actor(DIRECTOR)
    @blp.arguments(datasets.ApproveSchema)
    @blp.response(200, DatasetView)
    def post(self, _: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        """Co-approve a version for publication (director; not who registered it)."""
        return _done(datasets.approve_dataset(node().ledger, actor(), dataset_id, body()))


@blp.route("/<dataset_id>/withdraw")
class Withdraw(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(datasets.WithdrawSchema)
    @blp.response(200, DatasetView)
    def post(self, _: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        """Withdraw a dataset, with the reason (steward). Its history stays."""
        return _done(datasets.withdraw_dataset(node().ledger, actor(), dataset_id, body()))


@blp.route("/<dataset_id>/profiles")
class Profiles(MethodView):
    @blp.doc(**SECURED)
    @require_actor(STEWARD)
    @blp.arguments(datasets.AttachProfileSchema)
    @blp.response(201, DatasetView)
    def post(self, _: dict[str, Any], dataset_id: str) -> dict[str, Any]:
        """Attach a `consortium profile` summary as a signed quality attestation (steward)."""
        return _done(datasets.attach_profile(node().ledger, actor(), dataset_id, body()))
