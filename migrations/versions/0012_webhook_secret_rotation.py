"""Webhook secrets can be rotated: the former secret keeps signing for a grace period.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('secret_rotated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('secret_rotated_at')
        batch_op.drop_column('previous_secret_until')
        batch_op.drop_column('previous_secret')
