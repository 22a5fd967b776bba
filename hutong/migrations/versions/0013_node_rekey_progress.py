"""data-protection key rollover: the re-encryption's progress per column (resumable after a crash)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 17:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('node_rekey_progress',
    sa.Column('key_label', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=120), nullable=False),
    sa.Column('last_key', sa.String(length=200), nullable=True),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_label', 'target', name=op.f('pk_node_rekey_progress'))
    )


def downgrade() -> None:
    op.drop_table('node_rekey_progress')
