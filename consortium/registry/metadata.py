"""What a steward says about a dataset: catalogue metadata and governance facts.

Field names follow DCAT (``title``, ``description``, ``keyword``…) and DataCite
(``creators``, ``contributors`` with a ``contributorType``-like role) where they have one,
so catalogues can harvest a node. Governance fields are ours: they drive who may see the
metadata and, in later steps, which requests a dataset can be granted for. Weights and
other fractions are decimal strings: the body is signed as canonical JSON, where binary
floats have no single spelling.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from consortium.duo import DuoError, resolve
from consortium.text import MAX_ID, Text

PUBLIC = "public-metadata"
CONSORTIUM = "consortium-only"
RESTRICTED = "restricted"
HIGHLY_SENSITIVE = "highly-sensitive"
TIERS = (PUBLIC, CONSORTIUM, RESTRICTED, HIGHLY_SENSITIVE)

CONTRIBUTOR_ROLES = (
    "collection",
    "curation",
    "annotation",
    "funding",
    "analysis",
    "management",
    "other",
)
LEGAL_BASES = ("consent", "public-interest", "legacy-without-consent")
DEIDENTIFICATION = ("anonymised", "pseudonymised", "aggregated", "identifiable")
WEIGHT = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?$"


def _weight(description: str) -> fields.String:
    return Text(
        required=True,
        validate=validate.Regexp(WEIGHT, error="a decimal number such as 1 or 0.25"),
        metadata={"description": description, "example": "0.5"},
    )


def _text(max_len: int, **kw: Any) -> fields.String:
    return Text(validate=validate.Length(min=1, max=max_len), **kw)


class Strict(Schema):
    """Unknown fields are refused (marshmallow's default), never silently dropped."""


class CreatorSchema(Strict):
    name = _text(200, required=True, metadata={"example": "Dr Wei Zhang"})
    affiliation = _text(200)
    identifier = _text(200, metadata={"description": "ORCID or ROR", "example": "0000-0002-…"})


class ContributorSchema(Strict):
    name = _text(200, required=True)
    role = Text(
        required=True,
        validate=validate.OneOf(CONTRIBUTOR_ROLES),
        metadata={"description": "What they did (DataCite contributor type, simplified)."},
    )
    weight = _weight("Their relative share of the work, for credit.")
    identifier = _text(200)
    username = Text(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "Their account on this node, if they have one: they are then told "
            "when the data is granted or an output cites it.",
            "example": "wei.zhang",
        },
    )


class TemporalSchema(Strict):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError("must not be before start", "end")


class ConsentSchema(Strict):
    legal_basis = Text(
        required=True,
        validate=validate.OneOf(LEGAL_BASES),
        metadata={
            "description": "consent; public-interest (a law or public task); "
            "legacy-without-consent (collected before consent for reuse was asked)."
        },
    )
    secondary_use_consent = fields.Boolean(
        required=True,
        metadata={"description": "Whether subjects separately consented to secondary use."},
    )
    scope = _text(2000, metadata={"description": "What the consent covers, in words."})

    @validates_schema
    def _coherent(self, data: dict[str, Any], **_: Any) -> None:
        if data["legal_basis"] == "legacy-without-consent" and data["secondary_use_consent"]:
            raise ValidationError(
                "legacy data collected without consent cannot have secondary-use consent; "
                "choose the legal basis 'consent' if subjects did consent",
                "secondary_use_consent",
            )


class DeidentificationSchema(Strict):
    method = Text(required=True, validate=validate.OneOf(DEIDENTIFICATION))
    description = _text(2000, metadata={"description": "How, and by whom it was checked."})


class DuoModifierSchema(Strict):
    """The same parameters, with the same limits, as a contract's modifiers take."""

    code = Text(required=True, metadata={"example": "DUO:0000025"})
    months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600))
    regions = fields.List(
        Text(
            validate=validate.Regexp(
                r"^[A-Z]{2}$", error='an ISO 3166-1 alpha-2 code such as "DE", or "EU"'
            )
        ),
        validate=validate.Length(min=1),
    )
    until = fields.Date()


class DuoSchema(Strict):
    permissions = fields.List(
        Text(),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "DUO permission codes or shorthands (GRU, HMB, DS…)."},
    )
    diseases = fields.List(
        _text(64),
        metadata={"description": "For DS: disease identifiers, e.g. MONDO:0005148."},
    )
    modifiers = fields.List(fields.Nested(DuoModifierSchema), load_default=list)

    @validates_schema
    def _codes(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        for i, code in enumerate(data.get("permissions", [])):
            problem = _duo_problem(code, "permission")
            if problem:
                errors.setdefault("permissions", {})[i] = [problem]
        for i, mod in enumerate(data.get("modifiers", [])):
            problem = _duo_problem(mod["code"], "modifier")
            if problem:
                errors.setdefault("modifiers", {})[i] = {"code": [problem]}
        if errors:
            raise ValidationError(errors)
        permissions = {resolve(c).shorthand for c in data.get("permissions", [])}
        if "DS" in permissions and not data.get("diseases"):
            raise ValidationError("DS (disease specific) needs the diseases", "diseases")
        needs = {"TS": "months", "GS": "regions", "MOR": "until"}
        for i, mod in enumerate(data.get("modifiers", [])):
            param = needs.get(resolve(mod["code"]).shorthand)
            if param and param not in mod:
                errors.setdefault("modifiers", {})[i] = {param: [f"required for {mod['code']}"]}
        if errors:
            raise ValidationError(errors)

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["permissions"] = sorted({resolve(c).id for c in data["permissions"]})
        for mod in data["modifiers"]:
            mod["code"] = resolve(mod["code"]).id
            if "until" in mod:
                mod["until"] = mod["until"].isoformat()
        return data


def _duo_problem(code: str, kind: str) -> str | None:
    try:
        term = resolve(code)
    except DuoError as exc:
        return str(exc)
    if term.kind != kind:
        return f"{code} is a DUO {term.kind}, not a {kind}"
    return None


class SourceSchema(Strict):
    dataset = Text(required=True, metadata={"example": "ds-7q2m4k9x1c"})
    publisher = _text(
        255,
        metadata={
            "description": "Origin of the member institution that holds the source, "
            "when it is not this node."
        },
    )
    version = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    weight = _weight("How much of the derived dataset comes from this source.")


class DatasetMetadataSchema(Strict):
    """Everything a steward declares about one version of a dataset."""

    title = _text(300, required=True, metadata={"example": "Type 2 diabetes cohort 2015–2024"})
    description = _text(10_000, required=True)
    keywords = fields.List(_text(100), load_default=list)
    creators = fields.List(fields.Nested(CreatorSchema), load_default=list)
    contributors = fields.List(fields.Nested(ContributorSchema), load_default=list)
    format = _text(100, metadata={"description": "Media type or form.", "example": "text/csv"})
    conforms_to = _text(
        200,
        metadata={"description": "Declared data standard.", "example": "OMOP CDM 5.4"},
    )
    record_count = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**53 - 1))
    temporal_coverage = fields.Nested(TemporalSchema)
    location = _text(
        500,
        metadata={
            "description": "Where the data is held (never the data itself).",
            "example": "Research data warehouse, secure enclave B",
        },
    )
    license = _text(300, metadata={"description": "A license, if not only a contract."})
    sensitivity = Text(
        required=True,
        validate=validate.OneOf(TIERS),
        metadata={"description": "Who may see the metadata: " + ", ".join(TIERS)},
    )
    genetic_data = fields.Boolean(load_default=False)
    cross_border_restricted = fields.Boolean(
        load_default=False,
        metadata={"description": "The data may not leave its jurisdiction."},
    )
    consent = fields.Nested(ConsentSchema, required=True)
    deidentification = fields.Nested(DeidentificationSchema, required=True)
    duo = fields.Nested(DuoSchema, required=True)
    derived_from = fields.List(fields.Nested(SourceSchema), load_default=list)

    @validates_schema
    def _unique_sources(self, data: dict[str, Any], **_: Any) -> None:
        # Schema-level, so it runs only once every source parsed cleanly.
        names = [(s.get("publisher"), s["dataset"]) for s in data.get("derived_from", [])]
        if len(names) != len(set(names)):
            raise ValidationError("each source dataset at most once", "derived_from")

    @validates_schema
    def _flags(self, data: dict[str, Any], **_: Any) -> None:
        """Genetic and cross-border data constrain who sees the metadata and where it goes."""
        if data.get("genetic_data") and data["sensitivity"] in (PUBLIC, CONSORTIUM):
            raise ValidationError(
                "genetic data needs the restricted or highly-sensitive tier", "sensitivity"
            )
        codes = {resolve(m["code"]).shorthand for m in data["duo"]["modifiers"]}
        if data.get("cross_border_restricted") and "GS" not in codes:
            raise ValidationError(
                "data that may not cross borders needs the GS (geographical restriction) "
                "modifier naming where it may be used",
                "duo",
            )

    @validates_schema
    def _weights(self, data: dict[str, Any], **_: Any) -> None:
        # A schema-level check: it runs only once every contributor parsed cleanly.
        value = data.get("contributors") or []
        if value and sum(Decimal(c["weight"]) for c in value) <= 0:
            raise ValidationError(
                "at least one contributor needs a positive weight", "contributors"
            )

    @post_load
    def _plain(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Dates back to ISO strings: the body is JSON and is signed."""
        cover = data.get("temporal_coverage")
        if cover:
            data["temporal_coverage"] = {k: v.isoformat() for k, v in cover.items()}
        return data


def is_public(metadata: dict[str, Any]) -> bool:
    return metadata["sensitivity"] == PUBLIC
