"""``consortium user|member|settings|dataset|rebuild``: the registry from the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from consortium.access import catalogue
from consortium.access.catalogue import SearchSchema
from consortium.auth import people
from consortium.auth.roles import ROLES
from consortium.cli.common import (
    Context,
    acting,
    as_option,
    data_dir_option,
    dump_json,
    err,
    main,
    opened,
    out,
    pass_ctx,
    progress_bar,
    read_json,
    recorded,
)
from consortium.contracts.lifecycle import list_contracts
from consortium.projections import rebuild
from consortium.registry import datasets, members, settings
from consortium.registry.sealed import SealError
from consortium.text import MAX_ID

# --- people -------------------------------------------------------------------------------------


@main.group()
def user() -> None:
    """People of this institution, their roles and passwords."""


@user.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Full name, as colleagues know it.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@as_option
@data_dir_option
@pass_ctx
def user_add(
    ctx: Context, username: str, display_name: str, roles: tuple[str, ...], as_user: str | None
) -> None:
    """Add a person with one or more roles (admin; the operator may add the first admin)."""
    with opened(ctx) as node:
        payload = {"username": username, "display_name": display_name, "roles": list(roles)}
        event = people.add_person(node.ledger, acting(node, as_user), payload)
    recorded(f"Added {username} as {', '.join(event.body['roles'])}", event.index)


@user.command("roles")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@as_option
@data_dir_option
@pass_ctx
def user_roles(ctx: Context, username: str, roles: tuple[str, ...], as_user: str | None) -> None:
    """Replace a person's roles (admin)."""
    with opened(ctx) as node:
        event = people.change_roles(
            node.ledger, acting(node, as_user), username, {"roles": list(roles)}
        )
    recorded(f"{username} now holds {', '.join(event.body['roles'])}", event.index)


@user.command("deactivate")
@click.argument("username")
@click.option("--reason", required=True)
@as_option
@data_dir_option
@pass_ctx
def user_deactivate(ctx: Context, username: str, reason: str, as_user: str | None) -> None:
    """Deactivate a person; their tokens and password stop working (admin)."""
    with opened(ctx) as node:
        event = people.deactivate_person(
            node.ledger, acting(node, as_user), username, {"reason": reason}
        )
    recorded(f"Deactivated {username}", event.index)


@user.command("password")
@click.argument("username")
@click.password_option(
    "--password", prompt="New password", help="Prompted for (hidden) when not given."
)
@data_dir_option
@pass_ctx
def user_password(ctx: Context, username: str, password: str) -> None:
    """Set a person's sign-in password (stored as an Argon2id hash, never on the ledger)."""
    with opened(ctx) as node:
        people.set_password(node.engine, username, password)
    out.print(f"Password set for {username}.")


@user.command("list")
@data_dir_option
@pass_ctx
def user_list(ctx: Context) -> None:
    """People and their roles."""
    with opened(ctx) as node:
        for p in people.list_people(node.engine):
            state = "" if p.active else "  (deactivated)"
            click.echo(f"{p.username}  {p.display_name}  {','.join(p.roles)}{state}")


# --- members and settings -----------------------------------------------------------------------


@main.group()
def member() -> None:
    """Member institutions of the consortium and their node keys."""


@member.command("add")
@click.option("--institution", required=True, help="The member institution's name.")
@click.option("--vkey", required=True, help="Its node's vkey (from its GET /api/v1/node).")
@as_option
@data_dir_option
@pass_ctx
def member_add(ctx: Context, institution: str, vkey: str, as_user: str | None) -> None:
    """Add a member institution (admin). Check its vkey with it out of band first."""
    with opened(ctx) as node:
        event = members.add_member(
            node.ledger, acting(node, as_user), {"institution": institution, "vkey": vkey}
        )
    recorded(f"Added member {institution} ({event.body['origin']})", event.index)


@member.command("list")
@data_dir_option
@pass_ctx
def member_list(ctx: Context) -> None:
    """Member institutions and their origins."""
    with opened(ctx) as node:
        for m in members.list_members(node.engine):
            click.echo(f"{m.origin}  {m.institution}{'  (this node)' if m.is_self else ''}")


@main.command("settings")
@click.option(
    "--director-approval/--no-director-approval",
    default=None,
    help="Whether a director must co-approve each dataset version before it is published.",
)
@as_option
@data_dir_option
@pass_ctx
def settings_cmd(ctx: Context, director_approval: bool | None, as_user: str | None) -> None:
    """Show the institution's settings, or change them (admin)."""
    with opened(ctx) as node:
        if director_approval is not None:
            event = settings.change_settings(
                node.ledger,
                acting(node, as_user),
                {"director_approval_required": director_approval},
            )
            recorded("Settings changed", event.index)
        with node.engine.connect() as conn:
            dump_json(settings.current_settings(conn))


# --- datasets -------------------------------------------------------------------------------------


@main.group()
def dataset() -> None:
    """Register and maintain datasets (metadata only)."""


@dataset.command("register")
@click.argument("metadata_file", type=click.Path(dir_okay=False, path_type=Path))
@as_option
@data_dir_option
@pass_ctx
def dataset_register(ctx: Context, metadata_file: Path, as_user: str | None) -> None:
    """Register a dataset from a JSON metadata file (steward)."""
    payload = read_json(metadata_file)
    with opened(ctx) as node:
        who = acting(node, as_user)
        event = datasets.register_dataset(node.ledger, who, payload)
        row = datasets.get_dataset(node.engine, who, event.body["dataset"])
    recorded(f"Registered {event.body['dataset']}: {row['status']}", event.index)
    click.echo(event.body["dataset"])


@dataset.command("revise")
@click.argument("dataset_id")
@click.argument("metadata_file", type=click.Path(dir_okay=False, path_type=Path))
@as_option
@data_dir_option
@pass_ctx
def dataset_revise(ctx: Context, dataset_id: str, metadata_file: Path, as_user: str | None) -> None:
    """Register a new version from a JSON metadata file (steward)."""
    payload = read_json(metadata_file)
    with opened(ctx) as node:
        event = datasets.revise_dataset(node.ledger, acting(node, as_user), dataset_id, payload)
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
@as_option
@data_dir_option
@pass_ctx
def dataset_withdraw(ctx: Context, dataset_id: str, reason: str, as_user: str | None) -> None:
    """Withdraw a dataset (steward)."""
    with opened(ctx) as node:
        event = datasets.withdraw_dataset(
            node.ledger, acting(node, as_user), dataset_id, {"reason": reason}
        )
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
@as_option
@data_dir_option
@pass_ctx
def dataset_withdraw_consent(
    ctx: Context, dataset_id: str, reason: str, as_user: str | None
) -> None:
    """Record that consent was withdrawn: no new grants; active grants flagged (steward)."""
    from consortium.access.consent import withdraw_consent

    with opened(ctx) as node:
        event = withdraw_consent(node.ledger, acting(node, as_user), dataset_id, {"reason": reason})
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
@as_option
@data_dir_option
@pass_ctx
def dataset_attach_profile(
    ctx: Context,
    dataset_id: str,
    summary_file: Path,
    version: int | None,
    identifiers_reviewed: str | None,
    as_user: str | None,
) -> None:
    """Attach a `consortium profile --output` summary as a signed quality attestation."""
    payload: dict[str, Any] = {"profile": read_json(summary_file)}
    if version is not None:
        payload["version"] = version
    if identifiers_reviewed is not None:
        payload["identifiers_reviewed"] = identifiers_reviewed
    with opened(ctx) as node:
        event = datasets.attach_profile(node.ledger, acting(node, as_user), dataset_id, payload)
    recorded(f"Attached the profile to {dataset_id} version {event.body['version']}", event.index)


@dataset.command("list")
@click.argument("words", nargs=-1)
@click.option("--purpose", help="A DUO permission (GRU, HMB, DS…): datasets that allow it.")
@click.option("--status", type=click.Choice(datasets.STATUSES))
@as_option
@data_dir_option
@pass_ctx
def dataset_list(
    ctx: Context, words: tuple[str, ...], purpose: str | None, status: str | None,
    as_user: str | None,
) -> None:  # fmt: skip
    """Datasets, as the acting person may see them; with WORDS, those whose metadata holds
    every word. Each line ends with the contracts it can be requested under."""
    args = {"q": " ".join(words) or None, "purpose": purpose, "status": status}
    with opened(ctx) as node:
        query = SearchSchema().load({k: v for k, v in args.items() if v is not None})
        found = catalogue.search(node.engine, acting(node, as_user), **query)
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
@as_option
@data_dir_option
@pass_ctx
def dataset_show(ctx: Context, dataset_id: str, version: int | None, as_user: str | None) -> None:
    """One dataset as JSON."""
    with opened(ctx) as node:
        dump_json(datasets.get_dataset(node.engine, acting(node, as_user), dataset_id, version))


# --- rebuild --------------------------------------------------------------------------------------


@main.command("rebuild")
@data_dir_option
@pass_ctx
def rebuild_cmd(ctx: Context) -> None:
    """Recreate every projection (people, datasets, contracts…) from the ledger alone."""
    with opened(ctx) as node, progress_bar("rebuilding", node.ledger.size()) as advance:
        try:
            folded = rebuild(node.ledger, advance)
        except SealError as exc:
            raise click.ClickException(
                f"{exc}; nothing was changed. Restore the database (it holds the sealed "
                "documents) from a backup, then rebuild again."
            ) from exc
    err.print(f"Rebuilt every projection from {folded} ledger entries.")
