"""``consortium user email``: where a person's notifications are mailed.

The address is node-local, like a password, so the command writes no ledger entry.
"""

from __future__ import annotations

import click

from consortium.cli.common import Context, data_dir_option, opened, out, pass_ctx
from consortium.cli.registry import user
from consortium.notifications import set_email


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
