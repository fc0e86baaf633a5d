"""rhythm: schedules, skips, demo days, deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('local_date', sa.Date(), nullable=True),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.Column('error', sa.String(length=64), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.Column('skipped_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_delivery_key')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_circle_due', ['circle_id', 'due_at'], unique=False)
        batch_op.create_index('ix_delivery_status_due', ['status', 'due_at'], unique=False)

    op.create_table('demo_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('reminder_offsets', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('cancelled_at', UTCDateTime(), nullable=True),
    sa.Column('cancelled_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('demo_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demo_day_circle_id'), ['circle_id'], unique=False)

    op.create_table('schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('at_minute', sa.Integer(), nullable=False),
    sa.Column('interval_weeks', sa.Integer(), nullable=False),
    sa.Column('anchor', sa.Date(), nullable=False),
    sa.Column('pinned_tz', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('removed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_circle_id'), ['circle_id'], unique=False)

    op.create_table('skip_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('circle_id', 'day', name='uq_skip_day')
    )
    with op.batch_alter_table('skip_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_skip_day_circle_id'), ['circle_id'], unique=False)

    op.create_table('demo_signup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('demo_day_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=150), nullable=False),
    sa.Column('what_tried', sa.String(length=300), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['demo_day_id'], ['demo_day.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('demo_day_id', 'user_id', name='uq_demo_signup')
    )
    with op.batch_alter_table('demo_signup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demo_signup_demo_day_id'), ['demo_day_id'], unique=False)

    with op.batch_alter_table('circle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('paused_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('nudge_after_minutes', sa.Integer(), server_default='1440', nullable=True))
        batch_op.add_column(sa.Column('tz', sa.String(length=64), nullable=True))

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('away_until', sa.Date(), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('away_until')

    with op.batch_alter_table('circle', schema=None) as batch_op:
        batch_op.drop_column('tz')
        batch_op.drop_column('nudge_after_minutes')
        batch_op.drop_column('paused_until')
        batch_op.drop_column('paused_at')

    with op.batch_alter_table('demo_signup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demo_signup_demo_day_id'))

    op.drop_table('demo_signup')
    with op.batch_alter_table('skip_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_skip_day_circle_id'))

    op.drop_table('skip_day')
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_circle_id'))

    op.drop_table('schedule')
    with op.batch_alter_table('demo_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demo_day_circle_id'))

    op.drop_table('demo_day')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_status_due')
        batch_op.drop_index('ix_delivery_circle_due')

    op.drop_table('delivery')
