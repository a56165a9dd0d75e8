"""Disclosure (protocol version 2): people's pseudonyms and erased sealed documents.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A version-1 ledger is refused before this runs (`consortium.node.node`), so the person
    # table is empty or about to be rebuilt: every row gets its pseudonym from the ledger.
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("pseudonym", sa.String(length=16), nullable=False))
        batch.create_unique_constraint("uq_person_pseudonym", ["pseudonym"])
    op.create_table(
        "sealed_erasure",
        sa.Column("digest", sa.String(length=44), nullable=False),
        sa.Column("erased_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )


def downgrade() -> None:
    op.drop_table("sealed_erasure")
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint("uq_person_pseudonym", type_="unique")
        batch.drop_column("pseudonym")
