"""audit log: the log's order in a table of its own; event rows are written once, never updated

Sequencing used to update each event row (its leaf index and leaf hash): a second version of every
audited act's record, its dead twin to vacuum, and index entries made twice. Now the integrator inserts
(leaf index, event, leaf hash) rows into ``audit_leaves`` and the events table is insert-only.

The integrator's queue becomes the events after the last one sequenced in ``(txid, seq)`` order, ``txid``
being the writing transaction (on PostgreSQL its transaction id, stamped by the database; on SQLite a
constant): why nothing committed out of order is skipped is in ``hutong.tlog.integrator``. Each checkpoint
records where the queue resumes. Existing data is carried over as it stands: sequenced events keep their
leaf (txid 0), waiting ones queue in insertion order after them (txid 1, below any PostgreSQL
transaction id), and each checkpoint resumes after the newest event it covers.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 17:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# The top-level transaction id of the writer (assigned by the act's first write, or here).
TXID_PG = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
_UNSEQUENCED = sa.text('leaf_index IS NULL')


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    op.create_table('audit_leaves',
    sa.Column('leaf_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_audit_leaves')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_leaves_seq'))
    )
    op.execute("INSERT INTO audit_leaves (leaf_index, seq, leaf_hash) SELECT leaf_index, seq, leaf_hash "
               "FROM audit_events WHERE leaf_index IS NOT NULL AND leaf_hash IS NOT NULL")
    op.add_column('audit_events', sa.Column('txid', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
    op.execute("UPDATE audit_events SET txid = 1 WHERE leaf_index IS NULL")
    op.add_column('audit_checkpoints', sa.Column('last_txid', sa.BigInteger(), nullable=False,
                                                 server_default=sa.text('0')))
    op.add_column('audit_checkpoints', sa.Column('last_seq', sa.BigInteger(), nullable=False,
                                                 server_default=sa.text('0')))
    op.execute("UPDATE audit_checkpoints SET last_seq = COALESCE((SELECT max(e.seq) FROM audit_events e "
               "WHERE e.leaf_index < audit_checkpoints.tree_size), 0)")
    with op.batch_alter_table('audit_checkpoints') as batch_op:
        batch_op.alter_column('last_txid', server_default=None)
        batch_op.alter_column('last_seq', server_default=None)

    op.drop_index('ix_audit_events_unsequenced', table_name='audit_events',
                  postgresql_where=_UNSEQUENCED, sqlite_where=_UNSEQUENCED)
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.drop_constraint('uq_audit_events_leaf_index', type_='unique')
        batch_op.drop_column('leaf_index')
        batch_op.drop_column('leaf_hash')
        batch_op.alter_column('txid', server_default=sa.text(TXID_PG if pg else '1'))
        batch_op.create_index('ix_audit_events_queue', ['txid', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_events_queue', table_name='audit_events')
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.add_column(sa.Column('leaf_index', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('leaf_hash', sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_events SET leaf_index = (SELECT l.leaf_index FROM audit_leaves l WHERE l.seq = "
               "audit_events.seq), leaf_hash = (SELECT l.leaf_hash FROM audit_leaves l WHERE l.seq = audit_events.seq)")
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.drop_column('txid')
        batch_op.create_unique_constraint('uq_audit_events_leaf_index', ['leaf_index'])
    op.create_index('ix_audit_events_unsequenced', 'audit_events', ['seq'], unique=False,
                    postgresql_where=_UNSEQUENCED, sqlite_where=_UNSEQUENCED)
    with op.batch_alter_table('audit_checkpoints') as batch_op:
        batch_op.drop_column('last_seq')
        batch_op.drop_column('last_txid')
    op.drop_table('audit_leaves')
