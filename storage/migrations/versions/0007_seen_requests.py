"""seen Slack requests: signatures already accepted, so a replay is refused

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('seen_request',
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('retry_num', sa.Integer(), nullable=False),
    sa.Column('request_ts', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('signature', 'retry_num')
    )
    with op.batch_alter_table('seen_request', schema=None) as batch_op:
        batch_op.create_index('ix_seen_request_ts', ['request_ts'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('seen_request', schema=None) as batch_op:
        batch_op.drop_index('ix_seen_request_ts')

    op.drop_table('seen_request')
