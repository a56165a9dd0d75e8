"""Sharing-contract templates: the starting points a data steward chooses from.

A template is a JSON file in the repository's top-level ``contracts/`` folder, shipped inside
the package as ``consortium/contracts/templates/`` (a symlink to that folder, followed when
the wheel is built). It holds defaults for part of a contract document and names the fields
the steward must supply (``fill``); `Template.fill` merges the steward's values over the
defaults. The node adds the id, version and the parties' keys afterwards and only then checks
the whole document, so filling never validates.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from consortium.contracts.document import (
    CONTRACT_TYPE,
    normalise,
    schema_problems,
    schema_validator,
)

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


class TemplateError(ValueError):
    """No template by that name, or a template file that is not a valid template."""


@dataclass(frozen=True)
class Template:
    """One contract template, as read from its file."""

    name: str
    title: str
    description: str
    defaults: Mapping[str, Any]
    fill_fields: tuple[str, ...]

    def fill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The steward's ``values`` deep-merged over the defaults, as a contract document draft.

        Objects merge key by key, so a steward who gives only ``term.start`` and ``term.end``
        keeps the default ``term.max_grant_months``; lists and other values replace the
        default whole, because a list of purposes or parties is one decision, not items to
        add to. ``type`` and ``template`` are then set (they are facts, not choices) and DUO
        shorthands turned into CURIEs. The result is not checked: id, version, amends and the
        parties' origins and keys are still missing until the node adds them.
        """
        document = merge(self.defaults, values)
        document["type"] = CONTRACT_TYPE
        document["template"] = self.name
        return normalise(document)


def missing_fields(template: Template, values: Mapping[str, Any]) -> list[str]:
    """The template's fill fields (dotted paths) that ``values`` does not supply, in order.

    A field given as null counts as supplied: null is a real answer for, e.g., "no
    acknowledgement required".
    """
    return [path for path in template.fill_fields if not _has(values, path.split("."))]


def list_templates() -> list[Template]:
    """Every bundled template, by name."""
    return [load_template(name) for name in _names()]


def load_template(name: str) -> Template:
    """The bundled template called ``name``; `TemplateError` if there is none, or it is broken."""
    if not isinstance(name, str) or name not in _names():
        known = ", ".join(_names())
        raise TemplateError(f"unknown contract template {name!r}; the templates are: {known}")
    text = _directory().joinpath(f"{name}.json").read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template {name!r} is not valid JSON: {exc}") from exc
    problems = schema_problems(schema_validator("template.schema.json"), raw)
    if not problems:
        problems = _consistency(name, raw)
    if problems:
        shown = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in problems.items())
        raise TemplateError(f"template {name!r} is not a valid template: {shown}")
    return Template(
        name=raw["name"],
        title=raw["title"],
        description=raw["description"],
        defaults=raw["defaults"],
        fill_fields=tuple(raw["fill"]),
    )


def _consistency(name: str, raw: dict[str, Any]) -> dict[str, list[str]]:
    """What the template schema cannot say: the name matches the file, fill has no defaults.

    A fill field with a default would be reported missing although the template has a value
    for it, so a steward would be asked for something already decided.
    """
    problems: dict[str, list[str]] = {}
    if raw["name"] != name:
        problems["name"] = [f"must be {name!r}, the file's name"]
    for path in raw["fill"]:
        if _has(raw["defaults"], path.split(".")):
            problems[f"fill.{path}"] = ["has a default, so it is not the steward's to fill"]
    return problems


def _directory() -> Traversable:
    return files("consortium.contracts").joinpath("templates")


def _names() -> list[str]:
    """Names of the template files, sorted; any other file in the folder is not a template."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in _directory().iterdir()
        if entry.name.endswith(".json") and _NAME.fullmatch(entry.name.removesuffix(".json"))
    )


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto a copy of ``base``: objects merge, everything else replaces."""
    result = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _has(values: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(values, Mapping) or part not in values:
            return False
        values = values[part]
    return True
