"""The contract document: the exact JSON object every party signs, and the checks it must pass.

Each party signs the RFC 8785 canonical bytes of the document with its Ed25519 key, so every
node must derive the same bytes from it: the document holds no floats (amounts and
percentages are decimal strings, every number is an integer) and names its DUO terms by
CURIE, never by shorthand. `check_document` enforces the JSON Schema shipped beside this
module (``contract.schema.json``), then the rules a schema cannot express, and reports every
problem at once, keyed by a dotted path such as ``"purposes.0.code"``, so that an API can
answer with field-level errors.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry, Resource

from consortium import duo

CONTRACT_TYPE = "consortium.contract/v1"
SCHEMA_FILES = ("contract.schema.json", "template.schema.json")

# DUO terms whose parameters or obligations other fields of the contract must agree with.
_TS = "DUO:0000025"  # time limit on use: "use is approved for a specific number of months"
_RTN = "DUO:0000029"  # return to database or resource: "must return derived/enriched data"

_NO_FLOATS = (
    "numbers with a fraction or exponent are not allowed: the contract is signed as exact "
    'bytes; write an integer, or a decimal string such as "12.50"'
)

Path = tuple[str | int, ...]
Problem = tuple[Path, str]


class ContractDocumentError(ValueError):
    """A contract document that may not be signed; ``errors`` maps dotted paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"{path or '(document)'}: {' '.join(m)}" for path, m in errors.items())
        super().__init__(f"invalid contract document: {shown}")


def load_schema(name: str) -> dict[str, Any]:
    """One of the bundled JSON Schemas (`SCHEMA_FILES`), parsed."""
    text = files("consortium.contracts").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def _strict_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema counts 1.0 as an integer and Python counts True as one; a signed contract
    # must hold neither, so only exact ints pass.
    return type(instance) is int


_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """A validator for a bundled schema, with formats asserted and floats refused as integers.

    Every bundled schema is registered by its ``$id``, so the template schema can refer to
    the contract schema's definitions.
    """
    schemas = {file: load_schema(file) for file in SCHEMA_FILES}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return _StrictValidator(schemas[name], registry=registry, format_checker=FormatChecker())


def _dotted(path: Path) -> str:
    """``("purposes", 0, "code")`` -> ``"purposes.0.code"``; the document itself is ``""``."""
    return ".".join(str(part) for part in path)


def schema_problems(validator: Draft202012Validator, instance: Any) -> dict[str, list[str]]:
    """Every schema violation in ``instance``, keyed by dotted path, in words a steward reads."""
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(instance):
        for path, message in _describe(error):
            _add(errors, path, message)
    return errors


def _describe(error: ValidationError) -> Iterator[Problem]:
    """Turn one jsonschema error into problems at the path of the offending field.

    jsonschema reports a missing or unexpected property at the enclosing object; a form
    wants it at the field, so those are moved down one level.
    """
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required":
        for name in error.validator_value:
            if name not in error.instance:
                yield (*path, name), "is required"
    elif kind == "additionalProperties":
        for name in error.instance:
            if name not in schema.get("properties", {}):
                yield (*path, name), "is not a field of this object"
    elif kind == "not":
        yield path, schema.get("description", error.message)
    elif kind == "contains":
        yield path, schema["contains"]["description"]
    elif kind in ("pattern", "format"):
        yield path, f"{error.instance!r} is not {schema.get('description', 'in the right form')}"
    elif kind == "type" and schema.get("type") == "string" and _is_number(error.instance):
        yield path, f'write it as text in quotes, e.g. "{error.instance}"'
    elif kind == "type" and schema.get("type") == "integer" and isinstance(error.instance, float):
        yield path, "must be a whole number"
    elif kind == "type" and isinstance(error.instance, float):
        yield path, _NO_FLOATS
    else:
        yield path, error.message


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _add(errors: dict[str, list[str]], path: Path, message: str) -> None:
    messages = errors.setdefault(_dotted(path), [])
    if message not in messages:
        messages.append(message)


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with every DUO code in purposes and modifiers written as its CURIE.

    Stewards and clients may say "HMB"; the signed document must say "DUO:0000006" so that
    all parties sign the same bytes for the same meaning. Codes that do not resolve are left
    as they are for `check_document` to report.
    """
    result = copy.deepcopy(doc)
    for terms, _, _ in _duo_lists(result):
        for i, item in enumerate(terms):
            with contextlib.suppress(duo.DuoError):
                if isinstance(item, dict):
                    item["code"] = duo.resolve(item.get("code")).id
                else:
                    terms[i] = duo.resolve(item).id
    return result


def check_document(doc: dict[str, Any]) -> None:
    """Raise `ContractDocumentError` listing every problem in ``doc``; return if it may be signed.

    ``doc`` must already be normalised (see `normalise`): a shorthand is reported, because the
    bytes signed must not depend on how someone typed a code.
    """
    if not isinstance(doc, dict):
        raise ContractDocumentError({"": ["a contract document must be a JSON object"]})
    errors = schema_problems(schema_validator("contract.schema.json"), doc)
    for check in _RULES:
        for path, message in check(doc):
            _add(errors, path, message)
    if errors:
        raise ContractDocumentError(errors)


# ---- rules the schema cannot express --------------------------------------------------------
# Each rule looks only at parts of the document that have the right shape; anything else has
# already been reported by the schema, and a second message about it would only add noise.

_DEFS = load_schema("contract.schema.json")["$defs"]
_DATE = re.compile(_DEFS["date"]["pattern"])
_PERCENT = re.compile(_DEFS["percent"]["pattern"])
_DUO_CURIE = re.compile(_DEFS["duo_curie"]["pattern"])


def _objects(doc: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, item) for the object items of the list ``doc[key]``, if it is a list."""
    items = doc.get(key)
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def _duo_lists(doc: dict[str, Any]) -> Iterator[tuple[list[Any], Path, str]]:
    """Every list of DUO terms in ``doc``, with its path and the kind of term it holds: the
    contract's purposes and modifiers, and the terms each dataset declares (``duo``), whose
    permissions are bare codes rather than objects."""
    for key, kind in (("purposes", "permission"), ("modifiers", "modifier")):
        if isinstance(doc.get(key), list):
            yield doc[key], (key,), kind
    for index, dataset in _objects(doc, "datasets"):
        terms = dataset.get("duo")
        if not isinstance(terms, dict):
            continue
        for key, kind in (("permissions", "permission"), ("modifiers", "modifier")):
            if isinstance(terms.get(key), list):
                yield terms[key], ("datasets", index, "duo", key), kind


def _modifier_codes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for _, item in _objects(doc, "modifiers") if "code" in item}


def _amendment(doc: dict[str, Any]) -> Iterator[Problem]:
    """Version 1 amends nothing; version n amends an earlier version of the same contract.

    Usually that is n - 1; it is earlier when an amendment was dropped before it was signed
    (version 3 then amends version 1, the one in force). The node checks that the amended
    version is the one in force; the document can only say it is earlier.
    """
    version, amends = doc.get("version"), doc.get("amends")
    if type(version) is not int or version < 1:
        return
    if version == 1:
        if amends is not None:
            yield ("amends",), "must be null for version 1: an original contract amends nothing"
        return
    if amends is None:
        yield ("amends",), f"version {version} must name the version it amends"
    elif isinstance(amends, dict):
        if "id" in amends and amends["id"] != doc.get("id"):
            yield ("amends", "id"), "must be this contract's own id: an amendment is a new version"
        earlier = amends.get("version")
        if type(earlier) is int and not 1 <= earlier < version:
            yield ("amends", "version"), f"must be an earlier version than {version}"


def _parties(doc: dict[str, Any]) -> Iterator[Problem]:
    """Origins identify parties and keys sign for them, so neither may appear twice."""
    for field in ("origin", "public_key"):
        seen: dict[str, int] = {}
        for index, party in _objects(doc, "parties"):
            value = party.get(field)
            if not isinstance(value, str):
                continue
            if value in seen:
                yield ("parties", index, field), f"is the same as that of party {seen[value]}"
            else:
                seen[value] = index


def _datasets(doc: dict[str, Any]) -> Iterator[Problem]:
    """A dataset is shared by its provider, which must be a party in the provider role."""
    parties = [party for _, party in _objects(doc, "parties")]
    origins = {party.get("origin") for party in parties}
    providers = {party.get("origin") for party in parties if party.get("role") == "provider"}
    for index, dataset in _objects(doc, "datasets"):
        provider = dataset.get("provider")
        if not isinstance(provider, str) or provider in providers:
            continue
        if provider in origins:
            message = f"party {provider!r} is not in the provider role"
        else:
            message = f"{provider!r} is not the origin of a party"
        yield ("datasets", index, "provider"), message


def _duo_terms(doc: dict[str, Any]) -> Iterator[Problem]:
    """Purposes are DUO permissions, modifiers are DUO modifiers, each modifier at most once;
    the same holds for the terms each dataset declares.

    DUO keeps the two apart: a permission says what research is allowed ("This data use
    permission indicates ..."), a modifier adds a condition to it ("This data use modifier
    indicates ..."). Listing a modifier as a purpose would let a request match a condition.
    A modifier twice (two TS limits) would leave the contract saying two things.
    """
    for terms, path, kind in _duo_lists(doc):
        seen: dict[str, int] = {}
        for index, item in enumerate(terms):
            code = item.get("code") if isinstance(item, dict) else item
            at = (*path, index, "code") if isinstance(item, dict) else (*path, index)
            if not isinstance(code, str) or not _DUO_CURIE.fullmatch(code):
                continue
            try:
                term = duo.resolve(code)
            except duo.DuoError as exc:
                yield at, str(exc)
                continue
            if term.kind != kind:
                listed = "purposes" if path[0] != "datasets" else "permissions"
                other = listed if term.kind == "permission" else "modifiers"
                yield (
                    at,
                    f"{code} ({term.shorthand}, {term.label}) is a data use {term.kind}, "
                    f"not a {kind}; it belongs in {other}",
                )
            elif kind == "modifier" and code in seen:
                yield at, f"repeats modifier {seen[code]} ({term.shorthand})"
            else:
                seen.setdefault(code, index)


def _term(doc: dict[str, Any]) -> Iterator[Problem]:
    """The term ends after it starts, and no grant outlives a TS time limit.

    TS (DUO:0000025) "indicates that use is approved for a specific number of months", so a
    grant longer than those months would approve use the data's terms do not.
    """
    term = doc.get("term")
    if not isinstance(term, dict):
        return
    start, end = term.get("start"), term.get("end")
    if _is_date(start) and _is_date(end) and date.fromisoformat(end) <= date.fromisoformat(start):
        yield ("term", "end"), f"must be after the start ({start})"
    months = _modifier_codes(doc).get(_TS, {}).get("months")
    longest = term.get("max_grant_months")
    if type(months) is int and type(longest) is int and longest > months:
        yield (
            ("term", "max_grant_months"),
            f"is longer than the {months}-month time limit of the TS modifier",
        )


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _obligations(doc: dict[str, Any]) -> Iterator[Problem]:
    """RTN (DUO:0000029): "the requestor must return derived/enriched data"; say so."""
    obligations = doc.get("obligations")
    if (
        _RTN in _modifier_codes(doc)
        and isinstance(obligations, dict)
        and obligations.get("return_derived_data") is False
    ):
        yield (
            ("obligations", "return_derived_data"),
            "must be true: the RTN modifier (DUO:0000029) requires derived data be returned",
        )


def _benefit_split(doc: dict[str, Any]) -> Iterator[Problem]:
    """Shares are positive, payees named once, and the shares add up to exactly 100.

    Summed as Decimal, so 33.33 + 33.33 + 33.34 is exactly 100 and 99.99 is not.
    """
    names: dict[str, int] = {}
    percents: list[Decimal] = []
    for index, share in _objects(doc, "benefit_split"):
        name = share.get("name")
        if isinstance(name, str):
            if name in names:
                yield ("benefit_split", index, "name"), f"repeats the name of share {names[name]}"
            else:
                names[name] = index
        percent = share.get("percent")
        if isinstance(percent, str) and _PERCENT.fullmatch(percent):
            percents.append(Decimal(percent))
            if percents[-1] == 0:
                yield ("benefit_split", index, "percent"), "must be greater than 0"
    shares = doc.get("benefit_split")
    # The sum means something only when every share could be read.
    if isinstance(shares, list) and shares and len(percents) == len(shares):
        total = sum(percents, Decimal(0))
        if total != 100:
            yield ("benefit_split",), f"the shares add up to {total}, not 100"


_RULES = (_amendment, _parties, _datasets, _duo_terms, _term, _obligations, _benefit_split)
