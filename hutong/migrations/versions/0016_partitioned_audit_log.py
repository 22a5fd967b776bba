"""PostgreSQL: the audit log's events and leaves range-partitioned (declarative partitioning), data carried over;
the leaf table's ``seq`` an index instead of a unique key

Which tables, and on which key (docs/capacity-plan.md §4): the two tables that grow by a row per audited act are
``audit_events`` (``PARTITION BY RANGE (seq)``, the insertion number every event has from its insert on) and
``audit_leaves`` (``PARTITION BY RANGE (leaf_index)``, the log position, which is what proofs and ``audit verify``
read by). Ranges, not hashes: both keys only grow, so every insert goes to the newest partition, older ones stop
changing (vacuumed once, archivable as a whole) and a read by key is pruned to one partition. The stored subtrees
(``audit_tree_nodes``, a row per eight events) and the checkpoints stay plain: a proof reads subtrees from every
age of the tree, so no range would prune them.

Each table gets the ranges ``[0, SIZE)``, ``[SIZE, 2 SIZE)``, ... covering its rows and one empty range ahead,
and a DEFAULT partition so that an insert never fails; the node makes the next ranges ahead as the log grows
(``hutong.tlog.partitions``). ``SIZE`` is 1,000 M records; a test passes a small one through Alembic's
``config.attributes["audit_partition_size"]``.

A unique key of a partitioned table must contain its partition key, so ``audit_leaves.seq`` (an event is
sequenced once) cannot stay unique: it becomes a plain index (on SQLite too, so that one model describes both),
and that an event has one leaf rests on the single sequencer (``hutong.tlog.integrator``: one batch at a time,
under the log's lock, in strictly increasing queue order), as it already did in practice.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 00:05:00.000000
"""
from alembic import context, op

from hutong.migrations.partitioning import Layout, rebuild

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

SIZE = 1_000_000_000
# table -> (partition key, keys and indexes)
TABLES = {
    'audit_events': ('seq', Layout('seq', indexes=[('ix_audit_events_queue', 'txid, seq')])),
    'audit_leaves': ('leaf_index', Layout('leaf_index', indexes=[('ix_audit_leaves_seq', 'seq')])),
}


def upgrade() -> None:
    with op.batch_alter_table('audit_leaves', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_leaves_seq', type_='unique')
        batch_op.create_index('ix_audit_leaves_seq', ['seq'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        size = int(context.config.attributes.get('audit_partition_size', SIZE))
        for table, (key, layout) in TABLES.items():
            high = op.get_bind().exec_driver_sql(f'SELECT coalesce(max({key}), 0) FROM {table}').scalar_one()
            ranges = [(f'{table}_p{lower}', f'FOR VALUES FROM ({lower}) TO ({lower + size})')
                      for lower in range(0, (int(high) // size + 2) * size, size)]
            rebuild(table, layout, partition_by=f'RANGE ({key})', partitions=[*ranges, (f'{table}_default', 'DEFAULT')])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, (_, layout) in TABLES.items():
            rebuild(table, layout, partition_by=None)
    with op.batch_alter_table('audit_leaves', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_leaves_seq')
        batch_op.create_unique_constraint('uq_audit_leaves_seq', ['seq'])
