"""What every ``consortium`` subcommand shares: the data directory, consoles, progress bars,
and turning domain refusals into one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from marshmallow import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from consortium import __version__
from consortium.auth.roles import OPERATOR, Actor
from consortium.crypto.note import NoteError
from consortium.errors import DomainError, flatten_messages
from consortium.ledger.log import LedgerIntegrityError
from consortium.node import Node, NodeConfigError
from consortium.node.config import CONFIG_FILE
from consortium.registry.keyring import Keyring, KeyringError, UntrustedKey

err = Console(stderr=True)
out = Console(soft_wrap=True)

DATA_DIR_HELP = "The node's data directory (or set CONSORTIUM_DATA_DIR)."


class Context:
    def __init__(self, data_dir: Path, explicit: bool) -> None:
        self.data_dir = data_dir
        self.explicit = explicit

    def open(self, *, migrate: bool = False) -> Node:
        try:
            return Node.open(self.data_dir, migrate=migrate)
        except NodeConfigError as exc:
            raise click.ClickException(str(exc)) from exc


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Context)
        ctx.find_object(Context).data_dir = value  # type: ignore[union-attr]
        ctx.find_object(Context).explicit = True  # type: ignore[union-attr]


def data_dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Accept ``--data-dir`` after the subcommand too: ``consortium init --data-dir DIR``."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_set_data_dir,
        help=DATA_DIR_HELP,
    )(fn)


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error; silent when it is not a terminal."""
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def field_errors(messages: Any) -> str:
    """Field messages as one line: ``a.b: message; c: message``."""
    return "; ".join(
        f"{path}: {'; '.join(msgs)}" if path else "; ".join(msgs)
        for path, msgs in flatten_messages(messages).items()
    )


@contextmanager
def refusals() -> Iterator[None]:
    """Domain refusals, invalid input, documents nobody can check (no trusted key) and a ledger
    the node will not sign over (an edited row) end the command with a one-line reason."""
    try:
        yield
    except DomainError as exc:
        detail = f" ({field_errors(exc.errors)})" if exc.errors else ""
        raise click.ClickException(f"{exc.message}{detail}") from exc
    except ValidationError as exc:
        raise click.ClickException(field_errors(exc.messages)) from exc
    except LedgerIntegrityError as exc:
        raise click.ClickException(f"{exc}; run `consortium verify` to see what else") from exc
    except UntrustedKey as exc:
        raise click.ClickException(
            f"{exc}: pin the vkey each node publishes with --vkey (compare it with them out of "
            "band), or run with --data-dir of a node that recorded it as a member"
        ) from exc


def vkeys_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--vkey``, repeatable: the verifier keys the person checking trusts."""
    return click.option(
        "--vkey",
        "vkeys",
        multiple=True,
        help="A node's verifier key you trust (from its GET /api/v1/node, compared with it out "
        "of band); repeatable. With a node's data directory, the keys it recorded count too.",
    )(fn)


def keyring(ctx: Context, vkeys: tuple[str, ...]) -> Keyring:
    """What an offline check may verify against: the keys pinned with ``--vkey`` and, when the
    command runs with a node's data directory, that node's own key and its members' keys. A
    document's own key is never among them."""
    try:
        ring = Keyring.pinned(vkeys)
    except (NoteError, KeyringError) as exc:
        raise click.ClickException(f"invalid --vkey: {exc}") from exc
    if ctx.explicit or (ctx.data_dir / CONFIG_FILE).exists():
        node = ctx.open()
        try:
            ring.add_recorded(node.engine)
        finally:
            node.close()
    return ring


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or a one-line reason why not."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise click.ClickException(f"{path} must hold a JSON object")
    return value


def dump_json(value: Any) -> None:
    """A value as indented JSON on standard output, for people and for `jq` alike."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def recorded(what: str, index: int) -> None:
    out.print(f"{what} (ledger entry {index}).")


def as_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--as USERNAME``: the person the command acts for (default: the node operator)."""
    return click.option(
        "--as",
        "as_user",
        envvar="CONSORTIUM_AS",
        help="Act as this person (their roles apply). Default: the operator at the console.",
    )(fn)


def acting(node: Node, as_user: str | None) -> Actor:
    """The actor for ``--as``: that person with their current roles, or the operator."""
    if as_user is None:
        return OPERATOR
    from consortium.auth.people import effective_actor

    with node.engine.connect() as conn:
        who = effective_actor(conn, as_user, None)
    if who is None:
        raise click.ClickException(f"no active person {as_user!r} at this node")
    return who


@contextmanager
def opened(ctx: Context) -> Iterator[Node]:
    """The node, for one command. If the command wrote entries, a checkpoint covers them
    before it returns, so `consortium verify` and peers see them at once."""
    node = ctx.open()
    try:
        with refusals():
            yield node
            node.ledger.checkpoint()
    finally:
        node.close()
