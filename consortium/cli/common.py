"""What every ``consortium`` subcommand shares: the data directory, consoles, progress bars,
opening the node as the person named by ``--as``, and turning domain refusals into one-line
errors.

This module is imported by every subcommand, so it imports only click at start-up; rich, the
node and marshmallow are imported when a command first uses them (see `consortium.cli`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.auth.roles import OPERATOR, Actor
from consortium.crypto.note import NoteError
from consortium.errors import DomainError, flatten_messages

if TYPE_CHECKING:
    from rich.console import Console

    from consortium.node import Node
    from consortium.registry.keyring import Keyring

DATA_DIR_HELP = "The node's data directory (or set CONSORTIUM_DATA_DIR)."
# `consortium.node.config.CONFIG_FILE`, named here so that checking whether a directory holds a
# node does not import the node (and the database with it).
NODE_CONFIG = "node.toml"


class _Console:
    """A rich console made on first use: ``consortium --help`` never needs rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options

    @functools.cached_property
    def _console(self) -> Console:
        from rich.console import Console

        return Console(**self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console, name)


err: Console = _Console(stderr=True)  # type: ignore[assignment]
out: Console = _Console(soft_wrap=True)  # type: ignore[assignment]


class Context:
    def __init__(self, data_dir: Path, explicit: bool) -> None:
        self.data_dir = data_dir
        self.explicit = explicit

    def open(self, *, migrate: bool = False) -> Node:
        from consortium.node import Node, NodeConfigError

        try:
            return Node.open(self.data_dir, migrate=migrate)
        except NodeConfigError as exc:
            raise click.ClickException(str(exc)) from exc


pass_ctx = click.make_pass_decorator(Context)


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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

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
    except Exception as exc:
        # Only a module already imported can have raised its error: checking this way keeps
        # commands that need no database (nor marshmallow) from importing them.
        if _is(exc, "marshmallow", "ValidationError"):
            raise click.ClickException(field_errors(exc.messages)) from exc  # type: ignore[attr-defined]
        if _is(exc, "consortium.ledger.log", "LedgerIntegrityError"):
            raise click.ClickException(f"{exc}; run `consortium verify` to see what else") from exc
        if not _is(exc, "consortium.registry.keyring", "UntrustedKey"):
            raise
        raise click.ClickException(
            f"{exc}: pin the vkey each node publishes with --vkey (compare it with them out of "
            "band), or run with --data-dir of a node that recorded it as a member"
        ) from exc


def _is(exc: BaseException, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


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
    from consortium.registry.keyring import Keyring, KeyringError

    try:
        ring = Keyring.pinned(vkeys)
    except (NoteError, KeyringError) as exc:
        raise click.ClickException(f"invalid --vkey: {exc}") from exc
    if ctx.explicit or (ctx.data_dir / NODE_CONFIG).exists():
        node = ctx.open()
        try:
            ring.add_recorded(node.engine)
        finally:
            node.close()
    return ring


def offline_check(fn: Callable[..., None]) -> Callable[..., None]:
    """Make a function an offline check (a grant file, a bundle, a run, a report): it gains
    ``--vkey`` and ``--data-dir`` and is called with the `Keyring` it may check against first,
    the keys pinned and, with a node's data directory, those the node recorded; never the key
    the checked thing carries."""

    @functools.wraps(fn)
    def run(ctx: Context, *args: Any, vkeys: tuple[str, ...], **kwargs: Any) -> None:
        with refusals():
            trusted = keyring(ctx, vkeys)
            fn(trusted, *args, **kwargs)

    return vkeys_option(data_dir_option(pass_ctx(run)))


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
def opened(ctx: Context, *, checkpoint: bool = True) -> Iterator[Node]:
    """The node, for one command; domain refusals inside end it with a one-line reason.

    If the command wrote entries, a checkpoint covers them before it returns, so `consortium
    verify` and peers see them at once (``checkpoint=False`` for commands that only manage
    node-local state or sign checkpoints themselves)."""
    node = ctx.open()
    try:
        with refusals():
            yield node
            if checkpoint:
                node.ledger.checkpoint()
    finally:
        node.close()


def on_node(
    *, acts: bool = False, checkpoint: bool = True
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Make a function a command run against the node: it is called with the opened node
    first and, with ``acts``, the person ``--as`` names (or the operator) second.

    The command gains ``--data-dir`` (and ``--as``), runs inside `opened` (so refusals become
    one-line errors with a non-zero exit and written entries get a checkpoint), and closes the
    node however it ends. Every command that opens the node does it this one way.
    """

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(ctx: Context, *args: Any, **kwargs: Any) -> None:
            as_user = kwargs.pop("as_user", None)
            with opened(ctx, checkpoint=checkpoint) as node:
                if acts:
                    fn(node, acting(node, as_user), *args, **kwargs)
                else:
                    fn(node, *args, **kwargs)

        command = data_dir_option(pass_ctx(run))
        return as_option(command) if acts else command

    return decorate
