"""The bundled Data Use Ontology: loading, resolving codes, and the permission order."""

from __future__ import annotations

import dataclasses
from importlib.resources import files

import pytest

from consortium import duo
from consortium.duo import DuoError, covers, resolve

PERMISSIONS = ["NRES", "GRU", "HMB", "DS", "POA"]


def test_every_bundled_term_is_loaded_except_the_two_roots() -> None:
    rows = files("consortium").joinpath("data", "duo.csv").read_text("utf-8").splitlines()
    assert len(duo.TERMS) == len(rows) - 1 - 2  # header and the two abstract roots
    assert "DUO:0000001" not in duo.TERMS
    assert "DUO:0000017" not in duo.TERMS
    shorthands = [term.shorthand for term in duo.TERMS.values()]
    assert all(shorthands)
    assert len(set(shorthands)) == len(shorthands)
    assert all(term_id == term.id for term_id, term in duo.TERMS.items())


def test_kinds_split_the_permissions_from_the_modifiers() -> None:
    kinds = {term.shorthand: term.kind for term in duo.TERMS.values()}
    assert sorted(s for s, k in kinds.items() if k == "permission") == sorted(PERMISSIONS)
    for modifier in ("IRB", "PUB", "NCU", "NPU", "TS", "GS", "MOR", "RTN", "NPOA", "CC"):
        assert kinds[modifier] == "modifier"


def test_resolve_by_curie_and_by_shorthand_in_any_case() -> None:
    hmb = resolve("DUO:0000006")
    assert (hmb.id, hmb.shorthand, hmb.kind) == ("DUO:0000006", "HMB", "permission")
    assert hmb.label == "health or medical or biomedical research"
    assert "population origins or ancestry" in hmb.description
    assert resolve("HMB") is hmb
    assert resolve("hmb") is hmb
    assert resolve("Hmb") is hmb
    assert resolve("duo:0000006") is hmb
    assert resolve("ncu").id == "DUO:0000046"
    assert resolve("DUO:0000025").shorthand == "TS"


@pytest.mark.parametrize(
    "code", ["XYZ", "DUO:0000099", "DUO:000006", "0000006", "", " HMB", "HMB ", "DUO:0000006x"]
)
def test_unknown_codes_are_refused_with_the_code_in_the_message(code: str) -> None:
    with pytest.raises(DuoError) as caught:
        resolve(code)
    assert repr(code) in str(caught.value) or code in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("root", "kind"), [("DUO:0000001", "permission"), ("DUO:0000017", "modifier")]
)
def test_the_abstract_roots_cannot_be_tags(root: str, kind: str) -> None:
    with pytest.raises(DuoError, match=f"abstract root of the DUO {kind}s"):
        resolve(root)
    with pytest.raises(DuoError):
        resolve(root.lower())


@pytest.mark.parametrize("code", [None, 6, ["HMB"]])
def test_a_code_must_be_a_string(code: object) -> None:
    with pytest.raises(DuoError, match="must be a string"):
        resolve(code)  # type: ignore[arg-type]


def test_terms_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolve("HMB").kind = "modifier"  # type: ignore[misc]
    with pytest.raises(TypeError):
        duo.TERMS["DUO:0000006"] = resolve("GRU")  # type: ignore[index]


# Rows: the permission a dataset is tagged with; columns: the purpose requested.
COVERS = {
    #        NRES   GRU    HMB    DS     POA
    "NRES": [True, True, True, True, True],
    "GRU": [False, True, True, True, False],
    "HMB": [False, False, True, True, False],
    "DS": [False, False, False, True, False],
    "POA": [False, False, False, False, True],
}


@pytest.mark.parametrize("granted", PERMISSIONS)
@pytest.mark.parametrize("requested", PERMISSIONS)
def test_covers_truth_table(granted: str, requested: str) -> None:
    expected = COVERS[granted][PERMISSIONS.index(requested)]
    assert covers(granted, requested) is expected
    # CURIEs and shorthands in any mix give the same answer.
    assert covers(resolve(granted).id, requested.lower()) is expected


def test_covers_refuses_modifiers_roots_and_unknown_codes() -> None:
    with pytest.raises(DuoError, match="modifier NCU"):
        covers("NCU", "HMB")
    with pytest.raises(DuoError, match="requested code 'IRB'"):
        covers("GRU", "IRB")
    with pytest.raises(DuoError, match="abstract root"):
        covers("DUO:0000001", "HMB")
    with pytest.raises(DuoError, match="unknown"):
        covers("GRU", "ANY")


def test_attribution_ships_with_the_data() -> None:
    notice = files("consortium").joinpath("data", "NOTICE.md").read_text("utf-8")
    assert "GA4GH Data Use Ontology, EMBL-EBI" in notice
    assert "CC BY 4.0" in notice
