"""PostgreSQL: certificates and the access log hash-partitioned (declarative partitioning), data carried over;
the status slot's uniqueness moves from a unique key to the status list's row lock

Why hash, and on which key (docs/capacity-plan.md): every read of a certificate is by its identifier, and every
read of the access log is a holder's history (by the holder's blind index), so each table is partitioned by
HASH of that key: the planner prunes a lookup to one partition, whose indexes stay 1/16 of the table's, and
no partition is "hot" (identifiers and blind indexes are uniformly spread, unlike dates). A unique key of a
partitioned table must contain its partition key, so ``(status_list_id, status_index)`` is now a plain index
and ``cert_svc.statuslist.assign`` takes the list's row lock before it picks free indexes.

SQLite (the embedded default): plain tables; only the unique key becomes the index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 18:30:00.000000
"""
from alembic import op

from hutong.migrations.partitioning import Layout, rebuild

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

PARTITIONS = 16
# table -> (partition key, primary key columns, foreign keys (name, columns, referred table and columns), indexes)
TABLES = {
    'certificates': ('identifier', 'identifier', [
        ('fk_certificates_issuer_uscc_cert_issuers', 'issuer_uscc', 'cert_issuers (uscc)'),
        ('fk_certificates_status_list_id_cert_status_lists', 'status_list_id', 'cert_status_lists (list_id)'),
        ('fk_certificates_type_code_cert_types', 'type_code', 'cert_types (code)'),
    ], [
        ('ix_certificates_holder_index', 'holder_index'), ('ix_certificates_issuer_uscc', 'issuer_uscc'),
        ('ix_certificates_series', 'series'), ('ix_certificates_status_slot', 'status_list_id, status_index'),
    ]),
    # the log's own id is unique by its sequence; the key must also hold the partition key
    'cert_access_log': ('holder_index', 'id, holder_index', [], [('ix_cert_access_log_holder_index', 'holder_index')]),
}


def upgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_constraint('uq_certificates_status_list_id', type_='unique')
        batch_op.create_index('ix_certificates_status_slot', ['status_list_id', 'status_index'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            _rebuild(table, partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            _rebuild(table, partitioned=False)
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_status_slot')
        batch_op.create_unique_constraint('uq_certificates_status_list_id', ['status_list_id', 'status_index'])


def _rebuild(table: str, *, partitioned: bool) -> None:
    """``table`` rebuilt (partitioned by hash of its key, or plain again) with its rows, keys and indexes."""
    key, primary, foreign, indexes = TABLES[table]
    rebuild(table, Layout(primary if partitioned else primary.split(",")[0], foreign, indexes),
            partition_by=f"HASH ({key})" if partitioned else None,
            partitions=[(f"{table}_p{i:02d}", f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {i})")
                        for i in range(PARTITIONS)] if partitioned else [])
