"""logout: clients' post-logout and back-channel URIs; which clients got tokens in which
sign-in session; the session and the `claims` request carried by codes and access tokens

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("post_logout_redirect_uris_json", sa.Text(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "backchannel_logout_session_required", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("issued_tokens", schema=None) as batch_op:
        # session_sid came with the token lifecycle (0007).
        batch_op.add_column(sa.Column("claims_json", sa.Text(), nullable=True))
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_json", sa.Text(), nullable=True))
    op.create_table(
        "session_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("first_issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_session_clients_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_clients")),
        sa.UniqueConstraint("sid", "client_id", name=op.f("uq_session_clients_sid")),
    )
    with op.batch_alter_table("session_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_clients_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_clients_member_id"))
    op.drop_table("session_clients")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("claims_json")
    with op.batch_alter_table("issued_tokens", schema=None) as batch_op:
        batch_op.drop_column("claims_json")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("backchannel_logout_session_required")
        batch_op.drop_column("backchannel_logout_uri")
        batch_op.drop_column("post_logout_redirect_uris_json")
