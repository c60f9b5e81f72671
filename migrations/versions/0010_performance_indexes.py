"""performance indexes: the nonce check at the authorization endpoint

The authorization endpoint asks whether a client already used a nonce (OpenID Connect Core
§3.1.2.1, replay of an ID token); with only the client_id index that read every code the
client was ever issued. The index on (client_id, nonce) answers it in one lookup, and also
serves every query by client_id alone, so the single-column index goes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.create_index("ix_authorization_codes_client_id_nonce", ["client_id", "nonce"], unique=False)
        batch_op.drop_index(batch_op.f("ix_authorization_codes_client_id"))


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authorization_codes_client_id"), ["client_id"], unique=False)
        batch_op.drop_index("ix_authorization_codes_client_id_nonce")
