"""Logbook checkpoints keep an RFC 3161 timestamp token.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 08:22:16

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('logbook_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tsa_token', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('logbook_checkpoints', schema=None) as batch_op:
        batch_op.drop_column('tsa_token')
