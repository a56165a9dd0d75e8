"""Response schemas shared by the registry's routes (request schemas live in the domain)."""

from __future__ import annotations

from marshmallow import Schema, fields


class EntryRef(Schema):
    """What a change answers with: the index of the ledger entry it wrote.

    Only answers to requests that wrote an entry carry ``entry``; reads leave it out rather
    than send null, so a client can tell "this request changed the ledger" from the presence
    of the field, and the field is never anything but an integer.
    """

    entry = fields.Integer(
        strict=True,
        metadata={
            "description": "Index of the ledger entry just written; only in the answer to a "
            "request that wrote one."
        },
    )


class PersonView(EntryRef):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    active = fields.Boolean()
    added_at = fields.String()
    changed_at = fields.String()


class MemberView(EntryRef):
    origin = fields.String()
    institution = fields.String()
    public_key = fields.String()
    vkey = fields.String()
    is_self = fields.Boolean()
    added_at = fields.String()


class SettingsView(EntryRef):
    director_approval_required = fields.Boolean()
    review_deadline_days = fields.Integer(
        metadata={"description": "Working days a steward has to decide a request."}
    )
    publication_reminder_months = fields.Integer(
        metadata={"description": "Months after a PUB grant before the holder is reminded."}
    )


class DatasetView(EntryRef):
    id = fields.String()
    status = fields.String(metadata={"description": "awaiting-approval, published, withdrawn"})
    sensitivity = fields.String()
    publisher = fields.String(metadata={"description": "Origin of the publishing node."})
    latest_version = fields.Integer(strict=True)
    published_version = fields.Integer(strict=True, allow_none=True)
    version = fields.Integer(strict=True, metadata={"description": "The version shown."})
    version_sensitivity = fields.String(
        metadata={"description": "The tier of the version shown, which decides what is shown."}
    )
    registered_at = fields.String()
    changed_at = fields.String()
    withdrawn_reason = fields.String()
    consent_withdrawn_at = fields.String(
        metadata={"description": "When consent was withdrawn: no new grants since."}
    )
    contracts = fields.List(
        fields.String(),
        metadata={
            "description": "In search results: the active contracts it can be requested under."
        },
    )
    metadata = fields.Dict(metadata={"description": "Absent when withheld from this reader."})
    metadata_withheld = fields.Boolean()
    sealed_digest = fields.String(
        metadata={"description": "The digest the ledger holds instead of the metadata."}
    )
    approved_by = fields.String(allow_none=True)
    approved_at = fields.String(allow_none=True)
    profiles = fields.List(fields.Dict(), metadata={"description": "Attached profile summaries."})


class SignatureView(Schema):
    party = fields.String()
    member = fields.String()
    signature = fields.String()
    recorded_by = fields.String()
    recorded_at = fields.String()


class ContractView(EntryRef):
    id = fields.String()
    version = fields.Integer(strict=True)
    status = fields.String(
        metadata={"description": "draft, proposed, active, expired, terminated, superseded"}
    )
    title = fields.String()
    template = fields.String()
    digest = fields.String(
        allow_none=True,
        metadata={"description": "Base64 SHA-256 of the document's RFC 8785 bytes."},
    )
    drafted_by = fields.String()
    drafted_at = fields.String()
    changed_at = fields.String()
    end_reason = fields.String(allow_none=True)
    document = fields.Dict(
        metadata={
            "description": "The contract document the parties sign. A dataset's title and DUO "
            "terms are left out, with details_withheld: true, for readers who may not see the "
            "metadata of its tier; the parties read it whole."
        }
    )
    signatures = fields.List(fields.Nested(SignatureView))
    awaiting = fields.List(fields.String(), metadata={"description": "Parties yet to sign."})


class EndedGrantView(Schema):
    grant = fields.String()
    holder = fields.String()
    valid_until = fields.String(metadata={"description": "The last day it would have run."})
    entry = fields.Integer(strict=True, metadata={"description": "Its grant.revoked entry."})


class TerminationView(ContractView):
    grants_ended = fields.List(
        fields.Nested(EndedGrantView),
        metadata={
            "description": "Grants revoked because no version of the contract is left "
            "in force: each holder is told."
        },
    )


class RulesView(EntryRef):
    version = fields.Integer(strict=True)
    digest = fields.String()
    proposed_by = fields.String()
    proposed_at = fields.String()
    accepted_at = fields.String(allow_none=True)
    document = fields.Dict()
    signatures = fields.List(fields.Nested(SignatureView))
    awaiting = fields.List(fields.String())


class SignatureOut(Schema):
    signature = fields.String(metadata={"description": "Base64 Ed25519 signature."})
    signer = fields.String(metadata={"description": "Origin of the signing institution."})
