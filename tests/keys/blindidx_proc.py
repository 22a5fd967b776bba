"""Read every stored blind index of a node straight from its database and recompute it with the HSM, in a process
of its own (the node's token lives in its data directory: a clean environment opens it as the node does).

Usage: ``python -m tests.keys.blindidx_proc DATA_DIR``. Prints one JSON object: per column, how many indexes each
key made; the indexes that are not what the HSM's HMAC of their original gives under the key they name ("bad":
a source row's from its own original; a dependent's must equal some source row's index under the same key); the
re-indexing's progress rows, the audit actions of the rollover and who ran the re-indexing; the active key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import select, text

from hutong import pki, reindex, rekey
from hutong.audit import AuditRecord
from hutong.node import open_node


def _key_of(value: str, labels: list[str]) -> str:
    return next((label for label in labels if pki.made_by(value, label)), "unknown")


def main() -> None:
    node = open_node(Path(sys.argv[1]))
    by_column: dict[str, dict[str, int]] = {}
    bad: list[str] = []
    try:
        labels = [e.label for e in node.pki.registry.snapshot().of(pki.BLIND_INDEX)]
        recomputed: set[str] = set()  # every source row's index recomputed under the key its value names
        dependents: list[tuple[str, str]] = []
        with node.db.engine.connect() as conn:
            for col in reindex.columns():
                t = col.target
                cols = ", ".join(dict.fromkeys((t.key, t.column, *t.needs)))
                for row in conn.execute(text(f"SELECT {cols} FROM {t.table}")):
                    values = dict(row._mapping)
                    value = str(values[t.column])
                    label = _key_of(value, labels)
                    counts = by_column.setdefault(t.name, {})
                    counts[label] = counts.get(label, 0) + 1
                    if col.spec.recover is None:
                        if col.spec.via_sources:
                            dependents.append((f"{t.name} {values[t.key]}", value))
                        continue
                    original = col.spec.recover(node, values)
                    mac = node.keys.hmac_sha256(label, (original or "").encode(), required=True)
                    if original is None or pki.blind_index_value(label, mac) != value:
                        bad.append(f"{t.name} {values[t.key]}: not the HMAC of its original under {label}")
                    recomputed.add(value)
        # A dependent names a person or holder: its value is some source row's (registered here or a holder).
        orphans = [where for where, value in dependents if value not in recomputed]
        with node.db.session(readonly=True) as s:
            progress = {f"{p.key_label} {p.target}": p.rows_done for p in s.scalars(select(rekey.RekeyProgress))}
            records = [r for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
                       if r.action.startswith(("pki.reindex", "pki.rollover"))]
            actions = [r.action for r in records]
            reindex_actors = [r.actor for r in records if r.action.startswith("pki.reindex")]
        active = node.pki.label(pki.BLIND_INDEX)
    finally:
        node.close()
    print(json.dumps({"by_column": by_column, "bad": bad, "orphans": orphans, "progress": progress,
                      "actions": actions, "reindex_actors": reindex_actors, "active": active}))


if __name__ == "__main__":
    main()
