"""audit log: no index on the event's action

No query of the node looks events up by action, yet every audited act paid for the index twice: once
when the event is inserted and once when the integrator numbers it (that update moves the row, so
every index of the table gets a new entry). Operators' ad-hoc queries by action scan instead.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 15:25:00
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_audit_events_action', table_name='audit_events')


def downgrade() -> None:
    op.create_index('ix_audit_events_action', 'audit_events', ['action'], unique=False)
