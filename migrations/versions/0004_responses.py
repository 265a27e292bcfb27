"""Responses to filings (drafts, signing, issued).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 08:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filing_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('sense', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('draft_key', sa.String(length=300), nullable=False),
    sa.Column('draft_sha256', sa.String(length=64), nullable=False),
    sa.Column('draft_version', sa.String(length=200), nullable=True),
    sa.Column('signed_key', sa.String(length=300), nullable=True),
    sa.Column('signed_sha256', sa.String(length=64), nullable=True),
    sa.Column('signed_version', sa.String(length=200), nullable=True),
    sa.Column('signed_size', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_responses_author_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_responses_department_id_departments')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_responses_filing_id_filings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_filing_id'), ['filing_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_issued_at'), ['issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_signed_sha256'), ['signed_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_status'), ['status'], unique=False)


def downgrade():
    op.drop_table('responses')
