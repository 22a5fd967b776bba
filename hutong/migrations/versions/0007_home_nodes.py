"""home nodes of persons and organisations first seen through federation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 11:19:59.290041
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_home_nodes',
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('subject_index', sa.String(length=64), nullable=False),
    sa.Column('home_node', sa.String(length=100), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'subject_index', name=op.f('pk_identity_home_nodes'))
    )


def downgrade() -> None:
    op.drop_table('identity_home_nodes')
