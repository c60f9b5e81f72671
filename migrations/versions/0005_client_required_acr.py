"""a client's required acr on its record; the proven-factor step on the interaction

The level a client requires moves from the `security.client_required_acr` setting onto the
client (`idp clients update CLIENT_ID --require-acr ACR`); the "a weaker factor passed before
enrolling a stronger one" mark moves from the browser session onto the interaction.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_acr", sa.String(length=64), nullable=True))
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("factor_proven_method", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_column("factor_proven_method")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("required_acr")
