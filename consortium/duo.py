"""The GA4GH Data Use Ontology (DUO): the shared words for what a dataset may be used for.

Datasets and sharing contracts are tagged with DUO terms so that every node in an alliance
reads "health/medical/biomedical research only, ethics approval required" the same way, and
so that a request can be matched against a dataset's terms by machine. DUO has two branches:

- *data use permissions* (NRES, GRU, HMB, DS, POA) say which research purposes are allowed;
- *data use modifiers* (IRB, PUB, NCU, TS, GS, ...) add conditions to a permission.

The terms come from the bundled ``consortium/data/duo.csv`` (GA4GH Data Use Ontology,
EMBL-EBI, CC BY 4.0; see ``consortium/data/NOTICE.md``), read once at import.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Literal

Kind = Literal["permission", "modifier"]

#: The two abstract roots of DUO. They name the branches, not a use condition: a dataset
#: tagged "data use permission" says nothing about what is permitted, so they are refused.
ROOTS: Mapping[str, Kind] = MappingProxyType(
    {"DUO:0000001": "permission", "DUO:0000017": "modifier"}
)

#: Shorthands of the permission terms. DUO places these five under "data use permission"
#: (DUO:0000001); every other term with a shorthand sits under "data use modifier".
PERMISSIONS = frozenset({"NRES", "GRU", "HMB", "DS", "POA"})

_CURIE = re.compile(r"DUO:[0-9]{7}", re.IGNORECASE)


class DuoError(ValueError):
    """A code that is not a DUO term that may be used as a tag."""


@dataclass(frozen=True)
class Term:
    """One DUO term: its CURIE ("DUO:0000006"), shorthand ("HMB"), label, definition, kind."""

    id: str
    shorthand: str
    label: str
    description: str
    kind: Kind


def _load() -> tuple[dict[str, Term], dict[str, str]]:
    """Read the bundled CSV into (terms by id, root labels by id)."""
    text = files("consortium").joinpath("data", "duo.csv").read_text(encoding="utf-8")
    terms: dict[str, Term] = {}
    root_labels: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["id"] in ROOTS:
            root_labels[row["id"]] = row["label"]
            continue
        kind: Kind = "permission" if row["shorthand"] in PERMISSIONS else "modifier"
        terms[row["id"]] = Term(row["id"], row["shorthand"], row["label"], row["description"], kind)
    return terms, root_labels


_TERMS, _ROOT_LABELS = _load()

#: Every usable DUO term, by CURIE (the two abstract roots are not included).
TERMS: Mapping[str, Term] = MappingProxyType(_TERMS)

_BY_SHORTHAND: Mapping[str, Term] = MappingProxyType(
    {term.shorthand.upper(): term for term in _TERMS.values()}
)


def resolve(code: str) -> Term:
    """The term named by a CURIE (``"DUO:0000006"``) or a shorthand (``"HMB"``, any case).

    Raises `DuoError` for anything else, including the abstract roots DUO:0000001 and
    DUO:0000017: they only group the permissions and the modifiers, so a tag using one would
    promise nothing a request could be checked against.
    """
    if not isinstance(code, str):
        raise DuoError(f"a DUO code must be a string, not {type(code).__name__}")
    if _CURIE.fullmatch(code):
        curie = code.upper()
        if curie in ROOTS:
            kind = ROOTS[curie]
            example = "GRU or HMB" if kind == "permission" else "IRB or PUB"
            raise DuoError(
                f"{curie} ({_ROOT_LABELS[curie]}) is the abstract root of the DUO {kind}s and "
                f"cannot be used as a tag; use a specific {kind} such as {example}"
            )
        term = _TERMS.get(curie)
        if term is None:
            raise DuoError(f"{code} is not a term of the bundled Data Use Ontology")
        return term
    term = _BY_SHORTHAND.get(code.upper())
    if term is None:
        raise DuoError(
            f"unknown DUO code {code!r}: expected a CURIE such as DUO:0000006 "
            "or a shorthand such as HMB"
        )
    return term


# What each permission, granted on a dataset, allows a request to be for. The rules follow
# the DUO class hierarchy (DS is a subclass of HMB, HMB of GRU) and the DUO definitions:
#   NRES DUO:0000004 "there is no restriction on use": every purpose, POA included.
#   GRU  DUO:0000042 "use is allowed for general research use for any research purpose".
#   HMB  DUO:0000006 "use is allowed for health/medical/biomedical purposes; does not include
#        the study of population origins or ancestry".
#   DS   DUO:0000007 "use is allowed provided it is related to the specified disease".
#   POA  DUO:0000011 "use of the data is limited to the study of population origins or
#        ancestry": a branch of its own directly under "data use permission", not under GRU.
_COVERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "NRES": frozenset({"NRES", "GRU", "HMB", "DS", "POA"}),
        "GRU": frozenset({"GRU", "HMB", "DS"}),
        "HMB": frozenset({"HMB", "DS"}),
        "DS": frozenset({"DS"}),
        "POA": frozenset({"POA"}),
    }
)


def permission(code: str, role: str) -> Term:
    term = resolve(code)
    if term.kind != "permission":
        raise DuoError(
            f"the {role} code {code!r} is the modifier {term.shorthand} ({term.label}); "
            "only permissions (NRES, GRU, HMB, DS, POA) can cover a purpose"
        )
    return term


def covers(granted: str, requested: str) -> bool:
    """Whether data tagged with permission ``granted`` may be used for purpose ``requested``.

    The order is NRES ⊃ GRU ⊃ HMB ⊃ DS, with POA apart:

    - NRES (DUO:0000004, "no restriction on use") covers every purpose.
    - GRU (DUO:0000042, "any research purpose") covers GRU, HMB and DS, but not POA: DUO
      asserts POA as a sibling of GRU, not a subclass, so class-based matching (which is
      what other DUO tools do) does not derive it. DUO's *comment* on GRU mentions ancestry
      research among its examples; a steward who reads it that way can still approve such a
      request by hand, which is safer than a machine granting it.
    - HMB (DUO:0000006) covers HMB and DS; its definition excludes "the study of population
      origins or ancestry", so never POA.
    - DS (DUO:0000007) covers only DS. Whether the *diseases* match (the requested disease
      equals or lies under the granted one in MONDO) is for the caller: this function
      compares DUO codes only.
    - POA (DUO:0000011) covers only POA: it is "limited to the study of population origins
      or ancestry".

    Both codes may be CURIEs or shorthands. Raises `DuoError` if either is unknown, a root,
    or a modifier (modifiers add conditions; they are not purposes).
    """
    granted_term = permission(granted, "granted")
    requested_term = permission(requested, "requested")
    return requested_term.shorthand in _COVERS[granted_term.shorthand]
