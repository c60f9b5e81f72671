"""outbound jobs: mail and deferred work, queued in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload_encrypted", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_jobs")),
    )
    with op.batch_alter_table("outbound_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_jobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_jobs_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_jobs_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_outbound_jobs_state"))
    op.drop_table("outbound_jobs")
