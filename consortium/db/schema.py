"""Every table of the node, gathered on one metadata object for Alembic and for tests."""

from sqlmodel import SQLModel

from consortium.auth import tokens  # noqa: F401  (registers its table)
from consortium.ledger import tables  # noqa: F401  (registers its tables)

metadata = SQLModel.metadata
