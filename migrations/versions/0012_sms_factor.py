"""sms factor: sent codes know their channel (email, sms, sms_verify) and the job carrying
them; a member may mark one factor as preferred (the challenge opens with it)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_codes") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="email"))
        batch.add_column(sa.Column("delivery_job_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("second_factors") as batch:
        batch.add_column(sa.Column("preferred", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("second_factors") as batch:
        batch.drop_column("preferred")
    op.execute("DELETE FROM email_codes WHERE channel <> 'email'")
    with op.batch_alter_table("email_codes") as batch:
        batch.drop_column("delivery_job_id")
        batch.drop_column("channel")
