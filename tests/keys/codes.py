"""Which data key made each stored individual-business code, read as raw rows and decided by the HSM's own
AES-GCM (each data key of the token tried in turn: the one whose tag checks made it), not by
``hutong.business_codes``: a code the re-encryption missed or garbled shows here whatever the node believes."""

from __future__ import annotations

import base64
import re

from sqlalchemy import text

from hsm.errors import HsmError
from hutong import business_codes, pki, rekey
from hutong.node import Node

_STORED = re.compile(r"~[A-Za-z0-9_-]{63}")
BAD = "(no data key decrypts it)"


def columns() -> list[tuple[str, str, str]]:
    """(table, primary key, column) of every column holding codes: the re-encryption's, and those following
    a primary key (foreign keys)."""
    found = [(t.table, t.key, t.column) for t in rekey.code_targets()]
    for t in rekey.code_targets():
        for table, column in t.children:
            found.append((table, "id", column))
    return found


def key_of(node: Node, stored: str) -> str:
    raw = base64.urlsafe_b64decode(stored[1:] + "=" * (-len(stored[1:]) % 4))
    blob = b"\x01" + raw[1:]  # the HSM's blob: its version byte where the stored value keeps the key's tag
    for key in node.keys.list_keys():
        if not key.label.startswith(pki.key_label(pki.DATA_KEY)):
            continue
        try:
            node.keys.decrypt(key.label, blob, aad=business_codes.AAD, required=True)
        except HsmError:
            continue
        return key.label
    return BAD


def stored_codes(node: Node) -> dict[str, dict[str, int]]:
    """table.column -> data key label -> how many stored codes it made."""
    found: dict[str, dict[str, int]] = {}
    with node.db.engine.connect() as conn:
        for table, _, column in columns():
            counts = found.setdefault(f"{table}.{column}", {})
            for (value,) in conn.execute(text(f"SELECT {column} FROM {table}")):
                for stored in _STORED.findall(value or ""):
                    label = key_of(node, stored)
                    counts[label] = counts.get(label, 0) + 1
    return found


def labels(found: dict[str, dict[str, int]]) -> set[str]:
    return {label for counts in found.values() for label in counts}
