"""``consortium contribution``: costs and effort the benefit rules can weigh;
``consortium compensation``: paying a period's pool by credit."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.alliance import compensation, contributions, ledgers, report
from consortium.auth.roles import Actor
from consortium.cli.common import (
    dump_json,
    err,
    offline_check,
    on_node,
    out,
    progress_bar,
    read_json,
    recorded,
)
from consortium.registry.keyring import Keyring

if TYPE_CHECKING:
    from consortium.node import Node


@click.group("contribution")
def contribution_group() -> None:
    """Contributions besides data: recorded costs and declared effort."""


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@contribution_group.command("cost")
@click.option("--amount", required=True, help="The amount, e.g. 18000.00.")
@click.option("--currency", required=True, help="An ISO 4217 code, e.g. EUR.")
@click.option("--description", required=True)
@click.option("--dataset", help="The dataset it was for, if one.")
@on_node(acts=True)
def contribution_cost(
    node: Node, who: Actor, amount: str, currency: str, description: str, dataset: str | None
) -> None:
    """Record what creating, keeping or securing data cost (steward or admin)."""
    payload = _given(amount=amount, currency=currency, description=description, dataset=dataset)
    event = contributions.record_cost(node.ledger, who, payload)
    recorded(f"Recorded {event.body['cost']}", event.index)


@contribution_group.command("declare")
@click.option("--kind", required=True, type=click.Choice(contributions.KINDS))
@click.option("--units", required=True, help="How much, e.g. person-days: 12 or 2.5.")
@click.option("--description", required=True)
@click.option("--dataset", help="The dataset it was for, if one.")
@click.option("--contributor", help="The person or team who did it, if they should be named.")
@on_node(acts=True)
def contribution_declare(
    node: Node,
    who: Actor,
    kind: str,
    units: str,
    description: str,
    dataset: str | None,
    contributor: str | None,
) -> None:
    """Declare effort or expertise the institution contributed (steward or admin)."""
    payload = _given(
        kind=kind, units=units, description=description, dataset=dataset, contributor=contributor
    )
    event = contributions.declare_contribution(node.ledger, who, payload)
    recorded(f"Declared {event.body['contribution']}", event.index)


@contribution_group.command("list")
@on_node(acts=True)
def contribution_list(node: Node, who: Actor) -> None:
    """Recorded costs and declared contributions, oldest first."""
    for c in contributions.list_contributions(node.engine, who):
        units = f"{c['units']} {c['currency']}" if c["currency"] else c["units"]
        click.echo(f"{c['id']}  {c['recorded_at'][:10]}  {c['kind']}  {units}  {c['description']}")


def _bundles_option(help_text: str, required: bool = True) -> Callable[..., Any]:
    return click.option(
        "--bundle",
        "bundles",
        multiple=True,
        required=required,
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help=help_text,
    )


@click.group("compensation")
def compensation_group() -> None:
    """Compensation runs: a period's pool paid by the credit on the ledger."""


def _payees(run: dict[str, Any]) -> None:
    """The payees as a table: credit, this run's allocation, what came in carried from the
    previous run, what is paid now and what is carried on to the next."""
    width = max(len(p["name"]) for p in run["payees"])
    heads = ("credit", "allocated", "carried in", "paid", "carried on")
    click.echo(f"  {'payee':<{width}}  {'kind':<11}" + "".join(f" {h:>12}" for h in heads))
    for p in run["payees"]:
        amounts = (p["credit"], p["allocated"], p["carried_in"], p["paid"], p["carried"])
        click.echo(
            f"  {p['name']:<{width}}  {p['kind']:<11}" + "".join(f" {a:>12}" for a in amounts)
        )


@compensation_group.command("run")
@click.option("--from", "start", required=True, help="First day of the period, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="The day after the period, YYYY-MM-DD.")
@click.option("--pool", required=True, help="The amount to pay out, e.g. 10000.00.")
@click.option("--currency", required=True, help="An ISO 4217 code, e.g. EUR.")
@click.option("--minimum", help="Smaller payouts are carried over to the next run.")
@click.option("--quantum", help="The smallest amount paid (default 0.01).")
@_bundles_option(
    "A member's ledger bundle to read too (verified against its key); repeat for each.",
    required=False,
)
@on_node(acts=True)
def compensation_run(
    node: Node,
    who: Actor,
    start: str,
    end: str,
    pool: str,
    currency: str,
    minimum: str | None,
    quantum: str | None,
    bundles: tuple[Path, ...],
) -> None:
    """Pay the period start ≤ day < end by the benefit rules in force at its end (lead)."""
    payload = _given(
        start=start, end=end, pool=pool, currency=currency, minimum=minimum, quantum=quantum
    )
    with ExitStack() as bars:
        event = compensation.run_compensation(node.ledger, who, payload, bundles, _bars(bars))
    b = event.body
    rules = b["rules"]
    recorded(
        f"Run {b['run']}: {b['pool']} {b['currency']} for {start} to {end} by {b['method']}"
        f" (benefit rules {rules['version']} of {rules['proposer']})",
        event.index,
    )
    _payees(b)


@compensation_group.command("list")
@on_node(acts=True)
def compensation_list(node: Node, who: Actor) -> None:
    """Compensation runs, oldest first."""
    runs = compensation.list_runs(node.engine, who)
    if not runs:
        click.echo("No compensation runs yet.")
    for r in runs:
        paid = sum(Decimal(p["paid"]) for p in r["payees"])
        click.echo(
            f"{r['id']}  {r['period']['start']} to {r['period']['end']}  {r['pool']} "
            f"{r['currency']}  {r['method']}  paid {paid} to {len(r['payees'])} payees"
        )


@compensation_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="The whole run as JSON.")
@on_node(acts=True)
def compensation_show(node: Node, who: Actor, run_id: str, as_json: bool) -> None:
    """One run: its period, pool, rules, checkpoints and every payee."""
    run = compensation.get_run(node.engine, who, run_id)
    if as_json:
        dump_json(run)
        return
    rules = run["rules"]
    click.echo(f"{run['id']}: {run['pool']} {run['currency']} for {run['period']['start']} to "
               f"{run['period']['end']}, by {run['method']} (benefit rules {rules['version']} "
               f"of {rules['proposer']}, digest {rules['digest']}); minimum payout "
               f"{run['minimum']}, paid in steps of {run['quantum']}")  # fmt: skip
    for c in run["checkpoints"]:
        click.echo(f"  read {c['origin']} up to {c['size']} entries, root {c['root']}")
    _payees(run)


@compensation_group.command("verify")
@click.argument("run_id")
@_bundles_option("A bundle of each ledger the run read (`consortium ledger export`).")
@offline_check
def compensation_verify(trusted: Keyring, run_id: str, bundles: tuple[Path, ...]) -> None:
    """Pay a run again from ledger bundles and confirm every amount; no database needed, but
    a key you trust for every ledger (--vkey, or the ones your node recorded)."""
    with ExitStack() as bars:
        try:
            run, found = compensation.verify_run(
                run_id, bundles, keyring=trusted, progress=_bars(bars)
            )
        except ledgers.LedgerReadError as exc:
            raise click.ClickException(str(exc)) from exc
    period = run["period"]
    what = f"run {run_id} ({run['pool']} {run['currency']}, {period['start']} to {period['end']})"
    _outcome(what, "amount", found, run["checkpoints"], trusted)


def _bars(stack: ExitStack) -> Callable[[str], Callable[[int], None]]:
    return lambda origin: stack.enter_context(progress_bar(f"verifying {origin}", None))


def _outcome(
    what: str, noun: str, found: list[str], checkpoints: list[dict], trusted: Keyring
) -> None:
    """Print a verification's outcome: every difference and a failure, or the ledgers read
    and the key each was checked with."""
    if found:
        for line in found:
            err.print(f"  {line}", markup=False, highlight=False)
        many = (
            f"{len(found)} {noun}s of the {what} do"
            if len(found) > 1
            else f"1 {noun} of the {what} does"
        )
        raise click.ClickException(f"{many} not hold")
    cuts = ", ".join(f"{c['origin']} at {c['size']}" for c in checkpoints)
    out.print(f"Every {noun} of the {what} holds (ledgers: {cuts}).")
    for origin in sorted({c["origin"] for c in checkpoints}):
        out.print(f"  {origin} checked with {trusted.source(origin)}", highlight=False)


@click.group("report")
def report_group() -> None:
    """Contribution reports: credit, compensation and participation, reproducibly."""


@report_group.command("build")
@click.option("--from", "start", required=True, help="First day of the period, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="The day after the period, YYYY-MM-DD.")
@click.option("--by", type=click.Choice(report.INTERVALS), help="Add trends.")
@_bundles_option(
    "A member's ledger bundle to read too (verified first); repeat for each member.",
    required=False,
)
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="json")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@on_node(acts=True)
def report_build(
    node: Node,
    who: Actor,
    start: str,
    end: str,
    by: str | None,
    bundles: tuple[Path, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Build a signed contribution report for start ≤ day < end."""
    query = _given(start=start, end=end, by=by, format=fmt)
    with ExitStack() as bars:
        signed = report.contribution_report(node.ledger, node.key, who, query, bundles, _bars(bars))
    text = report.to_csv(signed) if fmt == "csv" else json.dumps(signed, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    cuts = ", ".join(f"{c['origin']} at {c['size']}" for c in signed["checkpoints"])
    err.print(f"Wrote {output} (ledgers read: {cuts}).")


@report_group.command("verify")
@click.argument("report_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_bundles_option("A bundle of each ledger the report names (`consortium ledger export`).")
@offline_check
def report_verify(trusted: Keyring, report_file: Path, bundles: tuple[Path, ...]) -> None:
    """Recompute a report from ledger bundles and confirm every figure; no database needed,
    but a key you trust for every ledger (--vkey, or the ones your node recorded)."""
    document = read_json(report_file)
    with ExitStack() as bars:
        try:
            found = report.verify(document, bundles, keyring=trusted, progress=_bars(bars))
        except (report.ReportError, ledgers.LedgerReadError) as exc:
            raise click.ClickException(str(exc)) from exc
    period = document["period"]
    what = f"report by {document['signer']['origin']} for {period['start']} to {period['end']}"
    _outcome(what, "figure", found, document["checkpoints"], trusted)
