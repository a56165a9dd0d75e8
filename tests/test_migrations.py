"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from consortium.db.schema import metadata
from consortium.node import Node


def test_migrated_schema_matches_the_models(node: Node) -> None:
    with node.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_quick_revision_check_agrees_with_alembic(node: Node) -> None:
    """`pending` reads revisions without importing Alembic; it must give Alembic's answers."""
    from alembic.script import ScriptDirectory

    from consortium.db.migrate import _config, current_revision, head_revision, pending

    assert head_revision() == ScriptDirectory.from_config(_config()).get_current_head()
    with node.engine.connect() as conn:
        assert (
            current_revision(node.engine) == MigrationContext.configure(conn).get_current_revision()
        )
    assert not pending(node.engine)


def test_a_database_behind_the_code_is_refused(tmp_path: Path) -> None:
    from consortium.db.migrate import current_revision, pending
    from consortium.node import NodeConfigError, init_node

    init_node(tmp_path / "n", "Behind").close()
    node = Node.open(tmp_path / "n")
    with node.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert current_revision(node.engine) == "0001" and pending(node.engine)
    node.close()
    with pytest.raises(NodeConfigError, match="consortium db upgrade"):
        Node.open(tmp_path / "n")
