"""Split an entry's body by disclosure class, and join it back for a reader.

Writing, `split` keeps the public members of a body in clear and moves the members of each
other class into one document per class. Each document is stored salted, like sealed dataset
metadata (`consortium.registry.sealed`), and the body commits to it under
``"sealed": {class: base64(SHA-256(JCS({"salt", "document"})))}``; the entry is then signed
over the clear body, so the ledger verifies with no secret. Usernames (``person`` paths and
the entry's actor) are written as the person's pseudonym.

Reading, `join` deep-merges the documents a reader may see back into the clear body. A
document that was erased (a person's data, on request) comes back as `ERASED` in every leaf
it held, so the ledger, the projections and the reports stay whole.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from consortium.crypto.canonical import canonical_bytes, parse
from consortium.crypto.keys import b64encode
from consortium.disclosure.table import PERSON, PUBLIC, SEALED_CLASSES, TABLE
from consortium.registry.sealed import SealError

SEALED = "sealed"
ERASED = "[erased]"


class DisclosureError(ValueError):
    """A body member with no disclosure class: a bug to fix before anything is written."""


def rules_for(kind: str) -> dict[str, str]:
    rules = TABLE.get(kind)
    if rules is None:
        raise DisclosureError(f"entry kind {kind!r} has no disclosure classes")
    return rules


def person_paths(kind: str) -> list[list[str]]:
    """The paths of ``kind`` that hold usernames, split into steps."""
    return [path.split(".") for path, cls in rules_for(kind).items() if cls == PERSON]


def substitute(
    body: dict[str, Any], paths: Iterable[list[str]], rename: Callable[[str], str]
) -> None:
    """Replace in place every username at ``paths`` (``[]`` steps into list items)."""

    def walk(node: Any, steps: list[str]) -> None:
        if not steps:
            return
        step, rest = steps[0], steps[1:]
        many = step.endswith("[]")
        key = step[:-2] if many else step
        if not isinstance(node, dict) or key not in node:
            return
        if many:
            items = node[key] if isinstance(node[key], list) else []
            for i, item in enumerate(items):
                if rest:
                    walk(item, rest)
                elif isinstance(item, str):
                    items[i] = rename(item)
        elif rest:
            walk(node[key], rest)
        elif isinstance(node[key], str):
            node[key] = rename(node[key])

    for path in paths:
        walk(body, path)


def split(kind: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The clear body and the document of each sealed class (usernames already substituted).

    Raises `DisclosureError` for a member that no rule covers, so that nothing unclassed is
    ever written.
    """
    rules = rules_for(kind)
    if SEALED in body:
        raise DisclosureError(f"{kind}: {SEALED!r} is reserved for the sealed digests")
    clear: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}

    def target(cls: str, prefix: list[str]) -> dict[str, Any]:
        node = clear if cls == PUBLIC else groups.setdefault(cls, {})
        for step in prefix:
            node = node.setdefault(step, {})
        return node

    def walk(node: Mapping[str, Any], prefix: list[str], inherited: str | None) -> None:
        for key, value in node.items():
            path = ".".join([*prefix, key])
            cls = rules.get(path, inherited)
            if cls == PERSON:
                cls = inherited or PUBLIC
            if cls is None:
                raise DisclosureError(f"{kind}: member {path!r} has no disclosure class")
            deeper = any(p.startswith(path + ".") for p in rules)
            if isinstance(value, dict) and value and deeper:
                walk(value, [*prefix, key], cls)
            else:
                target(cls, prefix)[key] = value

    walk(body, [], None)
    return clear, groups


def seal_document(document: dict[str, Any], salt: str) -> tuple[str, bytes]:
    """The digest and exact bytes of a salted sealed document."""
    data = canonical_bytes({"salt": salt, "document": document})
    return b64encode(hashlib.sha256(data).digest()), data


def digest_of(data: bytes) -> str:
    return b64encode(hashlib.sha256(data).digest())


def open_document(data: bytes, digest: str) -> dict[str, Any]:
    """The document inside sealed bytes, checked against the digest the entry signed."""
    if digest_of(data) != digest:
        raise SealError(f"sealed document {digest} does not match its digest")
    document = parse(data).get("document")
    if not isinstance(document, dict):
        raise SealError(f"sealed document {digest} holds no body members")
    return document


def merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Deep-merge a sealed document back into a body (objects only; lists move whole)."""
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def erased(kind: str, cls: str) -> dict[str, Any]:
    """What an erased document of ``cls`` reads as: `ERASED` at every path the table gives
    that class (deeper members cannot be known any more)."""
    out: dict[str, Any] = {}
    for path, rule in rules_for(kind).items():
        if rule == cls and "[]" not in path:
            *parents, leaf = path.split(".")
            node = out
            for step in parents:
                node = node.setdefault(step, {})
            node[leaf] = ERASED
    return out


def sealed_digests(body: Mapping[str, Any]) -> dict[str, str]:
    """The ``{class: digest}`` a clear body commits to."""
    sealed = body.get(SEALED)
    if not isinstance(sealed, dict):
        return {}
    return {c: d for c, d in sealed.items() if c in SEALED_CLASSES and isinstance(d, str)}


def join(
    body: Mapping[str, Any],
    documents: Mapping[str, dict[str, Any] | None],
    kind: str,
) -> dict[str, Any]:
    """The body as a reader sees it: the clear members plus each given document (``None``
    for an erased one). The ``sealed`` member stays, so the reader sees what was withheld."""
    out = copy.deepcopy(dict(body))
    for cls in SEALED_CLASSES:
        if cls in documents:
            document = documents[cls]
            merge(out, erased(kind, cls) if document is None else document)
    return out
