"""``consortium contribution``: costs and effort the benefit rules can weigh."""

from __future__ import annotations

from typing import Any

import click

from consortium.alliance import contributions
from consortium.cli.common import (
    Context,
    acting,
    as_option,
    data_dir_option,
    main,
    opened,
    pass_ctx,
    recorded,
)


@main.group("contribution")
def contribution_group() -> None:
    """Contributions besides data: recorded costs and declared effort."""


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@contribution_group.command("cost")
@click.option("--amount", required=True, help="The amount, e.g. 18000.00.")
@click.option("--currency", required=True, help="An ISO 4217 code, e.g. EUR.")
@click.option("--description", required=True)
@click.option("--dataset", help="The dataset it was for, if one.")
@as_option
@data_dir_option
@pass_ctx
def contribution_cost(
    ctx: Context, amount: str, currency: str, description: str, dataset: str | None,
    as_user: str | None,
) -> None:  # fmt: skip
    """Record what creating, keeping or securing data cost (steward or admin)."""
    payload = _given(amount=amount, currency=currency, description=description, dataset=dataset)
    with opened(ctx) as node:
        event = contributions.record_cost(node.ledger, acting(node, as_user), payload)
    recorded(f"Recorded {event.body['cost']}", event.index)


@contribution_group.command("declare")
@click.option("--kind", required=True, type=click.Choice(contributions.KINDS))
@click.option("--units", required=True, help="How much, e.g. person-days: 12 or 2.5.")
@click.option("--description", required=True)
@click.option("--dataset", help="The dataset it was for, if one.")
@click.option("--contributor", help="The person or team who did it, if they should be named.")
@as_option
@data_dir_option
@pass_ctx
def contribution_declare(
    ctx: Context, kind: str, units: str, description: str, dataset: str | None,
    contributor: str | None, as_user: str | None,
) -> None:  # fmt: skip
    """Declare effort or expertise the institution contributed (steward or admin)."""
    payload = _given(
        kind=kind, units=units, description=description, dataset=dataset, contributor=contributor
    )
    with opened(ctx) as node:
        event = contributions.declare_contribution(node.ledger, acting(node, as_user), payload)
    recorded(f"Declared {event.body['contribution']}", event.index)


@contribution_group.command("list")
@as_option
@data_dir_option
@pass_ctx
def contribution_list(ctx: Context, as_user: str | None) -> None:
    """Recorded costs and declared contributions, oldest first."""
    with opened(ctx) as node:
        for c in contributions.list_contributions(node.engine, acting(node, as_user)):
            units = f"{c['units']} {c['currency']}" if c["currency"] else c["units"]
            click.echo(
                f"{c['id']}  {c['recorded_at'][:10]}  {c['kind']}  {units}  {c['description']}"
            )
