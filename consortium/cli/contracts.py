"""``consortium contract|rules``: sharing contracts and benefit rules from the console.

Signing across institutions without a network between the nodes: the proposing steward
exports the document, the other party's steward runs ``contract countersign`` on their own
node (which signs with that node's key and records it there) and sends the signature back,
and the proposing steward records it with ``contract add-signature``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.auth.roles import Actor
from consortium.cli.common import (
    Context,
    acting,
    as_option,
    data_dir_option,
    dump_json,
    err,
    on_node,
    opened,
    out,
    pass_ctx,
    read_json,
    recorded,
)
from consortium.contracts import benefit_rules as rules
from consortium.contracts import lifecycle
from consortium.contracts.coverage import summary
from consortium.contracts.signing import document_digest, list_countersigned
from consortium.contracts.templates import list_templates
from consortium.text import MAX_ID

if TYPE_CHECKING:
    from consortium.node import Node


def _covers(document: dict[str, Any], err: bool = False) -> None:
    """What the document says each dataset is, one line each, for the steward to read."""
    datasets = document.get("datasets")
    click.echo("It covers:", err=err)
    for dataset in datasets if isinstance(datasets, list) else []:
        if isinstance(dataset, dict):
            click.echo(f"  {summary(dataset)}", err=err)


def _status(node_engine: object, contract_id: str) -> str:
    view = lifecycle.get_contract(node_engine, contract_id)  # type: ignore[arg-type]
    waiting = ", ".join(view["awaiting"]) or "nobody"
    return f"{contract_id} v{view['version']} is {view['status']}; awaiting signatures: {waiting}"


@click.group()
def contract() -> None:
    """Draft, propose, sign and manage sharing contracts."""


@contract.command("templates")
@data_dir_option
def contract_templates() -> None:
    """The templates a contract can start from, and what each asks you to fill in."""
    for t in list_templates():
        out.print(f"[bold]{t.name}[/]  {t.title}")
        out.print(f"    {t.description}", highlight=False)
        out.print(f"    fill in: {', '.join(t.fill_fields)}", highlight=False)


@contract.command("draft")
@click.argument("values_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def contract_draft(node: Node, who: Actor, values_file: Path) -> None:
    """Draft a contract from a JSON file: {"template", "title", "parties", "datasets",
    "terms"} (steward)."""
    payload = read_json(values_file)
    event = lifecycle.draft_contract(node.ledger, who, payload)
    recorded(f"Drafted {event.body['contract']}", event.index)
    click.echo(event.body["contract"])


@contract.command("propose")
@click.argument("contract_id")
@on_node(acts=True)
def contract_propose(node: Node, who: Actor, contract_id: str) -> None:
    """Freeze a draft for signature (steward)."""
    event = lifecycle.propose_contract(node.ledger, who, contract_id)
    recorded(_status(node.engine, contract_id), event.index)


@contract.command("sign")
@click.argument("contract_id")
@on_node(acts=True)
def contract_sign(node: Node, who: Actor, contract_id: str) -> None:
    """Sign a proposed contract as this institution, with this node's key (steward)."""
    event = lifecycle.sign_contract(node.ledger, node.key, who, contract_id)
    recorded(_status(node.engine, contract_id), event.index)


@contract.command("export")
@click.argument("contract_id")
@click.option("--version", type=click.IntRange(1, MAX_ID))
@on_node()
def contract_export(node: Node, contract_id: str, version: int | None) -> None:
    """Print the contract document for the other parties to countersign."""
    view = lifecycle.get_contract(node.engine, contract_id, version)
    err.print(f"digest {document_digest(view['document'])}: compare it with the other party")
    click.echo(json.dumps(view["document"], indent=2, ensure_ascii=False))


@contract.command("digest")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
def contract_digest(document_file: Path) -> None:
    """Print a contract document's digest, to compare by phone before countersigning it;
    what it says each dataset is goes to standard error, to read before signing."""
    document = read_json(document_file)
    click.echo(document_digest(document))
    _covers(document, err=True)


@contract.command("revise")
@click.argument("contract_id")
@click.argument("values_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def contract_revise(node: Node, who: Actor, contract_id: str, values_file: Path) -> None:
    """Change a draft (or a draft amendment) from a JSON file of changes (steward)."""
    payload = read_json(values_file)
    event = lifecycle.revise_draft(node.ledger, who, contract_id, payload)
    recorded(f"Revised the draft of {contract_id} v{event.body['version']}", event.index)


@contract.command("countersign")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def contract_countersign(node: Node, who: Actor, document_file: Path) -> None:
    """Sign another institution's proposed contract document; prints the signature (steward)."""
    document = read_json(document_file)
    signature = lifecycle.countersign(node.ledger, node.key, who, document)
    _covers(document)
    origin = node.origin
    out.print(f"Signed as {origin} the document with digest {document_digest(document)}.")
    out.print(f"Send the proposer: --party {origin} --signature <below>")
    click.echo(signature)


@contract.command("add-signature")
@click.argument("contract_id")
@click.option("--party", required=True, help="The signing party's origin.")
@click.option("--signature", required=True, help="The base64 signature it sent.")
@on_node(acts=True)
def contract_add_signature(
    node: Node, who: Actor, contract_id: str, party: str, signature: str
) -> None:
    """Record another party's signature, after checking it against that party's key."""
    event = lifecycle.add_signature(
        node.ledger,
        who,
        contract_id,
        {"party": party, "signature": signature},
    )
    recorded(_status(node.engine, contract_id), event.index)


@contract.command("terminate")
@click.argument("contract_id")
@click.option("--reason", required=True)
@click.option(
    "--version",
    type=click.IntRange(1, MAX_ID),
    help="Only this version, e.g. a pending amendment; the version in force stays.",
)
@as_option
@data_dir_option
@pass_ctx
def contract_terminate(
    ctx: Context, contract_id: str, reason: str, version: int | None, as_user: str | None
) -> None:
    """End a contract early: every version in force or pending, or just --version (steward).

    The grants resting on a contract no longer in force end with it; each is listed.
    """
    from consortium.access import termination

    payload: dict[str, object] = {"reason": reason}
    if version is not None:
        payload["version"] = version
    with opened(ctx) as node:
        done = termination.terminate_contract(
            node.ledger, acting(node, as_user), contract_id, payload
        )
        in_force = lifecycle.get_contract(node.engine, contract_id)["status"] == lifecycle.ACTIVE
    event = done.contract
    versions = ", ".join(f"v{v}" for v in event.body["versions"])
    recorded(f"Terminated {contract_id} {versions}", event.index)
    for g in done.grants_ended:
        recorded(f"Ended grant {g.grant} of {g.holder} (valid until {g.valid_until})", g.entry)
    if not done.grants_ended and not in_force:
        out.print("No grant was in force under it.")


@contract.command("amend")
@click.argument("contract_id")
@click.argument("values_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def contract_amend(node: Node, who: Actor, contract_id: str, values_file: Path) -> None:
    """Draft the next version of an active contract from a JSON file of changes (steward)."""
    payload = read_json(values_file)
    event = lifecycle.amend_contract(node.ledger, who, contract_id, payload)
    recorded(f"Drafted version {event.body['version']} of {contract_id}", event.index)


@contract.command("list")
@on_node()
def contract_list(node: Node) -> None:
    """Contracts proposed here (every version), then those this node countersigned."""
    for c in lifecycle.list_contracts(node.engine):
        click.echo(f"{c['id']}  v{c['version']}  {c['status']}  {c['title']}")
    for c in list_countersigned(node.engine, lifecycle.CONTRACT_DOCUMENT):
        click.echo(f"{c['ref']}  v{c['version']}  countersigned here  {c['title']}")


@contract.command("show")
@click.argument("contract_id")
@click.option("--version", type=click.IntRange(1, MAX_ID))
@on_node()
def contract_show(node: Node, contract_id: str, version: int | None) -> None:
    """A contract as JSON: status, digest, signatures and the document; what it says each
    dataset is goes to standard error, one line each."""
    view = lifecycle.get_contract(node.engine, contract_id, version)
    dump_json(view)
    _covers(view["document"], err=True)


@contract.command("expire")
@on_node()
def contract_expire(node: Node) -> None:
    """Expire contracts whose term has ended (the scheduled job does this hourly)."""
    from consortium.auth.roles import NODE

    done = lifecycle.expire_contracts(node.ledger, NODE)
    out.print(f"Expired {len(done)} contract(s).")


# --- benefit rules ------------------------------------------------------------------------------


@click.group("rules")
def rules_group() -> None:
    """The alliance's benefit rules: proposed by the lead, signed by every member."""


@rules_group.command("propose")
@click.argument("rules_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def rules_propose(node: Node, who: Actor, rules_file: Path) -> None:
    """Propose the next version from {"event_weights", "method", "derived_keep", "notes"} (lead)."""
    payload = read_json(rules_file)
    event = rules.propose_rules(node.ledger, who, payload)
    recorded(f"Proposed benefit rules version {event.body['version']}", event.index)


@rules_group.command("sign")
@click.argument("version", type=click.IntRange(1, MAX_ID))
@on_node(acts=True)
def rules_sign(node: Node, who: Actor, version: int) -> None:
    """Accept a version as this institution (admin)."""
    event = rules.sign_rules(node.ledger, node.key, who, version)
    recorded(f"Signed benefit rules version {version}", event.index)


@rules_group.command("countersign")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def rules_countersign(node: Node, who: Actor, document_file: Path) -> None:
    """Accept rules proposed on another member's node; prints the signature (admin)."""
    document = read_json(document_file)
    signature = rules.countersign_rules(node.ledger, node.key, who, document)
    origin = node.origin
    out.print(f"Signed as {origin}. Send the proposer: --member {origin} --signature <below>")
    click.echo(signature)


@rules_group.command("export")
@click.argument("version", type=click.IntRange(1, MAX_ID))
@on_node()
def rules_export(node: Node, version: int) -> None:
    """Print a version's document for the other members to countersign."""
    view = rules.get_rules(node.engine, version)
    err.print(f"digest {view['digest']}: members compare it before they sign")
    click.echo(json.dumps(view["document"], indent=2, ensure_ascii=False))


@rules_group.command("digest")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
def rules_digest(document_file: Path) -> None:
    """Print a rules document's digest, to compare with the proposer's before countersigning."""
    click.echo(document_digest(read_json(document_file)))


@rules_group.command("add-signature")
@click.argument("version", type=click.IntRange(1, MAX_ID))
@click.option("--member", required=True)
@click.option("--signature", required=True)
@on_node(acts=True)
def rules_add_signature(node: Node, who: Actor, version: int, member: str, signature: str) -> None:
    """Record another member's signature (admin or lead)."""
    event = rules.add_rules_signature(
        node.ledger,
        who,
        version,
        {"member": member, "signature": signature},
    )
    recorded(f"Recorded {member}'s signature on version {version}", event.index)


@rules_group.command("list")
@on_node()
def rules_list(node: Node) -> None:
    """Benefit-rules versions, who has yet to sign them, and the version in force."""
    for r in rules.list_rules(node.engine):
        state = "accepted" if r["accepted_at"] else f"awaiting {', '.join(r['awaiting'])}"
        click.echo(f"v{r['version']}  {r['document']['method']}  {state}")
    found = rules.rules_in_force(node.engine)
    click.echo(f"in force: v{found['version']}" if found else "in force: none yet")
