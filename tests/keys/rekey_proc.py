"""Read every protected record of a node straight from its database and decrypt it with the HSM, in a process of
its own (the node's token lives in its data directory: a clean environment opens it as the node does).

Usage: ``python -m tests.keys.rekey_proc DATA_DIR``. Prints one JSON object: how many blobs each data key made,
the records that did not decrypt under the key they name ("bad"), which key made each stored individual-business
code ("codes", per column: ``tests.keys.codes``), the re-encryption's progress rows and the audit actions of the
rollover.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import select, text

from hsm.errors import HsmError
from hutong import rekey
from hutong.audit import AuditRecord
from hutong.node import open_node
from tests.keys import codes


def main() -> None:
    node = open_node(Path(sys.argv[1]))
    by_label: dict[str, int] = {}
    bad: list[str] = []
    try:
        with node.db.engine.connect() as conn:
            for t in rekey.targets():
                cols = ", ".join(dict.fromkeys((t.key, t.column, *t.needs)))
                for row in conn.execute(text(f"SELECT {cols} FROM {t.table}")):
                    values = dict(row._mapping)
                    blob = t.decode(values[t.column])
                    if blob is None:
                        continue
                    label, inner = node.pki.data_key_of(blob)
                    by_label[label] = by_label.get(label, 0) + 1
                    try:  # the HSM's own AES-GCM under the key the blob names: a wrong tag fails here
                        node.keys.decrypt(label, inner, aad=t.aad(values), required=True)
                    except HsmError as err:
                        bad.append(f"{t.name} {values[t.key]}: {err.reason}")
        with node.db.session(readonly=True) as s:
            progress = {f"{p.key_label} {p.target}": p.rows_done for p in s.scalars(select(rekey.RekeyProgress))}
            records = [r for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
                       if r.action.startswith(("pki.rekey", "pki.rollover"))]
            actions = [r.action for r in records]
            rekey_actors = [r.actor for r in records if r.action.startswith("pki.rekey")]
        active = node.pki.label("data-key")
        stored_codes = codes.stored_codes(node)
    finally:
        node.close()
    print(json.dumps({"by_label": by_label, "bad": bad, "progress": progress, "actions": actions,
                      "active": active, "codes": stored_codes,
                      "rekey_actors": rekey_actors}))


if __name__ == "__main__":
    main()
