"""The registry's projections (people, members, settings, datasets, contracts, benefit
rules), the node-local credential and sealed-document tables, and token role scopes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benefit_rules",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=44), nullable=False),
        sa.Column("proposed_by", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", sa.String(length=32), nullable=False),
        sa.Column("accepted_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "benefit_rules_signature",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("member", sa.String(length=255), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("version", "member"),
    )
    op.create_table(
        "contract",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=44), nullable=True),
        sa.Column("term_end", sa.String(length=10), nullable=False),
        sa.Column("drafted_by", sa.String(length=128), nullable=False),
        sa.Column("drafted_at", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("end_reason", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", "version"),
    )
    op.create_table(
        "contract_signature",
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("party", sa.String(length=255), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "version", "party"),
    )
    op.create_table(
        "countersignature",
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=44), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("signed_by", sa.String(length=128), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("document_type", "ref", "version"),
    )
    op.create_table(
        "credential",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "dataset",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("sensitivity", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("publisher", sa.String(length=255), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("registered_at", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("withdrawn_reason", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dataset_profile",
        sa.Column("entry_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.String(length=44), nullable=True),
        sa.Column("attested_by", sa.String(length=128), nullable=False),
        sa.Column("attested_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("entry_index"),
    )
    with op.batch_alter_table("dataset_profile", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_profile_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "dataset_version",
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.String(length=44), nullable=True),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.Column("registered_at", sa.String(length=32), nullable=False),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("dataset_id", "version"),
    )
    op.create_table(
        "member",
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=44), nullable=False),
        sa.Column("vkey", sa.String(length=400), nullable=False),
        sa.Column("is_self", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("origin"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "person",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "sealed_document",
        sa.Column("digest", sa.String(length=44), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "setting",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roles", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("roles")

    op.drop_table("setting")
    op.drop_table("sealed_document")
    op.drop_table("person")
    op.drop_table("member")
    op.drop_table("dataset_version")
    with op.batch_alter_table("dataset_profile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_profile_dataset_id"))

    op.drop_table("dataset_profile")
    op.drop_table("dataset")
    op.drop_table("credential")
    op.drop_table("countersignature")
    op.drop_table("contract_signature")
    op.drop_table("contract")
    op.drop_table("benefit_rules_signature")
    op.drop_table("benefit_rules")
