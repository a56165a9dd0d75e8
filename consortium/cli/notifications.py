"""``consortium inbox`` and ``consortium user email``: reading notifications, and where
they are mailed.

The address is node-local, like a password, so the command writes no ledger entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from consortium.auth.roles import Actor
from consortium.cli.common import on_node, out
from consortium.notifications import inbox, mark_read, set_email

if TYPE_CHECKING:
    from consortium.node import Node


@click.command("email")
@click.argument("username")
@click.argument("address")
@on_node()
def user_email(node: Node, username: str, address: str) -> None:
    """Mail USERNAME's notifications to ADDRESS (from now on; needs [smtp] in node.toml)."""
    set_email(node.engine, username, {"email": address})
    out.print(f"Notifications for {username} go to {address}.")


@click.command("inbox")
@click.option("--unread", is_flag=True, help="Only what is not marked read.")
@click.option("--read", "read_id", metavar="ID", help="Mark one notification read.")
@on_node(acts=True)
def inbox_command(node: Node, who: Actor, unread: bool, read_id: str | None) -> None:
    """Your notifications, newest first (give --as USERNAME at the node's console)."""
    if read_id is not None:
        mark_read(node.engine, who.name, read_id)
        out.print(f"Marked {read_id} read.")
        return
    shown = inbox(node.engine, who.name, unread_only=unread)
    if not shown:
        click.echo("Nothing new." if unread else "No notifications.", err=True)
    for n in shown:
        mark = " " if n["read"] else "*"
        click.echo(f"{mark} {n['id']}  {n['created_at'][:16]}  {n['subject']}")
