"""Shared fixtures: nodes on SQLite and on PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consortium.node import Node, init_node

PG_URL = os.environ.get(
    "CONSORTIUM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_REQUIRED = os.environ.get("CONSORTIUM_TEST_PG_REQUIRED") == "1"


def _pg_problem() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {exc}"
    return None


_PG_PROBLEM = _pg_problem()


@pytest.fixture(scope="session")
def pg_admin():
    if _PG_PROBLEM:
        if PG_REQUIRED:
            pytest.fail(_PG_PROBLEM)
        pytest.skip(_PG_PROBLEM)
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"consortium_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None means the default: SQLite in the node's data directory."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


@pytest.fixture
def node(tmp_path: Path, database_url: str | None) -> Iterator[Node]:
    n = init_node(tmp_path / "node", "Test Hospital", database_url=database_url)
    yield n
    n.close()


@pytest.fixture
def sqlite_node(tmp_path: Path) -> Iterator[Node]:
    n = init_node(tmp_path / "node", "Test Hospital")
    yield n
    n.close()


# --- people ------------------------------------------------------------------------------------

# One person per role, named after it; tests act as them.
PEOPLE = {
    "admin": "ada",
    "steward": "sam",
    "director": "dora",
    "researcher": "rita",
    "lead": "lee",
    "auditor": "otto",
}


def add_people(node: Node, people: dict[str, str] = PEOPLE) -> dict[str, str]:
    """Add one person per role (as the operator); returns role -> username."""
    from consortium.auth.people import add_person
    from consortium.auth.roles import OPERATOR

    for role, username in people.items():
        add_person(
            node.ledger,
            OPERATOR,
            {"username": username, "display_name": username.title(), "roles": [role]},
        )
    return dict(people)


def token_for(node: Node, username: str) -> str:
    from consortium.auth.tokens import create_token

    return create_token(node.engine, username)[0]


def refused(node: Node, action: Any, kind: type[Exception] = Exception) -> Any:
    """Run a command that must be refused with ``kind``; prove it wrote nothing at all."""
    from consortium.projections import snapshot

    size, state = node.ledger.size(), snapshot(node.engine)
    with pytest.raises(kind) as caught:
        action()
    assert node.ledger.size() == size
    assert snapshot(node.engine) == state
    return caught.value


@pytest.fixture
def pair(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Node, Node]]:
    """`scenario.pair` on each database: a hospital and an institute that know each other."""
    import scenario

    hospital, institute = scenario.pair(tmp_path, database_url)
    yield hospital, institute
    hospital.close()
    institute.close()


@pytest.fixture
def credit_world(tmp_path: Path, database_url: str | None) -> Iterator[Any]:
    """`scenario.credit_world` on each database: a period's worth of credit, no rules yet."""
    import scenario

    hospital, institute, ids = scenario.credit_world(tmp_path, database_url)
    yield hospital, institute, ids
    hospital.close()
    institute.close()
