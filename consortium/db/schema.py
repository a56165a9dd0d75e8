"""Every table of the node, gathered on one metadata object for Alembic and for tests."""

from sqlmodel import SQLModel

from consortium import projections  # noqa: F401  (registers every projection table)
from consortium.auth import throttle, tokens  # noqa: F401  (register their tables)
from consortium.disclosure import store  # noqa: F401  (registers its table)
from consortium.federation import nonces, witness  # noqa: F401  (register their tables)
from consortium.ledger import tables  # noqa: F401  (registers its tables)
from consortium.registry import sealed  # noqa: F401  (registers its table)

metadata = SQLModel.metadata
