"""audit log as a Merkle transparency log: events, checkpoints, log keys, cosigned checkpoints

The linear hash chain (``audit_log``) is verified and every record carried into ``audit_events``
with its insertion number and its chain hash (``legacy_hash``, committed in its future leaf). The
records stay unsequenced: the integrator numbers them first, in their old order (leaf = seq - 1),
and signs the first checkpoint. The chain's verdict is itself recorded as the first new event, so
a chain found broken is carried over whole and the break is on the record, not hidden.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:01:56.880709
"""
import hashlib
import json
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

GENESIS = "0" * 64


def _chain_hash(prev: str, row: sa.Row) -> str:  # the linear chain's record hash, as it was computed
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    body = {"seq": row.seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "actor": row.actor,
            "action": row.action, "target": row.target, "outcome": row.outcome, "details": row.details}
    return hashlib.sha256(prev.encode() + json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                     ensure_ascii=False).encode()).hexdigest()


def _carry_chain(events: sa.Table) -> None:
    """Verify the old chain and copy every record; then record the verdict as an event."""
    bind = op.get_bind()
    old = sa.table("audit_log", sa.column("seq", sa.BigInteger()), sa.column("at", sa.DateTime(timezone=True)),
                   *(sa.column(c, sa.Text()) for c in
                     ("actor", "action", "target", "outcome", "details", "prev_hash", "hash")))
    prev, expected, broken, count = GENESIS, 1, None, 0
    last_seq = 0
    result = bind.execute(sa.select(old).order_by(old.c.seq)).all()
    rows = []
    for r in result:
        count += 1
        if broken is None:
            if r.seq != expected:
                broken = f"record {expected} is missing (next is {r.seq})"
            elif r.prev_hash != prev or _chain_hash(prev, r) != r.hash:
                broken = f"record {r.seq} does not verify"
        prev, expected, last_seq = r.hash, r.seq + 1, r.seq
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
        rows.append({"seq": r.seq, "at": at, "actor": r.actor, "action": r.action, "target": r.target,
                     "outcome": r.outcome, "details": r.details, "legacy_hash": r.hash})
    if not rows:
        return  # a new node: nothing to carry
    op.bulk_insert(events, rows)
    details = {"records": count, "chain_head": prev, "verdict": broken or "chain intact"}
    op.bulk_insert(events, [{"seq": last_seq + 1, "at": datetime.now(UTC), "actor": "node",
                             "action": "audit.migrate-linear-chain", "target": "audit_log",
                             "outcome": "ok" if broken is None else "chain-broken",
                             "details": json.dumps(details, sort_keys=True)}])
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), :n)"), {"n": last_seq + 1})


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('frontier', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_cosigned',
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('origin', 'tree_size', name=op.f('pk_audit_cosigned'))
    )
    events = op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('leaf_index', sa.BigInteger(), nullable=True),
    sa.Column('leaf_hash', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('legacy_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('leaf_index', name=op.f('uq_audit_events_leaf_index'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)

    op.create_table('audit_log_keys',
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('vkey', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_audit_log_keys'))
    )
    _carry_chain(events)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')


def downgrade() -> None:
    # The Merkle log's records are not carried back into a chain: downgrading drops the new log.
    op.create_table('audit_log',
    sa.Column('seq', sa.BIGINT(), nullable=False),
    sa.Column('at', sa.DATETIME(), nullable=False),
    sa.Column('actor', sa.VARCHAR(length=200), nullable=False),
    sa.Column('action', sa.VARCHAR(length=100), nullable=False),
    sa.Column('target', sa.VARCHAR(length=300), nullable=False),
    sa.Column('outcome', sa.VARCHAR(length=40), nullable=False),
    sa.Column('details', sa.TEXT(), nullable=False),
    sa.Column('prev_hash', sa.VARCHAR(length=64), nullable=False),
    sa.Column('hash', sa.VARCHAR(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)

    op.drop_table('audit_log_keys')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    op.drop_table('audit_cosigned')
    op.drop_table('audit_checkpoints')
