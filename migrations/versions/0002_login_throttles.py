"""login throttles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:12:29.077710
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('login_throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hourly_attempts', sa.Integer(), nullable=False),
    sa.Column('hour_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lock_count', sa.Integer(), nullable=False),
    sa.Column('permanently_locked', sa.Boolean(), nullable=False),
    sa.Column('lock_reason', sa.Text(), nullable=True),
    sa.Column('locked_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_login_throttles_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttles')),
    sa.UniqueConstraint('subject_key', 'kind', name=op.f('uq_login_throttles_subject_key'))
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_locked_until'), ['locked_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_throttles_member_id'), ['member_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_member_id'))
        batch_op.drop_index(batch_op.f('ix_login_throttles_locked_until'))

    op.drop_table('login_throttles')

