"""Access requests and their decisions, grants, outputs, incidents, and consent
withdrawal on datasets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_decision",
        sa.Column("entry_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entry_index"),
    )
    with op.batch_alter_table("access_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_decision_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "access_grant",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.String(length=32), nullable=False),
        sa.Column("ended_at", sa.String(length=32), nullable=True),
        sa.Column("end_reason", sa.String(length=2000), nullable=True),
        sa.Column("review_reason", sa.String(length=2000), nullable=True),
        sa.Column("deletion_attested_at", sa.String(length=32), nullable=True),
        sa.Column("publication_reminded_at", sa.String(length=32), nullable=True),
        sa.Column("deletion_reminded_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_grant_holder"), ["holder"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_grant_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "access_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("researcher", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("project_title", sa.String(length=300), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("manual_review", sa.Boolean(), nullable=False),
        sa.Column("second_approval", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", sa.String(length=32), nullable=False),
        sa.Column("review_due", sa.String(length=10), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.String(length=32), nullable=True),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_request_researcher"), ["researcher"], unique=False
        )

    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("grants", sa.JSON(), nullable=False),
        sa.Column("suspended", sa.JSON(), nullable=False),
        sa.Column("reported_by", sa.String(length=128), nullable=False),
        sa.Column("reported_at", sa.String(length=32), nullable=False),
        sa.Column("closed_at", sa.String(length=32), nullable=True),
        sa.Column("resolution", sa.String(length=4000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "output",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("reported_by", sa.String(length=128), nullable=False),
        sa.Column("reported_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("output", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_output_grant_id"), ["grant_id"], unique=False)

    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_withdrawn_at", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_column("consent_withdrawn_at")

    with op.batch_alter_table("output", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_output_grant_id"))

    op.drop_table("output")
    op.drop_table("incident")
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_request_researcher"))

    op.drop_table("access_request")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_request_id"))
        batch_op.drop_index(batch_op.f("ix_access_grant_holder"))

    op.drop_table("access_grant")
    with op.batch_alter_table("access_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_decision_request_id"))

    op.drop_table("access_decision")
