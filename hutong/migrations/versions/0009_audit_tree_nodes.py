"""audit log: stored perfect subtrees, so proofs read O(log n) rows instead of every leaf; a queue index

The integrator takes the oldest unsequenced events through a partial index on them
(``ix_audit_events_unsequenced``), not a scan past every sequenced one.

The integrator stores the root of every perfect subtree of 16 leaves and up that a batch completes
(``audit_tree_nodes``). An existing log gets them here, recomputed from its stored leaf hashes, so
proofs for its old checkpoints work at once. A log whose stored leaf hashes were damaged gets nodes
that do not match its signed checkpoints: its proofs answer AUDIT_LOG_INCONSISTENT, as before, and
``hutong audit verify`` names the first bad record.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 14:20:00
"""
import hashlib

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TILE_LEVEL = 4  # hutong.tlog.models.TILE_LEVEL when this revision was written
_BATCH = 5000


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _backfill(nodes: sa.Table) -> None:
    """Regrow the tree over the stored leaf hashes, keeping the perfect subtrees it completes."""
    bind = op.get_bind()
    events = sa.table("audit_events", sa.column("leaf_index", sa.BigInteger()), sa.column("leaf_hash", sa.String()))
    stack: list[bytes] = []
    size, after = 0, -1
    while True:
        rows = bind.execute(sa.select(events.c.leaf_index, events.c.leaf_hash)
                            .where(events.c.leaf_index > after).order_by(events.c.leaf_index).limit(_BATCH)).all()
        if not rows:
            return
        completed = []
        for r in rows:
            if r.leaf_index != size or not r.leaf_hash:
                return  # a gap or a missing hash: proofs from here on answer AUDIT_LOG_INCONSISTENT
            node, n, level = bytes.fromhex(r.leaf_hash), size, 0
            while n & 1:
                node = _node(stack.pop(), node)
                n >>= 1
                level += 1
                if level >= TILE_LEVEL:
                    completed.append({"level": level, "idx": n, "hash": node.hex()})
            stack.append(node)
            size += 1
        if completed:
            op.bulk_insert(nodes, completed)
        after = rows[-1].leaf_index


def upgrade() -> None:
    nodes = op.create_table('audit_tree_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_tree_nodes'))
    )
    _backfill(nodes)
    op.create_index('ix_audit_events_unsequenced', 'audit_events', ['seq'], unique=False,
                    postgresql_where=sa.text('leaf_index IS NULL'), sqlite_where=sa.text('leaf_index IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_audit_events_unsequenced', table_name='audit_events',
                  postgresql_where=sa.text('leaf_index IS NULL'), sqlite_where=sa.text('leaf_index IS NULL'))
    op.drop_table('audit_tree_nodes')
