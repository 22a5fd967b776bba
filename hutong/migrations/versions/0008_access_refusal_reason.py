"""access log keeps the reason a read was refused (rows refused before this have an empty reason)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 14:02:32.365159
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cert_access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('cert_access_log', schema=None) as batch_op:
        batch_op.drop_column('reason')
