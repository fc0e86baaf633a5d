"""reflections and action items

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('reflection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('prompt_set', sa.String(length=40), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('named', sa.Boolean(), nullable=False),
    sa.Column('peer_user_id', sa.String(length=32), nullable=True),
    sa.Column('view_id', sa.String(length=64), nullable=True),
    sa.Column('submitted_at', UTCDateTime(), nullable=False),
    sa.Column('edited_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id', name='uq_reflection_delivery')
    )
    with op.batch_alter_table('reflection', schema=None) as batch_op:
        batch_op.create_index('ix_reflection_author', ['team_id', 'user_id', 'submitted_at'], unique=False)
        batch_op.create_index('ix_reflection_circle_week', ['circle_id', 'week_start'], unique=False)

    op.create_table('action_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=True),
    sa.Column('question_id', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('done_at', UTCDateTime(), nullable=True),
    sa.Column('dropped_at', UTCDateTime(), nullable=True),
    sa.Column('last_checked_at', UTCDateTime(), nullable=True),
    sa.Column('not_yet_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflection.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reflection_id', 'question_id', name='uq_action_item_source')
    )
    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.create_index('ix_action_item_circle_due', ['circle_id', 'due_date'], unique=False)
        batch_op.create_index('ix_action_item_owner', ['team_id', 'user_id', 'status'], unique=False)

    op.create_table('reflection_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('reflection_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['reflection_id'], ['reflection.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reflection_id', 'question_id', name='uq_reflection_answer')
    )
    with op.batch_alter_table('reflection_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reflection_answer_reflection_id'), ['reflection_id'], unique=False)

    with op.batch_alter_table('circle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompt_set', sa.String(length=40), server_default='default', nullable=False))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('circle', schema=None) as batch_op:
        batch_op.drop_column('prompt_set')

    with op.batch_alter_table('reflection_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reflection_answer_reflection_id'))

    op.drop_table('reflection_answer')
    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.drop_index('ix_action_item_owner')
        batch_op.drop_index('ix_action_item_circle_due')

    op.drop_table('action_item')
    with op.batch_alter_table('reflection', schema=None) as batch_op:
        batch_op.drop_index('ix_reflection_circle_week')
        batch_op.drop_index('ix_reflection_author')

    op.drop_table('reflection')
