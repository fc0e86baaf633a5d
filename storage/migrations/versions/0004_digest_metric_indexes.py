"""indexes for the digest metrics

Each digest query reads one week's (or the trend's eight, or four weeks') rows of a circle.
These indexes start with circle_id and end with the column those weeks bound, so the cost of
a digest follows the week, not the circle's history (bench/digest.py, bot/digest/metrics.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('reflection', schema=None) as batch_op:
        # late answers: reflections written in the week
        batch_op.create_index('ix_reflection_circle_submitted', ['circle_id', 'submitted_at'], unique=False)

    with op.batch_alter_table('action_item', schema=None) as batch_op:
        # committed in the week / the 4-week window
        batch_op.create_index('ix_action_item_circle_created', ['circle_id', 'created_at'], unique=False)
        # done in the window (time-to-implement), and the open ones (overdue)
        batch_op.create_index('ix_action_item_circle_status_done', ['circle_id', 'status', 'done_at'], unique=False)
        # dropped since the week began: still open, so overdue, at the week's end
        batch_op.create_index('ix_action_item_circle_dropped', ['circle_id', 'dropped_at'], unique=False)

    with op.batch_alter_table('demo_day', schema=None) as batch_op:
        # demo days held in the week and the next one
        batch_op.create_index('ix_demo_day_circle_starts', ['circle_id', 'starts_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('demo_day', schema=None) as batch_op:
        batch_op.drop_index('ix_demo_day_circle_starts')

    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.drop_index('ix_action_item_circle_dropped')
        batch_op.drop_index('ix_action_item_circle_status_done')
        batch_op.drop_index('ix_action_item_circle_created')

    with op.batch_alter_table('reflection', schema=None) as batch_op:
        batch_op.drop_index('ix_reflection_circle_submitted')
