"""``consortium inbox`` and ``consortium user email``: reading notifications, and where
they are mailed.

The address is node-local, like a password, so the command writes no ledger entry.
"""

from __future__ import annotations

import click

from consortium.cli.common import (
    Context,
    acting,
    as_option,
    data_dir_option,
    main,
    opened,
    out,
    pass_ctx,
)
from consortium.cli.registry import user
from consortium.notifications import inbox, mark_read, set_email


@user.command("email")
@click.argument("username")
@click.argument("address")
@data_dir_option
@pass_ctx
def user_email(ctx: Context, username: str, address: str) -> None:
    """Mail USERNAME's notifications to ADDRESS (from now on; needs [smtp] in node.toml)."""
    with opened(ctx) as node:
        set_email(node.engine, username, {"email": address})
    out.print(f"Notifications for {username} go to {address}.")


@main.command("inbox")
@click.option("--unread", is_flag=True, help="Only what is not marked read.")
@click.option("--read", "read_id", metavar="ID", help="Mark one notification read.")
@as_option
@data_dir_option
@pass_ctx
def inbox_command(ctx: Context, unread: bool, read_id: str | None, as_user: str | None) -> None:
    """Your notifications, newest first (give --as USERNAME at the node's console)."""
    with opened(ctx) as node:
        who = acting(node, as_user).name
        if read_id is not None:
            mark_read(node.engine, who, read_id)
            out.print(f"Marked {read_id} read.")
            return
        shown = inbox(node.engine, who, unread_only=unread)
    if not shown:
        click.echo("Nothing new." if unread else "No notifications.", err=True)
    for n in shown:
        mark = " " if n["read"] else "*"
        click.echo(f"{mark} {n['id']}  {n['created_at'][:16]}  {n['subject']}")
