"""What the `consortium` command imports before it does anything.

A console command should not pay for the web server, the scheduler or domain modules it does
not use. These tests look at which modules a real process has loaded (``sys.modules`` in a
subprocess), not at timings: `scripts/bench_cli.py` measures those.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from consortium.cli import LAZY_COMMANDS, LazyGroup, load_command, main
from consortium.ledger.bundle import export_bundle
from consortium.node import Node

ROOT = Path(__file__).resolve().parents[1]
WEB_AND_SCHEDULER = {"flask", "flask_smorest", "marshmallow", "apscheduler", "webargs"}


def modules_after(script: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``script``."""
    code = f"import json, sys\n{script}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded_by(script: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``script``."""
    return {name.split(".")[0] for name in modules_after(script)}


def invoking(*args: str) -> str:
    """A script that runs the `consortium` command with ``args`` and carries on after it."""
    return (
        "from consortium.cli import main\n"
        f"try:\n    main({list(args)!r}, prog_name='consortium')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code"
    )


def test_help_imports_neither_the_web_stack_nor_the_scheduler() -> None:
    loaded = loaded_by(invoking("--help"))
    assert not loaded & WEB_AND_SCHEDULER, loaded & WEB_AND_SCHEDULER
    # Nor the database, nor rich: listing the commands needs click alone.
    assert not loaded & {"sqlalchemy", "sqlmodel", "rich", "alembic"}


def test_verifying_a_bundle_needs_no_database(sqlite_node: Node, tmp_path: Path) -> None:
    bundle = tmp_path / "ledger.bundle"
    export_bundle(sqlite_node.ledger, sqlite_node.name, sqlite_node.public_key, bundle)
    pinned = ("--vkey", sqlite_node.vkey)  # the key the person checking trusts
    modules = modules_after(
        invoking("ledger", "verify-bundle", "--workers", "2", *pinned, str(bundle))
    )
    loaded = {name.split(".")[0] for name in modules}
    assert not loaded & (WEB_AND_SCHEDULER | {"sqlalchemy", "sqlmodel", "alembic"})
    # A ledger of one batch is checked in the process itself: no fork server is started.
    assert "multiprocessing.forkserver" not in modules


def test_a_read_only_command_imports_neither_the_web_stack_nor_the_scheduler(
    sqlite_node: Node,
) -> None:
    data_dir = str(sqlite_node.config.data_dir)
    loaded = loaded_by(invoking("--data-dir", data_dir, "member", "list"))
    assert not loaded & {"flask", "flask_smorest", "apscheduler", "alembic"}


def test_the_help_table_names_each_command_as_it_is() -> None:
    """``--help`` lists the groups from `LAZY_COMMANDS` without importing them: the table
    must say what the commands themselves say."""
    for name, (target, short_help) in LAZY_COMMANDS.items():
        command = load_command(target)
        assert command.name == name, target
        listed = click.Command(name, help=short_help).get_short_help_str(200)
        assert listed == command.get_short_help_str(200), name
    for group in (main, load_command(LAZY_COMMANDS["user"][0])):
        assert isinstance(group, LazyGroup)
        for name, (target, short_help) in group.lazy.items():
            assert load_command(target).get_short_help_str(200) == short_help, name


def test_every_command_is_reachable_after_the_list_is_made() -> None:
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        assert main.get_command(ctx, name) is not None, name


PROJECTOR_ORDER = (
    "from consortium.events import _PROJECTORS\n"
    "import consortium.projections\n"
    "print(json.dumps({k: [f'{f.__module__}.{f.__qualname__}' for f in v]"
    " for k, v in _PROJECTORS.items()}))"
)


def projector_order(first: str) -> dict[str, list[str]]:
    """Each kind's projectors, in the order they run, after importing ``first`` first."""
    code = f"import json, sys\nimport {first}\n{PROJECTOR_ORDER}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "first",
    [
        "consortium.notifications",
        "consortium.cli.access",
        "consortium.cli.registry",
        "consortium.cli.alliance",
        "consortium.api",
    ],
)
def test_projectors_run_in_one_order_whatever_a_process_imports_first(first: str) -> None:
    """A command imports only the modules it uses and the registry is completed when the first
    entry is folded, so the order of a kind's projectors must not depend on import order."""
    assert projector_order(first) == projector_order("consortium.projections")


def test_the_cli_knows_the_node_config_file_by_its_name() -> None:
    from consortium.cli.common import NODE_CONFIG
    from consortium.node.config import CONFIG_FILE

    assert NODE_CONFIG == CONFIG_FILE
