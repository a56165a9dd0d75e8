"""``consortium user|member|settings|dataset|rebuild``: the registry from the console."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.access import catalogue
from consortium.access.catalogue import SearchSchema
from consortium.auth import people
from consortium.auth.roles import ROLES, Actor
from consortium.cli import LazyGroup
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
    progress_bar,
    read_json,
    recorded,
)
from consortium.contracts.lifecycle import list_contracts
from consortium.registry import datasets, members, settings
from consortium.registry.sealed import SealError
from consortium.text import MAX_ID

if TYPE_CHECKING:
    from consortium.node import Node

# --- people -------------------------------------------------------------------------------------


@click.group(
    cls=LazyGroup,
    lazy={
        "email": (
            "consortium.cli.notifications:user_email",
            "Mail USERNAME's notifications to ADDRESS (from now on; needs [smtp] in node.toml).",
        )
    },
)
def user() -> None:
    """People of this institution, their roles and passwords."""


@user.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Full name, as colleagues know it.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@on_node(acts=True)
def user_add(
    node: Node, who: Actor, username: str, display_name: str, roles: tuple[str, ...]
) -> None:
    """Add a person with one or more roles (admin; the operator may add the first admin)."""
    payload = {"username": username, "display_name": display_name, "roles": list(roles)}
    event = people.add_person(node.ledger, who, payload)
    recorded(f"Added {username} as {', '.join(event.body['roles'])}", event.index)


@user.command("roles")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@on_node(acts=True)
def user_roles(node: Node, who: Actor, username: str, roles: tuple[str, ...]) -> None:
    """Replace a person's roles (admin)."""
    event = people.change_roles(node.ledger, who, username, {"roles": list(roles)})
    recorded(f"{username} now holds {', '.join(event.body['roles'])}", event.index)


@user.command("deactivate")
@click.argument("username")
@click.option("--reason", required=True)
@on_node(acts=True)
def user_deactivate(node: Node, who: Actor, username: str, reason: str) -> None:
    """Deactivate a person; their tokens and password stop working (admin)."""
    event = people.deactivate_person(node.ledger, who, username, {"reason": reason})
    recorded(f"Deactivated {username}", event.index)


@user.command("erase")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@on_node(acts=True, checkpoint=True)
def user_erase(node: Node, who: Actor, username: str, yes: bool) -> None:
    """Erase a deactivated person's personal data (admin); the ledger still verifies."""
    from consortium.disclosure.erasure import erase_person

    if not yes:
        click.confirm(
            f"Erase {username}'s name, username and every personal detail on this node? "
            "This cannot be undone",
            abort=True,
        )
    done = erase_person(node.ledger, who, username)
    recorded(
        f"Erased {username}: {done.documents} personal documents deleted; the ledger names "
        f"them {done.pseudonym} from now on",
        done.index,
    )


@user.command("password")
@click.argument("username")
@click.password_option(
    "--password", prompt="New password", help="Prompted for (hidden) when not given."
)
@on_node()
def user_password(node: Node, username: str, password: str) -> None:
    """Set a person's sign-in password (stored as an Argon2id hash, never on the ledger)."""
    people.set_password(node.engine, username, password)
    out.print(f"Password set for {username}.")


@user.command("list")
@on_node()
def user_list(node: Node) -> None:
    """People and their roles."""
    for p in people.list_people(node.engine):
        state = "" if p.active else "  (deactivated)"
        click.echo(f"{p.username}  {p.display_name}  {','.join(p.roles)}{state}")


# --- members and settings -----------------------------------------------------------------------


@click.group()
def member() -> None:
    """Member institutions of the consortium and their node keys."""


@member.command("add")
@click.option("--institution", required=True, help="The member institution's name.")
@click.option("--vkey", required=True, help="Its node's vkey (from its GET /api/v1/node).")
@on_node(acts=True)
def member_add(node: Node, who: Actor, institution: str, vkey: str) -> None:
    """Add a member institution (admin). Check its vkey with it out of band first."""
    event = members.add_member(node.ledger, who, {"institution": institution, "vkey": vkey})
    recorded(f"Added member {institution} ({event.body['origin']})", event.index)


@member.command("list")
@on_node()
def member_list(node: Node) -> None:
    """Member institutions and their origins."""
    for m in members.list_members(node.engine):
        click.echo(f"{m.origin}  {m.institution}{'  (this node)' if m.is_self else ''}")


@click.command("settings")
@click.option(
    "--director-approval/--no-director-approval",
    default=None,
    help="Whether a director must co-approve each dataset version before it is published.",
)
@on_node(acts=True)
def settings_cmd(node: Node, who: Actor, director_approval: bool | None) -> None:
    """Show the institution's settings, or change them (admin)."""
    if director_approval is not None:
        event = settings.change_settings(
            node.ledger, who, {"director_approval_required": director_approval}
        )
        recorded("Settings changed", event.index)
    with node.engine.connect() as conn:
        dump_json(settings.current_settings(conn))


# --- datasets -------------------------------------------------------------------------------------


@click.group()
def dataset() -> None:
    """Register and maintain datasets (metadata only)."""


@dataset.command("register")
@click.argument("metadata_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def dataset_register(node: Node, who: Actor, metadata_file: Path) -> None:
    """Register a dataset from a JSON metadata file (steward)."""
    event = datasets.register_dataset(node.ledger, who, read_json(metadata_file))
    row = datasets.get_dataset(node.engine, who, event.body["dataset"])
    recorded(f"Registered {event.body['dataset']}: {row['status']}", event.index)
    click.echo(event.body["dataset"])


@dataset.command("revise")
@click.argument("dataset_id")
@click.argument("metadata_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def dataset_revise(node: Node, who: Actor, dataset_id: str, metadata_file: Path) -> None:
    """Register a new version from a JSON metadata file (steward)."""
    event = datasets.revise_dataset(node.ledger, who, dataset_id, read_json(metadata_file))
    recorded(f"Registered version {event.body['version']} of {dataset_id}", event.index)


@dataset.command("approve")
@click.argument("dataset_id")
@click.option(
    "--version",
    type=click.IntRange(1, MAX_ID),
    help="Default: the one version awaiting approval.",
)
@as_option
@data_dir_option
@pass_ctx
def dataset_approve(
    ctx: Context, dataset_id: str, version: int | None, as_user: str | None
) -> None:
    """Co-approve a version for publication (director)."""
    payload = {} if version is None else {"version": version}
    with opened(ctx) as node:
        event = datasets.approve_dataset(node.ledger, acting(node, as_user), dataset_id, payload)
    recorded(f"Approved version {event.body['version']} of {dataset_id}", event.index)


@dataset.command("withdraw")
@click.argument("dataset_id")
@click.option("--reason", required=True)
@on_node(acts=True)
def dataset_withdraw(node: Node, who: Actor, dataset_id: str, reason: str) -> None:
    """Withdraw a dataset (steward)."""
    event = datasets.withdraw_dataset(node.ledger, who, dataset_id, {"reason": reason})
    covering = [
        c["id"]
        for c in list_contracts(node.engine, "active")
        if any(d["id"] == dataset_id for d in c["document"]["datasets"])
    ]
    recorded(f"Withdrew {dataset_id}", event.index)
    if covering:
        err.print(
            f"Note: active contracts still cover it: {', '.join(covering)}. "
            "Terminate or amend them (`consortium contract terminate ID --reason …`)."
        )


@dataset.command("withdraw-consent")
@click.argument("dataset_id")
@click.option("--reason", required=True)
@on_node(acts=True)
def dataset_withdraw_consent(node: Node, who: Actor, dataset_id: str, reason: str) -> None:
    """Record that consent was withdrawn: no new grants; active grants flagged (steward)."""
    from consortium.access.consent import withdraw_consent

    event = withdraw_consent(node.ledger, who, dataset_id, {"reason": reason})
    flagged = ", ".join(event.body["grants_flagged"]) or "none"
    recorded(
        f"Consent withdrawn for {dataset_id}; grants flagged for review: {flagged}", event.index
    )


@dataset.command("attach-profile")
@click.argument("dataset_id")
@click.argument("summary_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version", type=click.IntRange(1, MAX_ID), help="Default: the latest version.")
@click.option(
    "--identifiers-reviewed",
    metavar="REASON",
    help="If the profile found direct identifiers: why they may stay (checked, not identifiers).",
)
@on_node(acts=True)
def dataset_attach_profile(
    node: Node,
    who: Actor,
    dataset_id: str,
    summary_file: Path,
    version: int | None,
    identifiers_reviewed: str | None,
) -> None:
    """Attach a `consortium profile --output` summary as a signed quality attestation."""
    payload: dict[str, Any] = {"profile": read_json(summary_file)}
    if version is not None:
        payload["version"] = version
    if identifiers_reviewed is not None:
        payload["identifiers_reviewed"] = identifiers_reviewed
    event = datasets.attach_profile(node.ledger, who, dataset_id, payload)
    recorded(f"Attached the profile to {dataset_id} version {event.body['version']}", event.index)


@dataset.command("list")
@click.argument("words", nargs=-1)
@click.option("--purpose", help="A DUO permission (GRU, HMB, DS…): datasets that allow it.")
@click.option("--status", type=click.Choice(datasets.STATUSES))
@on_node(acts=True)
def dataset_list(
    node: Node, who: Actor, words: tuple[str, ...], purpose: str | None, status: str | None
) -> None:
    """Datasets, as the acting person may see them; with WORDS, those whose metadata holds
    every word. Each line ends with the contracts it can be requested under."""
    args = {"q": " ".join(words) or None, "purpose": purpose, "status": status}
    query = SearchSchema().load({k: v for k, v in args.items() if v is not None})
    found = catalogue.search(node.engine, who, **query)
    if not found:
        click.echo("No datasets match." if words or purpose else "No datasets.", err=True)
    for d in found:
        title = d.get("metadata", {}).get("title", "(metadata withheld)")
        pending = ""
        published = d["published_version"]
        if d["status"] != "withdrawn" and published and d["latest_version"] != published:
            pending = f"  (v{d['latest_version']} awaiting approval)"
        under = f"  [{', '.join(d['contracts'])}]" if d["contracts"] else ""
        click.echo(
            f"{d['id']}  v{d['version']}  {d['status']}  {d['sensitivity']}  {title}"
            f"{pending}{under}"
        )


@dataset.command("show")
@click.argument("dataset_id")
@click.option("--version", type=click.IntRange(1, MAX_ID))
@on_node(acts=True)
def dataset_show(node: Node, who: Actor, dataset_id: str, version: int | None) -> None:
    """One dataset as JSON."""
    dump_json(datasets.get_dataset(node.engine, who, dataset_id, version))


# --- rebuild --------------------------------------------------------------------------------------


@click.command("rebuild")
@on_node()
def rebuild_cmd(node: Node) -> None:
    """Recreate every projection (people, datasets, contracts…) from the ledger alone."""
    from consortium.projections import rebuild

    with progress_bar("rebuilding", node.ledger.size()) as advance:
        try:
            folded = rebuild(node.ledger, advance)
        except SealError as exc:
            raise click.ClickException(
                f"{exc}; nothing was changed. Restore the database (it holds the sealed "
                "documents) from a backup, then rebuild again."
            ) from exc
    err.print(f"Rebuilt every projection from {folded} ledger entries.")
