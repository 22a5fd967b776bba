"""Baseline schema (provisional: creates the models' tables; replaced by a frozen revision before release).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from alembic import op

from hutong.db import load_models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    load_models().create_all(op.get_bind())


def downgrade() -> None:
    load_models().drop_all(op.get_bind())
