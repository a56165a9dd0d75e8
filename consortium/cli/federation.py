"""``consortium federation``: the consortium's membership document at the console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.cli.common import dump_json, on_node, out, read_json, recorded

if TYPE_CHECKING:
    from consortium.auth.roles import Actor
    from consortium.node import Node


@click.group("federation")
def federation_group() -> None:
    """The consortium: its members, and versions of its membership signed by them."""


@federation_group.command("create")
@click.option("--name", "consortium", required=True, help="The consortium's name.")
@click.option("--url", required=True, help="This node's base URL, as other members reach it.")
@click.option(
    "--threshold",
    default="2/3",
    show_default=True,
    help="Share of members whose signatures change the membership (above 1/2).",
)
@on_node(acts=True)
def federation_create(node: Node, who: Actor, consortium: str, url: str, threshold: str) -> None:
    """Found a consortium with this node as its first member (admin)."""
    from consortium.federation import membership

    event = membership.create(
        node.ledger, node.key, who,
        {"consortium": consortium, "url": url, "threshold": _fraction(threshold)},
    )  # fmt: skip
    recorded(f"Founded {consortium!r}: membership version 1", event.index)


def _fraction(text: str) -> Any:
    numerator, _, denominator = text.partition("/")
    try:
        return {"numerator": int(numerator), "denominator": int(denominator or 1)}
    except ValueError:
        return text  # the document check names the field and what it must be


@federation_group.command("members")
@click.option("--json", "as_json", is_flag=True, help="Every version, as JSON.")
@on_node()
def federation_members(node: Node, as_json: bool) -> None:
    """The membership this node accepted last, and any version waiting for signatures."""
    from consortium.federation import membership

    found = membership.versions(node.engine)
    if as_json:
        dump_json(found)
        return
    if not found:
        out.print("This node belongs to no consortium yet (`consortium federation create`).")
        return
    for v in found:
        doc = v["document"]
        if v["status"] == "accepted":
            t = doc["threshold"]
            out.print(
                f"{doc['consortium']}, version {v['version']} (accepted; changes need "
                f"{t['numerator']}/{t['denominator']} of the members):"
            )
            for m in doc["members"]:
                out.print(f"  {m['origin']}  {m['institution']}  {m['url']}", highlight=False)
            return
        awaiting = "; ".join(v["awaiting"])
        out.print(f"version {v['version']} proposed, awaiting {awaiting}", highlight=False)


@federation_group.command("propose")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def federation_propose(node: Node, who: Actor, document_file: Path) -> None:
    """Propose the next version from a membership document file (admin)."""
    from consortium.federation import membership

    event = membership.propose(node.ledger, who, read_json(document_file))
    recorded(f"Proposed membership version {event.body['version']}", event.index)


@federation_group.command("sign")
@click.argument("document_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def federation_sign(node: Node, who: Actor, document_file: Path) -> None:
    """Sign a membership version (admin); prints the signature to send to the proposer."""
    from consortium.federation import membership

    document = read_json(document_file)
    signature = membership.sign(node.ledger, node.key, who, document)
    out.print(f"Signed version {document.get('version')} as {node.origin}:")
    click.echo(json.dumps({"origin": node.origin, "signature": signature}))


@federation_group.command("add-signature")
@click.argument("version", type=int)
@click.option("--origin", required=True, help="The signing member's origin.")
@click.option("--signature", required=True, help="Its base64 signature.")
@on_node(acts=True)
def federation_add_signature(
    node: Node, who: Actor, version: int, origin: str, signature: str
) -> None:
    """Record a member's signature over a version proposed here (admin)."""
    from consortium.federation import membership

    accepted = membership.add_signature(node.ledger, who, version, origin, signature)
    if accepted is None:
        out.print(f"Recorded {origin}'s signature; version {version} awaits more.")
    else:
        recorded(f"Version {version} is accepted", accepted.index)


@federation_group.command("export")
@click.argument("version", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@on_node(checkpoint=False)
def federation_export(node: Node, version: int, output: Path) -> None:
    """Write a version with its signatures to a file, for a member to sign or accept."""
    from consortium.federation import membership

    text = json.dumps(membership.exported(node.engine, version), indent=2) + "\n"
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
    out.print(f"Wrote version {version} to {output}.")


@federation_group.command("accept")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, exists=True, path_type=Path))  # fmt: skip
@on_node(acts=True)
def federation_accept(node: Node, who: Actor, files: tuple[Path, ...]) -> None:
    """Accept signed versions, oldest first (admin): how a new member learns the consortium."""
    from consortium.federation import membership

    done = membership.accept(node.ledger, who, [read_json(f) for f in files])
    out.print(
        f"Accepted version{'s' if len(done) != 1 else ''} {', '.join(map(str, done))}."
        if done
        else "Nothing new: this node had every version given."
    )
