"""Notifications: the inbox and review-alert projections, and the node-local read state,
sent mail and e-mail addresses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("since", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_recipient"), ["recipient"], unique=False)

    op.create_table(
        "notification_read",
        sa.Column("notification_id", sa.String(length=100), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    with op.batch_alter_table("notification_read", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_read_username"), ["username"], unique=False
        )

    op.create_table(
        "notification_sent",
        sa.Column("notification_id", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("sent_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_table(
        "review_alert",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("due", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "due", "kind"),
    )


def downgrade() -> None:
    op.drop_table("review_alert")
    op.drop_table("notification_sent")
    with op.batch_alter_table("notification_read", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_read_username"))

    op.drop_table("notification_read")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_recipient"))

    op.drop_table("notification")
    op.drop_table("contact")
