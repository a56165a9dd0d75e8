"""Transparency: who uses a dataset, for what, and what came of it (problem 15); a public
consortium summary with no sensitive detail (problem 18); approval-time statistics (problem 7).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from statistics import median, quantiles
from typing import Any

from sqlalchemy import Engine, func, select

from consortium.access.grants import GRANT
from consortium.access.outputs import OUTPUT
from consortium.access.requests import APPROVED, DENIED, OPEN_STATUSES, REQUEST, RETURNED
from consortium.auth.roles import Actor
from consortium.disclosure.readers import Reader, visible_classes
from consortium.disclosure.table import PARTIES, PERSONAL
from consortium.duo import resolve
from consortium.errors import NotFound
from consortium.registry.datasets import DATASET, can_see, get_dataset
from consortium.registry.members import MEMBER, self_member


def dataset_transparency(engine: Engine, actor: Actor | None, dataset_id: str) -> dict[str, Any]:
    """Who holds grants on a dataset, for which purposes, and the outputs reported.

    Shown to whoever may see the dataset's metadata; others get 404, as for the dataset.
    """
    view = get_dataset(engine, actor, dataset_id)
    if not can_see(actor, view["sensitivity"]):
        raise NotFound(f"no transparency data for {dataset_id!r} for your roles")
    with engine.connect() as conn:
        held = [
            g
            for g in conn.execute(select(GRANT).order_by(GRANT.c.issued_at))
            if any(d["id"] == dataset_id for d in g.document["datasets"])
        ]
        outputs = [
            o
            for o in conn.execute(select(OUTPUT).order_by(OUTPUT.c.reported_at))
            if dataset_id in o.datasets
        ]
    return {
        "dataset": dataset_id,
        "grants": [_grant(g, Reader(actor)) for g in held],
        "outputs": [
            {
                "kind": o.kind,
                "title": o.details.get("title"),
                "doi": o.details.get("doi"),
                "grant": o.grant_id,
                "reported_at": o.reported_at,
            }
            for o in outputs
        ],
    }


def _grant(g: Any, reader: Reader) -> dict[str, Any]:
    """One grant on the page: who (the institution), for what, until when for anyone; the
    project for the parties, the investigator's name for those who may read it (protocol
    §13)."""
    classes = visible_classes(reader, {g.holder}, set())
    view = {
        "grant": g.id,
        "status": g.status,
        "institution": g.document["holder"]["institution"],
        "purposes": [resolve(p["code"]).shorthand for p in g.document["purposes"]],
        "valid_from": g.document["valid_from"],
        "valid_until": g.valid_until,
    }
    if PARTIES in classes:
        view["project_title"] = g.document["project_title"]
    if PERSONAL in classes:
        view["investigator"] = g.document["holder"]["investigator"]
    return view


def public_summary(engine: Engine) -> dict[str, Any]:
    """Counts anyone may see: members, datasets by tier, grants by purpose, outputs by kind."""
    with engine.connect() as conn:
        members = conn.execute(select(MEMBER.c.institution).order_by(MEMBER.c.institution))
        tiers = dict(
            conn.execute(
                select(DATASET.c.sensitivity, func.count())
                .where(DATASET.c.published_version.is_not(None))
                .group_by(DATASET.c.sensitivity)
            ).all()
        )
        purposes: Counter[str] = Counter()
        grants_by_status: Counter[str] = Counter()
        for g in conn.execute(select(GRANT.c.document, GRANT.c.status)):
            grants_by_status[g.status] += 1
            purposes.update(resolve(p["code"]).shorthand for p in g.document["purposes"])
        outputs = dict(
            conn.execute(select(OUTPUT.c.kind, func.count()).group_by(OUTPUT.c.kind)).all()
        )
        node = self_member(conn).institution
    return {
        "institution": node,
        "members": list(members.scalars()),
        "datasets_by_tier": tiers,
        "grants_by_status": dict(grants_by_status),
        "grants_by_purpose": dict(purposes),
        "outputs_by_kind": outputs,
    }


def _hours(start: str, end: str) -> float:
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() / 3600


def approval_times(engine: Engine) -> dict[str, Any]:
    """How long this institution takes to decide access requests: median and 90th
    percentile in hours, overall and by requesting institution; the requests open (waiting
    for the institution's decision) and overdue, and those returned to their researcher."""
    with engine.connect() as conn:
        rows = conn.execute(select(REQUEST)).all()
        institution = self_member(conn).institution
    today = datetime.now(UTC).date().isoformat()
    decided = [r for r in rows if r.status in (APPROVED, DENIED) and r.decided_at]
    # Open means in the institution's hands; a returned request waits on its researcher.
    waiting = [r for r in rows if r.status in OPEN_STATUSES and r.status != RETURNED]
    by_requester: dict[str, list[float]] = {}
    for r in decided:
        by_requester.setdefault(r.details["institution"], []).append(
            _hours(r.submitted_at, r.decided_at)
        )
    return {
        "institution": institution,
        **_figures([h for hs in by_requester.values() for h in hs]),
        "open": len(waiting),
        "overdue": sum(r.review_due < today for r in waiting),
        "returned": sum(r.status == RETURNED for r in rows),
        "by_requesting_institution": {k: _figures(v) for k, v in sorted(by_requester.items())},
    }


def _figures(hours: list[float]) -> dict[str, Any]:
    if not hours:
        return {"decided": 0, "median_hours": None, "p90_hours": None}
    p90 = quantiles(hours, n=10, method="inclusive")[-1] if len(hours) > 1 else hours[0]
    return {
        "decided": len(hours),
        "median_hours": round(median(hours), 2),
        "p90_hours": round(p90, 2),
    }
