"""The automatic compatibility check: a request against a dataset and the contract it is
shared under, term by term, in words a researcher and a steward both understand.

Pure: no database, no clock beyond the dates it is given. Each finding says which term it
is about, a verdict, and why. ``refused`` findings make a request incompatible; ``review``
findings are conditions a person must check (e.g. "use within an approved project only");
``obligation`` findings are what the grant will require; ``note`` is information.

Only a refused *purpose* may be waived by a steward's manual review, where the contract
allows it: whether a purpose falls under a DUO permission is a matter of reading (DUO's own
comments leave room), while a missing ethics approval, a commercial use under NCU, a place of
use outside GS, a legal basis that does not cover research or a requester outside the
contract's parties are facts no reviewer may wave through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from consortium.duo import covers, resolve

ALLOWED = "allowed"
REFUSED = "refused"
REVIEW = "review"
OBLIGATION = "obligation"
NOTE = "note"

# Modifiers whose condition only a person can check against the request.
_BY_HAND = {
    "US": "use is limited to approved users: the steward confirms the requester",
    "IS": "use is limited to an approved institution: the steward confirms it",
    "PS": "use is limited to an approved project: the steward confirms this project",
    "RS": "use is limited to certain research types: the steward confirms this one",
    "GSO": "genetic studies only: the steward confirms the study is genetic",
    "NMDS": "no methods-development research: the steward confirms the aim",
    "CC": "clinical care use: the steward confirms the setting",
    "NPOA": "no population-origins or ancestry research: the steward confirms the aim",
}
_OBLIGATIONS = {
    "PUB": "results must be made available to the scientific community (publication)",
    "COL": "the requester must collaborate with the dataset's investigators",
    "RTN": "derived or enriched data must be returned to the provider",
}


@dataclass(frozen=True)
class Finding:
    term: str
    verdict: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "verdict": self.verdict, "reason": self.reason}


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def assess(
    request: dict[str, Any],
    dataset: dict[str, Any],
    contract: dict[str, Any],
    today: date,
) -> list[Finding]:
    """Every finding for one dataset of a request, under one contract document.

    ``dataset`` is the dataset version's metadata; ``contract`` the contract document.
    """
    findings: list[Finding] = []
    add = lambda term, verdict, reason: findings.append(Finding(term, verdict, reason))  # noqa: E731
    _legal_basis(dataset, add)
    _party(request, contract, add)
    _purposes(request, contract, add)
    modifiers = {resolve(m["code"]).shorthand: m for m in contract["modifiers"]}
    if "NCU" in modifiers or "NPUNCU" in modifiers:
        if request["commercial"]:
            add("NCU", REFUSED, "commercial request, non-commercial use only (NCU): refused")
        else:
            add("NCU", ALLOWED, "non-commercial request under NCU: allowed")
    if "NPU" in modifiers or "NPUNCU" in modifiers:
        if request.get("not_for_profit"):
            add("NPU", ALLOWED, "the requesting organisation is not-for-profit: allowed")
        else:
            add("NPU", REFUSED, "not-for-profit organisations only (NPU): refused")
    if "IRB" in modifiers:
        if request.get("ethics_reference"):
            add("IRB", ALLOWED, f"ethics approval given ({request['ethics_reference']})")
        else:
            add("IRB", REFUSED, "IRB required: no ethics reference given")
    months = request["duration_months"]
    if "TS" in modifiers and months > modifiers["TS"]["months"]:
        add("TS", REFUSED, f"time limit {modifiers['TS']['months']} months; {months} requested")
    limit = contract["term"]["max_grant_months"]
    if months > limit:
        add("duration", REFUSED, f"grants under this contract last at most {limit} months")
    else:
        add("duration", ALLOWED, f"{months} months requested, at most {limit} allowed")
    end = date.fromisoformat(contract["term"]["end"])
    begins = max(today, date.fromisoformat(contract["term"]["start"]))
    if add_months(begins, months) > end:
        add("term", NOTE, f"the contract ends on {end}; a grant would end then")
    if "GS" in modifiers:
        regions = modifiers["GS"]["regions"]
        where = request.get("region")
        if where is None:
            add("GS", REFUSED, f"use is limited to {', '.join(regions)}: say where (region)")
        elif where in regions or ("EU" in regions and where in _EU):
            add("GS", ALLOWED, f"use in {where}, within {', '.join(regions)}")
        else:
            add("GS", REFUSED, f"use in {where} is outside {', '.join(regions)}")
    if "MOR" in modifiers:
        add("MOR", OBLIGATION, f"no publication before {modifiers['MOR']['until']}")
    for code, reason in _OBLIGATIONS.items():
        if code in modifiers:
            add(code, OBLIGATION, reason)
    for code, reason in _BY_HAND.items():
        if code in modifiers:
            add(code, REVIEW, reason)
    obligations = contract["obligations"]
    if obligations.get("report_outputs_within_days"):
        days = obligations["report_outputs_within_days"]
        add("outputs", OBLIGATION, f"report every output within {days} days")
    if obligations.get("delete_on_expiry"):
        add("deletion", OBLIGATION, "delete every copy when the grant ends, and attest it")
    return findings


def _legal_basis(dataset: dict[str, Any], add: Any) -> None:
    consent = dataset["consent"]
    basis = consent["legal_basis"]
    if basis == "legacy-without-consent":
        add(
            "legal basis",
            REFUSED,
            "legal basis 'legacy, no secondary-use consent' does not cover research use",
        )
    elif basis == "consent" and not consent["secondary_use_consent"]:
        add(
            "legal basis",
            REFUSED,
            "subjects consented, but not separately to secondary use of their data",
        )
    elif basis == "public-interest":
        add("legal basis", ALLOWED, "processing in the public interest")
    else:
        add("legal basis", ALLOWED, "subjects consented to secondary use")


def _party(request: dict[str, Any], contract: dict[str, Any], add: Any) -> None:
    institution = request["institution"]
    parties = [p["institution"] for p in contract["parties"]]
    if institution.casefold() in {p.casefold() for p in parties}:
        add("institution", ALLOWED, f"{institution} is a party to the contract")
    else:
        add(
            "institution",
            REFUSED,
            f"{institution} is not a party to the contract (parties: {', '.join(parties)})",
        )


def _article(code: str) -> str:
    """ "an HMB", "a DS": the article as the shorthand is read aloud, letter by letter."""
    return "an" if code[0] in "AEFHILMNORSX" else "a"


def _purposes(request: dict[str, Any], contract: dict[str, Any], add: Any) -> None:
    granted = contract["purposes"]
    names = ", ".join(resolve(p["code"]).shorthand for p in granted)
    on = f"on {_article(names)} {names} contract"
    for purpose in request["purposes"]:
        asked = resolve(purpose["code"]).shorthand
        matches = [p for p in granted if covers(p["code"], purpose["code"])]
        if not matches:
            add(asked, REFUSED, f"{asked} request {on}: not covered")
            continue
        disease_bound = [p for p in matches if resolve(p["code"]).shorthand == "DS"]
        if disease_bound and len(disease_bound) == len(matches):
            diseases = {p.get("disease") for p in disease_bound}
            if purpose.get("disease") not in diseases:
                add(
                    asked, REFUSED, f"the contract allows DS only for {', '.join(sorted(diseases))}"
                )
                continue
        add(asked, ALLOWED, f"{asked} request {on}: allowed")


# ISO 3166-1 alpha-2 codes of the EU member states, for a GS region "EU".
_EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def compatible(findings: list[Finding]) -> bool:
    return all(f.verdict != REFUSED for f in findings)


PURPOSE_TERMS = frozenset({"NRES", "GRU", "HMB", "DS", "POA"})


def waivable(finding: dict[str, str]) -> bool:
    """Whether a manual review may approve despite this finding (see the module's notes)."""
    return finding["verdict"] != REFUSED or finding["term"] in PURPOSE_TERMS
