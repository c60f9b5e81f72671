"""a member's time zone for the times the pages show

`members.time_zone`: the zone a member chose on the profile page (Asia/Jakarta, Asia/Makassar
or Asia/Jayapura: WIB, WITA, WIT); empty for the configured default (`i18n.timezone`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
