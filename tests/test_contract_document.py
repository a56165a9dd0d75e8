"""The contract document: its schema, the rules beyond it, its canonical bytes, the templates."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from jsonschema import Draft202012Validator

from consortium.contracts.document import (
    CONTRACT_TYPE,
    ContractDocumentError,
    check_document,
    load_schema,
    normalise,
    schema_validator,
)
from consortium.contracts.signing import document_digest
from consortium.contracts.templates import (
    Template,
    TemplateError,
    list_templates,
    load_template,
    missing_fields,
)
from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import NodeKey, b64encode

REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "contracts"
KEY_A = b64encode(NodeKey.from_seed(bytes([1]) * 32).public_key)
KEY_B = b64encode(NodeKey.from_seed(bytes([2]) * 32).public_key)
KEY_C = b64encode(NodeKey.from_seed(bytes([3]) * 32).public_key)
ST_EXAMPLE = "consortium.example/st-example"
NORTH = "consortium.example/north-university"


def make_doc() -> dict[str, Any]:
    """A realistic, valid contract exercising every kind of DUO parameter."""
    return {
        "type": "consortium.contract/v1",
        "id": "ctr-7k2m9q4x1c",
        "version": 1,
        "amends": None,
        "title": "Type 2 diabetes cohort for North University",
        "template": "non-commercial-health-research",
        "parties": [
            {
                "institution": "St Example Hospital",
                "origin": ST_EXAMPLE,
                "public_key": KEY_A,
                "role": "provider",
            },
            {
                "institution": "North University",
                "origin": NORTH,
                "public_key": KEY_B,
                "role": "recipient",
            },
        ],
        "datasets": [{"id": "ds-t2d-cohort", "version": 3, "provider": ST_EXAMPLE}],
        "purposes": [
            {"code": "DUO:0000006"},
            {"code": "DUO:0000007", "disease": "MONDO:0005148"},
        ],
        "modifiers": [
            {"code": "DUO:0000046"},
            {"code": "DUO:0000021"},
            {"code": "DUO:0000025", "months": 24},
            {"code": "DUO:0000022", "regions": ["EU", "CH"]},
            {"code": "DUO:0000024", "until": "2026-12-31"},
        ],
        "term": {"start": "2025-03-01", "end": "2027-02-28", "max_grant_months": 12},
        "obligations": {
            "report_outputs_within_days": 90,
            "delete_on_expiry": True,
            "return_derived_data": False,
            "acknowledgement": "Data were provided by St Example Hospital.",
        },
        "compensation": {"currency": "EUR", "fee_per_grant": "150.00", "revenue_pool_percent": "0"},
        "benefit_split": [
            {"payee": "institution", "name": "St Example Hospital", "percent": "70"},
            {"payee": "fund", "name": "St Example patient benefit fund", "percent": "30"},
        ],
        "incidents": {"notify_within_hours": 72, "contact": "dpo@st-example.example"},
        "liability": "Each party is liable for its own use of the data.",
        "manual_review_of_incompatible_requests": True,
    }


def problems(doc: Any) -> dict[str, list[str]]:
    """The errors check_document reports, or {} if it accepts the document."""
    try:
        check_document(doc)
    except ContractDocumentError as exc:
        return exc.errors
    return {}


def test_a_realistic_document_is_accepted() -> None:
    assert problems(make_doc()) == {}


def test_optional_notes_are_accepted() -> None:
    doc = make_doc()
    doc["notes"] = "Reviewed by both ethics committees in February 2025."
    assert problems(doc) == {}


def set_split(*percents: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["benefit_split"] = [
            {"payee": "institution", "name": f"Payee {i}", "percent": p}
            for i, p in enumerate(percents)
        ]

    return mutate


def test_split_of_thirds_summing_exactly_to_100_is_accepted() -> None:
    doc = make_doc()
    set_split("33.33", "33.33", "33.34")(doc)
    assert problems(doc) == {}
    set_split("100.00")(doc)
    assert problems(doc) == {}
    # Summed as floats these come to 99.99999999999999; as decimals, to exactly 100.
    set_split("15.50", "22.24", "12.05", "22.54", "27.67")(doc)
    assert problems(doc) == {}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return mutate


def _both(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


# Each case breaks exactly one rule; the error must be reported at exactly that path.
VIOLATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "split 99.99": (set_split("33.33", "33.33", "33.33"), "benefit_split"),
    "split 100.01": (set_split("60", "40.01"), "benefit_split"),
    "split over 100 in one share": (set_split("100.01"), "benefit_split.0.percent"),
    "split with a zero share": (set_split("100", "0"), "benefit_split.1.percent"),
    "split percent as a float": (set_split("50", 50.0), "benefit_split.1.percent"),
    "split percent with 3 decimals": (set_split("33.333", "66.67"), "benefit_split.0.percent"),
    "duplicate split names": (
        _set("benefit_split.1.name", "St Example Hospital"),
        "benefit_split.1.name",
    ),
    "fee as a float": (_set("compensation.fee_per_grant", 150.0), "compensation.fee_per_grant"),
    "fee as an integer": (_set("compensation.fee_per_grant", 150), "compensation.fee_per_grant"),
    "fee with 3 decimals": (
        _set("compensation.fee_per_grant", "1.005"),
        "compensation.fee_per_grant",
    ),
    "fee with a leading zero": (
        _set("compensation.fee_per_grant", "0150"),
        "compensation.fee_per_grant",
    ),
    "negative fee": (_set("compensation.fee_per_grant", "-1"), "compensation.fee_per_grant"),
    "pool over 100": (
        _set("compensation.revenue_pool_percent", "100.5"),
        "compensation.revenue_pool_percent",
    ),
    "version as a float": (_set("version", 1.0), "version"),
    "version as a boolean": (_set("version", True), "version"),
    "months as a float": (_set("modifiers.2.months", 24.0), "modifiers.2.months"),
    "lower-case currency": (_set("compensation.currency", "eur"), "compensation.currency"),
    "unknown DUO term": (_set("purposes.0.code", "DUO:0000099"), "purposes.0.code"),
    "abstract root as a purpose": (_set("purposes.0.code", "DUO:0000001"), "purposes.0.code"),
    "shorthand not normalised": (_set("purposes.0.code", "HMB"), "purposes.0.code"),
    "permission used as a modifier": (
        _set("modifiers.0", {"code": "DUO:0000042"}),
        "modifiers.0.code",
    ),
    "modifier used as a purpose": (_set("purposes.0", {"code": "DUO:0000021"}), "purposes.0.code"),
    "modifier listed twice": (_set("modifiers.0", {"code": "DUO:0000021"}), "modifiers.1.code"),
    "DS without disease": (_delete("purposes.1.disease"), "purposes.1.disease"),
    "disease on a non-DS purpose": (
        _set("purposes.0.disease", "MONDO:0005148"),
        "purposes.0.disease",
    ),
    "TS without months": (_delete("modifiers.2.months"), "modifiers.2.months"),
    "months on a non-TS modifier": (_set("modifiers.0.months", 6), "modifiers.0.months"),
    "GS without regions": (_delete("modifiers.3.regions"), "modifiers.3.regions"),
    "MOR without a date": (_delete("modifiers.4.until"), "modifiers.4.until"),
    "end before start": (_set("term.end", "2025-02-28"), "term.end"),
    "end on the start day": (_set("term.end", "2025-03-01"), "term.end"),
    "impossible date": (_set("term.end", "2027-02-30"), "term.end"),
    "date in another form": (_set("term.start", "20250301"), "term.start"),
    "grant longer than TS": (_set("term.max_grant_months", 25), "term.max_grant_months"),
    "RTN without returning data": (
        _set("modifiers.0", {"code": "DUO:0000029"}),
        "obligations.return_derived_data",
    ),
    "unknown top-level property": (_set("colour", "red"), "colour"),
    "unknown nested property": (_set("term.renewal", "yearly"), "term.renewal"),
    "unknown party property": (_set("parties.0.email", "x@example.org"), "parties.0.email"),
    "missing liability": (_delete("liability"), "liability"),
    "missing term end": (_delete("term.end"), "term.end"),
    "wrong type": (_set("type", "consortium.contract/v2"), "type"),
    "bad id": (_set("id", "CTR_1"), "id"),
    "duplicate party origins": (_set("parties.1.origin", ST_EXAMPLE), "parties.1.origin"),
    "duplicate party keys": (_set("parties.1.public_key", KEY_A), "parties.1.public_key"),
    "public key not 32 bytes": (_set("parties.0.public_key", "AAAA"), "parties.0.public_key"),
    "public key not canonical base64": (
        _set("parties.0.public_key", KEY_A[:42] + "B="),
        "parties.0.public_key",
    ),
    "unknown role": (_set("parties.1.role", "observer"), "parties.1.role"),
    "dataset provider not a party": (
        _set("datasets.0.provider", "consortium.example/x"),
        "datasets.0.provider",
    ),
    "dataset provider not a provider": (_set("datasets.0.provider", NORTH), "datasets.0.provider"),
    "no datasets": (_set("datasets", []), "datasets"),
    "version 1 amending": (_set("amends", {"id": "ctr-7k2m9q4x1c", "version": 1}), "amends"),
    "version 2 amending nothing": (_set("version", 2), "amends"),
    "amendment of a later version": (
        _both(_set("version", 3), _set("amends", {"id": "ctr-7k2m9q4x1c", "version": 3})),
        "amends.version",
    ),
    "amendment of another contract": (
        _both(_set("version", 2), _set("amends", {"id": "ctr-other", "version": 1})),
        "amends.id",
    ),
}


@pytest.mark.parametrize("case", VIOLATIONS, ids=list(VIOLATIONS))
def test_each_violation_is_reported_at_its_path_and_only_there(case: str) -> None:
    mutate, path = VIOLATIONS[case]
    doc = make_doc()
    mutate(doc)
    errors = problems(doc)
    assert list(errors) == [path], errors
    assert all(isinstance(m, str) and m for m in errors[path])


def test_a_contract_needs_a_provider() -> None:
    doc = make_doc()
    doc["parties"][0]["role"] = "member"
    errors = problems(doc)
    assert set(errors) == {"parties", "datasets.0.provider"}
    assert "provider" in errors["parties"][0]


def test_messages_say_what_is_wrong() -> None:
    doc = make_doc()
    set_split("33.33", "33.33", "33.33")(doc)
    _delete("purposes.1.disease")(doc)
    _set("modifiers.0", {"code": "DUO:0000042"})(doc)
    _set("compensation.fee_per_grant", 12.5)(doc)
    errors = problems(doc)
    assert errors["benefit_split"] == ["the shares add up to 99.99, not 100"]
    assert errors["purposes.1.disease"] == ["is required"]
    assert "permission, not a modifier" in errors["modifiers.0.code"][0]
    assert errors["compensation.fee_per_grant"] == ['write it as text in quotes, e.g. "12.5"']


def test_every_problem_is_reported_at_once() -> None:
    doc = make_doc()
    for mutate, _ in (
        VIOLATIONS["split 100.01"],
        VIOLATIONS["unknown DUO term"],
        VIOLATIONS["end before start"],
        VIOLATIONS["unknown top-level property"],
        VIOLATIONS["fee as a float"],
        VIOLATIONS["duplicate party keys"],
    ):
        mutate(doc)
    assert set(problems(doc)) == {
        "benefit_split",
        "purposes.0.code",
        "term.end",
        "colour",
        "compensation.fee_per_grant",
        "parties.1.public_key",
    }


def test_error_is_a_value_error_carrying_the_errors() -> None:
    doc = make_doc()
    doc["colour"] = "red"
    with pytest.raises(ValueError, match="colour") as caught:
        check_document(doc)
    assert isinstance(caught.value, ContractDocumentError)
    assert caught.value.errors == {"colour": ["is not a field of this object"]}


@pytest.mark.parametrize("doc", [None, [], "contract", 1.5])
def test_a_document_must_be_an_object(doc: Any) -> None:
    assert list(problems(doc)) == [""]


def test_malformed_parts_do_not_break_the_rules() -> None:
    doc = make_doc()
    doc.update(
        parties="everyone",
        datasets=[1, None],
        purposes={"code": "HMB"},
        modifiers=[{"months": "x"}],
        term=[],
        obligations=None,
        benefit_split=[{"percent": 100}],
        amends="v0",
    )
    errors = problems(doc)
    assert {"parties", "datasets.0", "purposes", "modifiers.0.code", "term", "amends"} <= set(
        errors
    )


# ---- normalise ------------------------------------------------------------------------------


def test_normalise_writes_curies_and_leaves_the_input_alone() -> None:
    doc = make_doc()
    doc["purposes"] = [{"code": "hmb"}, {"code": "DS", "disease": "MONDO:0005148"}]
    doc["modifiers"] = [{"code": "NCU"}, {"code": "irb"}, {"code": "TS", "months": 24}]
    doc["modifiers"] += [{"code": "GS", "regions": ["EU"]}, {"code": "MOR", "until": "2026-12-31"}]
    before = copy.deepcopy(doc)
    result = normalise(doc)
    assert doc == before
    assert [p["code"] for p in result["purposes"]] == ["DUO:0000006", "DUO:0000007"]
    assert [m["code"] for m in result["modifiers"]] == [
        "DUO:0000046",
        "DUO:0000021",
        "DUO:0000025",
        "DUO:0000022",
        "DUO:0000024",
    ]
    assert result["modifiers"][2]["months"] == 24
    assert problems(result) == {}
    assert "purposes.0.code" in problems(doc)


def test_normalise_leaves_unknown_codes_for_the_check_to_report() -> None:
    doc = make_doc()
    doc["purposes"][0]["code"] = "WHATEVER"
    assert normalise(doc)["purposes"][0]["code"] == "WHATEVER"
    assert list(problems(normalise(doc))) == ["purposes.0.code"]


# ---- canonical bytes ------------------------------------------------------------------------


def _reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


@pytest.mark.parametrize("institution", ["St Example Hospital", "Hôpital Saint-Exemple 北京"])
def test_canonical_bytes_do_not_depend_on_key_order(institution: str) -> None:
    doc = make_doc()
    doc["parties"][0]["institution"] = institution
    shuffled = _reordered(doc)
    assert list(shuffled) != list(doc)
    assert canonical_bytes(shuffled) == canonical_bytes(doc) == rfc8785.dumps(doc)
    assert document_digest(shuffled) == document_digest(doc)
    digest = base64.b64encode(hashlib.sha256(canonical_bytes(doc)).digest()).decode()
    assert document_digest(doc) == digest
    assert json.loads(canonical_bytes(doc)) == doc


def test_any_change_changes_the_digest() -> None:
    doc = make_doc()
    changed = make_doc()
    changed["compensation"]["fee_per_grant"] = "150.01"
    assert document_digest(changed) != document_digest(doc)


# ---- schemas ----------------------------------------------------------------------------------


def _object_schemas(schema: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        if "properties" in schema:
            found.append((where, schema))
        for key, value in schema.items():
            found += _object_schemas(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _object_schemas(value, f"{where}/{index}")
    return found


@pytest.mark.parametrize("name", ["contract.schema.json", "template.schema.json"])
def test_schemas_are_2020_12_closed_and_described(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for where, obj in _object_schemas(schema):
        if where.endswith("/if") or "/contains" in where or where.endswith("/else"):
            continue  # conditions and matchers, not object definitions
        assert obj.get("additionalProperties") is False, where
        for prop, sub in obj["properties"].items():
            assert sub.get("description"), f"{where}/properties/{prop}"


def test_the_contract_schema_has_no_number_type() -> None:
    text = files("consortium.contracts").joinpath("contract.schema.json").read_text("utf-8")
    assert '"number"' not in text


def test_template_schema_mirrors_the_contract_schema() -> None:
    """Partial objects and fill paths in the template schema follow the contract's fields."""
    contract = load_schema("contract.schema.json")["properties"]
    template = load_schema("template.schema.json")["properties"]
    node_fields = {"type", "id", "version", "amends", "template"}
    defaults = template["defaults"]["properties"]
    assert set(defaults) == set(contract) - node_fields
    paths = set(defaults)
    for name, sub in defaults.items():
        if "properties" in sub:
            assert set(sub["properties"]) == set(contract[name]["properties"]), name
            paths |= {f"{name}.{field}" for field in sub["properties"]}
    assert set(template["fill"]["items"]["enum"]) == paths


# ---- templates --------------------------------------------------------------------------------

STEWARD_VALUES: dict[str, Any] = {
    "title": "Type 2 diabetes cohort sharing",
    "parties": [
        {"institution": "St Example Hospital", "role": "provider"},
        {"institution": "North University", "role": "recipient"},
    ],
    "datasets": [{"id": "ds-t2d-cohort", "version": 3}],
    "term": {"start": "2025-03-01", "end": "2027-02-28"},
    "obligations": {"acknowledgement": "Data were provided by St Example Hospital."},
    "compensation": {"fee_per_grant": "2500.00", "revenue_pool_percent": "1.5"},
    "incidents": {"contact": "dpo@st-example.example"},
}


def _only(values: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """The part of ``values`` a steward gives for exactly these fill paths."""
    result: dict[str, Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        source, target = values, result
        for part in parents:
            source = source[part]
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(source[last])
    return result


def _as_node_would(document: dict[str, Any]) -> dict[str, Any]:
    """What the node adds after filling: identity, and the parties' origins and keys."""
    document.update(id="ctr-7k2m9q4x1c", version=1, amends=None)
    for party, (origin, key) in zip(
        document["parties"], [(ST_EXAMPLE, KEY_A), (NORTH, KEY_B)], strict=True
    ):
        party.update(origin=origin, public_key=key)
    for dataset in document["datasets"]:
        dataset["provider"] = ST_EXAMPLE
    return document


def test_the_three_templates_are_shipped() -> None:
    names = [template.name for template in list_templates()]
    assert names == sorted(names)
    assert {
        "open-research-attribution",
        "non-commercial-health-research",
        "commercial-use-compensation",
    } <= set(names)


@pytest.mark.parametrize("path", sorted(REPO_TEMPLATES.glob("*.json")), ids=lambda p: p.name)
def test_every_template_file_validates(path: Path) -> None:
    raw = json.loads(path.read_text("utf-8"))
    assert list(schema_validator("template.schema.json").iter_errors(raw)) == []
    assert raw["name"] == path.stem
    # What the package reads is the file in the repository's contracts/ folder.
    assert load_template(path.stem).defaults == raw["defaults"]


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_every_template_fills_into_a_valid_contract(name: str) -> None:
    template = load_template(name)
    assert missing_fields(template, {}) == list(template.fill_fields)
    values = _only(STEWARD_VALUES, template.fill_fields)
    assert missing_fields(template, values) == []
    document = template.fill(values)
    assert document["type"] == CONTRACT_TYPE
    assert document["template"] == name
    assert problems(_as_node_would(document)) == {}


def test_filling_without_the_fill_fields_is_not_a_contract() -> None:
    template = load_template("commercial-use-compensation")
    values = _only(STEWARD_VALUES, template.fill_fields)
    del values["compensation"]["fee_per_grant"]
    assert missing_fields(template, values) == ["compensation.fee_per_grant"]
    document = _as_node_would(template.fill(values))
    assert "compensation.fee_per_grant" in problems(document)


def test_fill_merges_objects_and_replaces_lists() -> None:
    template = load_template("non-commercial-health-research")
    defaults = copy.deepcopy(dict(template.defaults))
    values = {
        "term": {"start": "2025-03-01", "end": "2026-03-01"},
        "modifiers": [{"code": "IRB"}],
        "type": "something else",
        "template": "another",
    }
    document = template.fill(values)
    assert document["term"] == {
        "start": "2025-03-01",
        "end": "2026-03-01",
        "max_grant_months": defaults["term"]["max_grant_months"],
    }
    assert document["modifiers"] == [{"code": "DUO:0000021"}]
    assert document["obligations"] == defaults["obligations"]
    assert (document["type"], document["template"]) == (CONTRACT_TYPE, template.name)
    assert values["modifiers"] == [{"code": "IRB"}]
    assert template.defaults == defaults
    document["term"]["max_grant_months"] = 99
    assert template.fill({})["term"]["max_grant_months"] == defaults["term"]["max_grant_months"]


def test_fill_does_not_check() -> None:
    document = load_template("open-research-attribution").fill({"purposes": [{"code": "NOPE"}]})
    assert "id" not in document
    assert document["purposes"] == [{"code": "NOPE"}]


def test_a_null_value_counts_as_supplied() -> None:
    template = load_template("open-research-attribution")
    values = _only(STEWARD_VALUES, template.fill_fields)
    values["obligations"]["acknowledgement"] = None
    assert missing_fields(template, values) == []


def test_templates_say_what_they_promise() -> None:
    def codes(template: Template, key: str) -> list[str]:
        return [item["code"] for item in template.defaults[key]]

    open_research = load_template("open-research-attribution")
    assert codes(open_research, "purposes") == ["DUO:0000042"]  # GRU
    assert open_research.defaults["compensation"]["fee_per_grant"] == "0"
    assert "obligations.acknowledgement" in open_research.fill_fields

    health = load_template("non-commercial-health-research")
    assert codes(health, "purposes") == ["DUO:0000006"]  # HMB
    assert set(codes(health, "modifiers")) == {"DUO:0000046", "DUO:0000019", "DUO:0000021"}
    assert health.defaults["obligations"]["report_outputs_within_days"] == 90

    commercial = load_template("commercial-use-compensation")
    assert codes(commercial, "purposes") == ["DUO:0000006"]
    assert codes(commercial, "modifiers") == ["DUO:0000025"]  # TS
    assert commercial.defaults["obligations"]["delete_on_expiry"] is True
    assert [s["payee"] for s in commercial.defaults["benefit_split"]] == [
        "institution",
        "contributor",
        "fund",
    ]
    assert {"compensation.fee_per_grant", "compensation.revenue_pool_percent"} <= set(
        commercial.fill_fields
    )


@pytest.mark.parametrize("name", ["no-such-template", "../contracts/README", "", "README", None])
def test_unknown_templates_are_refused(name: Any) -> None:
    with pytest.raises(TemplateError, match="unknown contract template"):
        load_template(name)
