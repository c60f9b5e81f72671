"""token lifecycle: refresh tokens, resource servers, client assertions, key publication

Refresh tokens (rotated, in families), the session and family of every access token, the
resource servers that introspect tokens, the jti of accepted client assertions, a client's
keys, audiences and token lifetime, and when a signing key starts signing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("session_sid", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=True),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("amr_json", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("family_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_refresh_tokens_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_refresh_tokens_token_digest")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_session_sid"), ["session_sid"], unique=False)

    op.create_table(
        "resource_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=False),
        sa.Column("introspection_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_servers")),
        sa.UniqueConstraint("audience", name=op.f("uq_resource_servers_audience")),
        sa.UniqueConstraint("introspection_id", name=op.f("uq_resource_servers_introspection_id")),
    )

    op.create_table(
        "client_assertion_jtis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_assertion_jtis")),
        sa.UniqueConstraint("client_id", "jti", name=op.f("uq_client_assertion_jtis_client_id")),
    )
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_assertion_jtis_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("issued_tokens", schema=None) as batch_op:
        batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("session_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("family_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("audience", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_issued_tokens_session_sid"), ["session_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_issued_tokens_family_id"), ["family_id"], unique=False)

    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource", sa.String(length=200), nullable=True))

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("jwks_uri", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("audiences_json", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("access_token_ttl_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("always_issue_refresh_token", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        # The defaults filled existing rows; new rows get theirs from the model.
        batch_op.alter_column("audiences_json", server_default=None)
        batch_op.alter_column("always_issue_refresh_token", server_default=None)

    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_column("sign_from")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("always_issue_refresh_token")
        batch_op.drop_column("access_token_ttl_seconds")
        batch_op.drop_column("audiences_json")
        batch_op.drop_column("jwks_uri")
        batch_op.drop_column("jwks_json")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_column("resource")
    op.execute("DELETE FROM issued_tokens WHERE member_id IS NULL")
    with op.batch_alter_table("issued_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_tokens_family_id"))
        batch_op.drop_index(batch_op.f("ix_issued_tokens_session_sid"))
        batch_op.drop_column("audience")
        batch_op.drop_column("family_id")
        batch_op.drop_column("session_sid")
        batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_assertion_jtis_expires_at"))
    op.drop_table("client_assertion_jtis")
    op.drop_table("resource_servers")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_sid"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_member_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_client_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_family_id"))
    op.drop_table("refresh_tokens")
