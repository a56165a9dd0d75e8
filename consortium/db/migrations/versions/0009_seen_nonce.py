"""Node-to-node requests: the nonces of member nodes' signed requests already answered.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_nonce",
        sa.Column("keyid", sa.String(length=255), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("keyid", "nonce"),
    )
    with op.batch_alter_table("seen_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_nonce_expires"), ["expires"], unique=False)


def downgrade() -> None:
    op.drop_table("seen_nonce")
