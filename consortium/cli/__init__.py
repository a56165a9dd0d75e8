"""The ``consortium`` command: a thin layer over the node and domain modules.

Every failure ends with a one-line reason on standard error and a non-zero exit status;
nothing is written by a command that fails.

Start-up matters at a console: the command groups live in modules of their own, imported only
when one of their commands runs (`LazyGroup`), and what this module and `cli.common` import at
start-up is click and little else. ``consortium --help`` lists the groups from the table below
without importing any of them; a test checks the table against the groups themselves.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium import __version__
from consortium.auth.roles import ROLES
from consortium.cli.common import (
    DATA_DIR_HELP,
    Context,
    data_dir_option,
    err,
    offline_check,
    on_node,
    out,
    pass_ctx,
    progress_bar,
)

if TYPE_CHECKING:
    from consortium.auth.roles import Actor
    from consortium.ledger.audit import AuditReport
    from consortium.node import Node
    from consortium.registry.keyring import Keyring

__all__ = ["LAZY_COMMANDS", "LazyGroup", "main"]


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when one of them is invoked.

    ``lazy`` maps a command name to ``("module:attribute", short help)``; the short help is
    what ``--help`` lists, so listing the commands imports none of their modules.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(load_command(self.lazy[cmd_name][0]), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = [
            n
            for n in self.list_commands(ctx)
            if n not in self.commands or not self.commands[n].hidden
        ]
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [
            (
                name,
                self.commands[name].get_short_help_str(limit)
                if name in self.commands
                else click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit),
            )
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_command(target: str) -> click.Command:
    """The command object named by ``"module:attribute"``."""
    module, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command), target
    return command


LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "user": (
        "consortium.cli.registry:user",
        "People of this institution, their roles and passwords.",
    ),
    "member": (
        "consortium.cli.registry:member",
        "Member institutions of the consortium and their node keys.",
    ),
    "federation": (
        "consortium.cli.federation:federation_group",
        "The consortium: its members, and versions of its membership signed by them.",
    ),
    "settings": (
        "consortium.cli.registry:settings_cmd",
        "Show the institution's settings, or change them (admin).",
    ),
    "dataset": (
        "consortium.cli.registry:dataset",
        "Register and maintain datasets (metadata only).",
    ),
    "rebuild": (
        "consortium.cli.registry:rebuild_cmd",
        "Recreate every projection (people, datasets, contracts…) from the ledger alone.",
    ),
    "inbox": (
        "consortium.cli.notifications:inbox_command",
        "Your notifications, newest first (give --as USERNAME at the node's console).",
    ),
    "request": (
        "consortium.cli.access:request_group",
        "Access requests: check, submit, review and decide them.",
    ),
    "grant": ("consortium.cli.access:grant_group", "Grants: list, export, verify offline, revoke."),
    "incident": (
        "consortium.cli.access:incident_group",
        "Incidents: report, suspend the grants they touch, close.",
    ),
    "contribution": (
        "consortium.cli.alliance:contribution_group",
        "Contributions besides data: recorded costs and declared effort.",
    ),
    "compensation": (
        "consortium.cli.alliance:compensation_group",
        "Compensation runs: a period's pool paid by the credit on the ledger.",
    ),
    "report": (
        "consortium.cli.alliance:report_group",
        "Contribution reports: credit, compensation and participation, reproducibly.",
    ),
    "contract": (
        "consortium.cli.contracts:contract",
        "Draft, propose, sign and manage sharing contracts.",
    ),
    "rules": (
        "consortium.cli.contracts:rules_group",
        "The alliance's benefit rules: proposed by the lead, signed by every member.",
    ),
    "profile": (
        "consortium.cli.profile:profile",
        "Profile FILE (.csv, .tsv or .jsonl, optionally .gz): fingerprint, completeness, "
        "identifiers.",
    ),
}
"""The command groups kept in modules of their own, with the short help ``--help`` shows."""


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="consortium-data",
    show_default=True,
    envvar="CONSORTIUM_DATA_DIR",
    help=DATA_DIR_HELP,
)
@click.version_option(__version__, prog_name="consortium")
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """Run and audit a consortium node: a signed, verifiable ledger of data-sharing events."""
    source = ctx.get_parameter_source("data_dir")
    ctx.obj = Context(data_dir, source is not click.core.ParameterSource.DEFAULT)


# --- node lifecycle ---------------------------------------------------------------------------


@main.command()
@click.option("--name", required=True, help="The institution's name, e.g. \"St Mary's Hospital\".")
@click.option(
    "--origin",
    help="The log's origin, a URL-like name without scheme "
    "(default: consortium.example/<name>). Fixed for the node's life.",
)
@click.option(
    "--database-url",
    help="postgresql+psycopg://… for PostgreSQL (default: SQLite in the data directory).",
)
@data_dir_option
@pass_ctx
def init(ctx: Context, name: str, origin: str | None, database_url: str | None) -> None:
    """Create a node: key, configuration, database and the first ledger entry."""
    from rich.markup import escape

    from consortium.crypto.keys import b64encode
    from consortium.node import NodeConfigError, init_node

    data_dir = ctx.data_dir
    try:
        node = init_node(data_dir, name, origin=origin, database_url=database_url)
    except NodeConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    out.print(f"Created node [bold]{escape(node.name)}[/] in {escape(str(data_dir))}")
    out.print(f"  origin      {node.origin}")
    out.print(f"  public key  {b64encode(node.public_key)}")
    out.print(f"  vkey        {node.vkey}")
    out.print(f"  key file    {node.config.key_path} (mode 600: back it up, keep it secret)")
    out.print(f"  witness     {node.witness_vkey}")
    out.print(f"  witness key {node.config.witness_key_path} (mode 600, likewise)")
    node.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="debug also shows scheduled jobs that found nothing to do.",
)
@data_dir_option
@pass_ctx
def serve(ctx: Context, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the node's API (gunicorn) and run its scheduled jobs."""
    from consortium.server import serve as run

    ctx.open().close()  # fail here, with a clear message, rather than in every worker
    err.print(f"Serving {ctx.data_dir} on http://{host}:{port}/api/v1/node")
    run(ctx.data_dir, host, port, workers, log_level=log_level)


@main.command()
@on_node(checkpoint=False)
def checkpoint(node: Node) -> None:
    """Sign a checkpoint for the ledger as it is now (if it grew since the last one)."""
    note = node.ledger.checkpoint() or node.ledger.latest_checkpoint()
    click.echo(note, nl=False)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@data_dir_option
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply pending schema migrations."""
    ctx.open(migrate=True).close()
    out.print("Database schema is up to date.")


# --- attestations and tokens --------------------------------------------------------------------


@main.command()
@click.option("--statement", required=True, help="What the institution attests.")
@click.option("--subject", help="What it is about, e.g. contract:C-4.")
@on_node(acts=True)
def attest(node: Node, who: Actor, statement: str, subject: str | None) -> None:
    """Record a signed attestation on the ledger (steward or admin)."""
    from consortium.attestations import record_attestation

    payload: dict[str, Any] = {"statement": statement}
    if subject is not None:
        payload["subject"] = subject
    done = record_attestation(node.ledger, who, payload)
    out.print(f"Recorded attestation as entry {done.index}.")


@main.group()
def token() -> None:
    """API tokens (shown once, stored hashed)."""


@token.command("create")
@click.option("--actor", required=True, help="The person the token acts for, e.g. alice.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(ROLES),
    help="Limit the token to this of the person's roles (repeatable; default: all).",
)
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Days until it expires.",
)
@on_node(checkpoint=False)
def token_create(node: Node, actor: str, roles: tuple[str, ...], days: int) -> None:
    """Create a token and print it (the only time it is shown)."""
    from consortium.auth.tokens import create_token

    with _token_refusals():
        secret, info = create_token(
            node.engine, actor, timedelta(days=days), list(roles) if roles else None
        )
    err.print(
        f"Token {info.token_id} for {actor}, expires {info.expires_at:%Y-%m-%d}. "
        "Store it now: it cannot be shown again."
    )
    click.echo(secret)


@token.command("list")
@on_node(checkpoint=False)
def token_list(node: Node) -> None:
    """List tokens (never their secrets)."""
    from consortium.auth.tokens import list_tokens

    for t in list_tokens(node.engine):
        state = "revoked" if t.revoked_at else ("active" if t.active else "expired")
        scope = ",".join(t.roles) if t.roles is not None else "all roles"
        click.echo(f"{t.token_id}  {t.actor}  {scope}  {state}  expires {t.expires_at:%Y-%m-%d}")


@token.command("revoke")
@click.argument("token_id")
@on_node(checkpoint=False)
def token_revoke(node: Node, token_id: str) -> None:
    """Revoke a token by its id."""
    from consortium.auth.tokens import revoke_token

    with _token_refusals():
        revoke_token(node.engine, token_id)
    out.print(f"Revoked token {token_id}.")


@contextmanager
def _token_refusals() -> Iterator[None]:
    """A token that cannot be made or revoked ends the command with the reason."""
    from consortium.auth.tokens import TokenError

    try:
        yield
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc


# --- audit ----------------------------------------------------------------------------------------


def _workers_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--workers",
        type=click.IntRange(1, 256),
        default=os.cpu_count() or 1,
        show_default="all cores",
        help="Processes that check signatures.",
    )(fn)


def _quick_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--quick",
        is_flag=True,
        help="Integrity only (hashes, chain, Merkle roots, checkpoints); skip signatures.",
    )(fn)


def _report(report: AuditReport, what: str) -> None:
    from rich.markup import escape

    from consortium.crypto.keys import b64encode

    if report.ok:
        checks = "hashes, chain, Merkle roots, checkpoints"
        if report.signatures_checked:
            checks += ", signatures"
        if report.stored_nodes_checked:
            checks += ", stored tree"
        out.print(f"[green]OK[/] {escape(what)}: {report.size} entries intact ({checks}).")
        out.print(
            f"  root {b64encode(report.root)}; {report.checkpoints_checked} checkpoints, "
            f"latest at {report.latest_checkpoint}"
        )
        if report.unchecked_tail:
            tail = report.unchecked_tail
            out.print(
                f"  The {tail} newest {'entry is' if tail == 1 else 'entries are'} not yet "
                "under a checkpoint."
            )
        return
    first = report.first
    assert first is not None
    for problem in report.problems[:20]:
        err.print(f"  {problem}", markup=False)
    if len(report.problems) > 20:
        err.print(f"  … and {len(report.problems) - 20} more problems")
    raise click.ClickException(f"{what} is NOT intact; first problem: {first}")


@main.command()
@_quick_option
@_workers_option
@click.option(
    "--projections",
    is_flag=True,
    help="Also rebuild every table the API answers from in a scratch space and name each "
    "row that differs from the live one.",
)
@data_dir_option
@pass_ctx
def verify(ctx: Context, quick: bool, workers: int, projections: bool) -> None:
    """Verify the node's ledger: chain, signatures, Merkle root and every checkpoint; with
    --projections, also the tables the API answers from against the ledger."""
    node = ctx.open()
    try:
        with progress_bar("verifying", node.ledger.size()) as advance:
            report = node.audit(signatures=not quick, workers=workers, progress=advance)
        _report(report, "ledger")
        if projections:
            _check_projections(node)
    finally:
        node.close()


def _check_projections(node: Node) -> None:
    from consortium.projections import check
    from consortium.registry.sealed import SealError

    with progress_bar("rebuilding in scratch", node.ledger.size()) as advance:
        try:
            found = check(node.ledger, advance)
        except SealError as exc:
            raise click.ClickException(f"the projections cannot be rebuilt: {exc}") from exc
    if not found:
        out.print("[green]OK[/] projections: every row is what the ledger gives.")
        return
    for difference in found:
        err.print(f"  {difference}", markup=False, highlight=False)
    rows = len({(d.table, repr(d.key)) for d in found})
    raise click.ClickException(
        f"{rows} projection row{'s differ' if rows > 1 else ' differs'} from the ledger; "
        "`consortium rebuild` restores them from it"
    )


@main.group()
def ledger() -> None:
    """Export and verify ledger bundles."""


@ledger.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--for",
    "audience",
    type=click.Choice(["public", "members"]),
    default="public",
    show_default=True,
    help="Who the bundle is for: the public gets the entries alone; members also get each "
    "entry's members document, what they need to recompute credit and reports.",
)
@on_node(checkpoint=False)
def ledger_export(node: Node, file: Path, audience: str) -> None:
    """Write a self-contained bundle (entries, checkpoints, key) to FILE; .gz compresses."""
    from consortium.disclosure.views import export_ledger

    with progress_bar("exporting", node.ledger.size()) as advance:
        try:
            size = export_ledger(
                node.ledger, node.name, node.public_key, file, audience=audience, progress=advance
            )
        except OSError as exc:
            raise click.ClickException(f"cannot write {file}: {exc.strerror}") from exc
    whom = "the public" if audience == "public" else audience
    out.print(f"Exported {size} entries to {file}, for {whom}.")


@ledger.command("verify-bundle")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_quick_option
@_workers_option
@offline_check
def ledger_verify_bundle(trusted: Keyring, file: Path, quick: bool, workers: int) -> None:
    """Verify a bundle offline, with no database, against the node's key you trust (--vkey, or
    the one your node recorded); never against the key the bundle names."""
    from consortium.ledger.bundle import BundleError, read_header, verify_bundle

    try:
        origin = read_header(file).origin
        vkey = trusted.vkey(origin)
        with progress_bar("verifying", None) as advance:
            bundle, report = verify_bundle(
                file, trusted_vkey=vkey, signatures=not quick, workers=workers, progress=advance
            )
    except BundleError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(report, f"bundle of {bundle.header.get('name')!r}")
    out.print(f"  checked with {trusted.source(origin)}: {vkey}", highlight=False)
    if bundle.sealed_checked:
        out.print(
            f"  {bundle.sealed_checked} sealed documents (for {bundle.header.get('disclosure')}) "
            "are the ones their entries commit to."
        )


# --- demo -----------------------------------------------------------------------------------------


@main.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@data_dir_option
@pass_ctx
def demo(ctx: Context, port: int) -> None:
    """Create (once) and serve a demonstration node: people, datasets, a signed contract,
    access requests and a grant."""
    from consortium.demo import TOKEN_FILE, create_demo
    from consortium.node import NodeConfigError
    from consortium.server import serve as run

    data_dir = ctx.data_dir if ctx.explicit else Path("demo-data")
    if not (data_dir / "node.toml").exists():
        try:
            create_demo(data_dir).close()
        except NodeConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    tokens = data_dir / TOKEN_FILE
    base = f"http://127.0.0.1:{port}/api/v1"
    steward = f"$(grep ^sam= {tokens} | cut -d= -f2)"
    out.print(f"Demo node in {data_dir}; API tokens per role in {tokens}. Try:")
    out.print(f"  curl {base}/node")
    out.print(f"  curl {base}/datasets")
    out.print(f"  curl {base}/contracts?status=active")
    out.print(f'  curl -H "Authorization: Bearer {steward}" {base}/datasets')
    out.print(f'  curl -H "Authorization: Bearer {steward}" {base}/access-requests')
    out.print(f"  curl {base}/transparency")
    out.print(f"  curl {base}/federation/membership")
    lead = f"$(grep ^lee= {tokens} | cut -d= -f2)"
    today = datetime.now(UTC).date()
    period = f"start={today.replace(day=1)}&end={today + timedelta(days=1)}"
    out.print(f"  curl -H \"Authorization: Bearer {lead}\" '{base}/reports/contributions?{period}'")
    out.print(f"  curl '{base}/ledger/entries?start=0'")
    out.print(f"  consortium --data-dir {data_dir} verify")
    out.print(f"  OpenAPI: {base}/openapi.json")
    run(data_dir, "127.0.0.1", port, workers=2)
