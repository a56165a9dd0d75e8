"""What a contract document says about each dataset it covers, and who may read it.

Every party signs the contract document, so the document itself must say what is shared: a
dataset id means nothing to a countersigner at another institution, who cannot look it up in
the provider's registry. Each dataset therefore carries its title, version, sensitivity tier
and DUO terms. The node that provides a dataset writes them from its registry (the steward
does not type them) and compares them with its registry again whenever it proposes or
countersigns, so a party never signs words about a dataset that its provider no longer
stands behind. A dataset another institution provides is kept as the document describes it,
however little that is: the drafting node has nothing to check it against.

The details are the dataset's metadata, so they reach no one its tier excludes: on the ledger
they are sealed for the contract's parties (protocol §13), and a reader of the API who may
not see the tier's metadata is shown the dataset without them.
"""

from __future__ import annotations

from typing import Any

from consortium.auth.roles import Actor
from consortium.duo import DuoError, resolve
from consortium.registry.datasets import can_see
from consortium.registry.metadata import HIGHLY_SENSITIVE

# The fields a document describes a dataset with, beside its id, version and provider.
DESCRIBED = ("title", "sensitivity", "duo")
# A dataset described without its tier is shown as if it were of the strictest.
_UNKNOWN_TIER = HIGHLY_SENSITIVE


def described(metadata: dict[str, Any]) -> dict[str, Any]:
    """The details of a dataset version, from its registered metadata."""
    terms = metadata["duo"]
    duo: dict[str, Any] = {"permissions": list(terms["permissions"])}
    if terms.get("diseases"):
        duo["diseases"] = list(terms["diseases"])
    duo["modifiers"] = [dict(m) for m in terms["modifiers"]]
    return {"title": metadata["title"], "sensitivity": metadata["sensitivity"], "duo": duo}


_WHAT = {"title": "title", "sensitivity": "sensitivity tier", "duo": "DUO terms"}


def mismatches(dataset: dict[str, Any], metadata: dict[str, Any]) -> dict[str, str]:
    """How a document's description of one of this node's datasets differs from its
    registry, by field. Empty when every detail is there and the same, and when the
    document does not describe the dataset at all: another institution drafted it and
    invented nothing, and this node knows its own data. A description in part is refused."""
    problems: dict[str, str] = {}
    if not any(field in dataset for field in DESCRIBED):
        return problems
    where = f"version {dataset['version']} of {dataset['id']!r} here"
    for field, value in described(metadata).items():
        shown = "" if field == "duo" else f": {value!r}"
        if field not in dataset:
            problems[field] = f"is missing: the {_WHAT[field]} of {where} must be stated too{shown}"
        elif dataset[field] != value:
            problems[field] = f"is not the {_WHAT[field]} of {where}{shown}"
    return problems


def _term(code: str) -> str:
    try:
        return resolve(code).shorthand
    except DuoError:
        return code


def _modifier(modifier: dict[str, Any]) -> str:
    words = [_term(modifier.get("code", "?"))]
    if "months" in modifier:
        words.append(f"{modifier['months']} months")
    if "regions" in modifier:
        words.append("/".join(modifier["regions"]))
    if "until" in modifier:
        words.append(f"until {modifier['until']}")
    return " ".join(words)


def summary(dataset: dict[str, Any]) -> str:
    """One line a countersigner reads before signing: what the document says the dataset is.

    ``ds-… v2 from ORIGIN: "Title", restricted; permits HMB; conditions IRB, GS EU``.
    """
    head = f"{dataset.get('id')} v{dataset.get('version')} from {dataset.get('provider')}"
    if not any(field in dataset for field in DESCRIBED):
        return f"{head}: not described in the document"
    title = f'"{dataset["title"]}"' if "title" in dataset else "no title stated"
    parts = [f"{title}, {dataset.get('sensitivity', 'no tier stated')}"]
    terms = dataset.get("duo")
    if isinstance(terms, dict):
        permits = ", ".join(_term(p) for p in terms.get("permissions", []))
        if terms.get("diseases"):
            permits += f" ({', '.join(terms['diseases'])})"
        parts.append(f"permits {permits}")
        conditions = [_modifier(m) for m in terms.get("modifiers", [])]
        parts.append(f"conditions {', '.join(conditions) or 'none'}")
    else:
        parts.append("no DUO terms stated")
    return f"{head}: " + "; ".join(parts)


def shown_to(document: dict[str, Any], reader: Actor | None) -> dict[str, Any]:
    """``document`` as ``reader`` may read it: a dataset's title and DUO terms are left out
    (``details_withheld``) unless the reader may see the metadata of its tier, exactly as
    for the dataset itself. What is left no longer hashes to the signed digest; the parties
    read the whole document."""
    hidden = [
        i
        for i, dataset in enumerate(document["datasets"])
        if any(field in dataset for field in ("title", "duo"))
        and not can_see(reader, dataset.get("sensitivity", _UNKNOWN_TIER))
    ]
    if not hidden:
        return document
    datasets = list(document["datasets"])
    for i in hidden:
        kept = {k: v for k, v in datasets[i].items() if k not in ("title", "duo")}
        datasets[i] = {**kept, "details_withheld": True}
    return {**document, "datasets": datasets}
