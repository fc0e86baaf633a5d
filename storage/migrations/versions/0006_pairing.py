"""peer pairing: rounds, their members, and a membership's team and opt-out

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('pairing_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_pairing_round_key')
    )
    with op.batch_alter_table('pairing_round', schema=None) as batch_op:
        batch_op.create_index('ix_pairing_round_circle', ['circle_id', 'created_at'], unique=False)

    op.create_table('pairing_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('circle_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('group_no', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('skip_reason', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['circle_id'], ['circle.id'], ),
    sa.ForeignKeyConstraint(['round_id'], ['pairing_round.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pairing_member', schema=None) as batch_op:
        batch_op.create_index('ix_pairing_member_circle', ['circle_id', 'round_id'], unique=False)
        batch_op.create_index('ix_pairing_member_person', ['team_id', 'user_id'], unique=False)
        batch_op.create_index('ix_pairing_member_round', ['round_id', 'group_no'], unique=False)

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team', sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column('pairing_opt_out', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('pairing_opt_out')
        batch_op.drop_column('team')

    with op.batch_alter_table('pairing_member', schema=None) as batch_op:
        batch_op.drop_index('ix_pairing_member_round')
        batch_op.drop_index('ix_pairing_member_person')
        batch_op.drop_index('ix_pairing_member_circle')

    op.drop_table('pairing_member')
    with op.batch_alter_table('pairing_round', schema=None) as batch_op:
        batch_op.drop_index('ix_pairing_round_circle')

    op.drop_table('pairing_round')
