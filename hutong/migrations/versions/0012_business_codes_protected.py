"""individual-business codes stored protected: USCC columns wide enough for the protected form

The values themselves are re-protected at node start (``hutong.business_codes.reprotect``, run with the
migrations by ``open_node``): the key is in the node's HSM, which migrations do not open.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 14:12:00.039105
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

COLUMNS = (  # referring columns before the keys they refer to
    ('identity_org_grants', 'org_uscc', False),
    ('identity_orgs', 'uscc', False),
    ('identity_register_orgs', 'uscc', False),
    ('identity_sessions', 'org_uscc', True),
    ('oidc_codes', 'org_uscc', True),
    ('seals', 'org_uscc', False),
)


def upgrade() -> None:
    for table, column, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.VARCHAR(length=18), type_=sa.String(length=64),
                                  existing_nullable=nullable)


def downgrade() -> None:  # only meaningful before any 92-code was protected
    for table, column, nullable in reversed(COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=64), type_=sa.VARCHAR(length=18),
                                  existing_nullable=nullable)
