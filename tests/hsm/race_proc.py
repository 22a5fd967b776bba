"""Processes for test_hsm_multiprocess: other processes using one SoftHSM2 token while the test generates keys.

Spawned (not forked), so each loads the module and reads the token store on its own, as a node's workers and an
officer's CLI do. Each runs until ``stop`` is set and puts its counts of outcomes on ``out``.
"""

from __future__ import annotations

import collections
from typing import Any

from PyKCS11 import LowLevel as L

from hsm import HsmConfig, KeyManager


def reader(config: HsmConfig, how: str, stop: Any, ready: Any, out: Any) -> None:
    """Use the token the way ``how`` says until ``stop``: "node" (a worker: sign, read its key, the readiness
    search) or "attributes" (read the label of every private key, as a generic listing tool does)."""
    counts: collections.Counter[str] = collections.Counter()
    km = KeyManager(config)
    signer = km.signer("steady")
    ready.release()
    while not stop.is_set():
        try:
            if how == "node":
                signer.sign(b"load")
                km.get_key("steady", required=True)
                assert km.labels_present([("private", "steady")], required=True) == {("private", "steady")}
            else:
                km._call("reading every label", lambda s: [
                    s.getAttributeValue(h, [L.CKA_LABEL]) for h in s.findObjects([(L.CKA_CLASS, L.CKO_PRIVATE_KEY)])])
            counts["ok"] += 1
        except Exception as exc:  # counted, reported to the test
            counts[type(exc).__name__ + ": " + str(exc)[:160]] += 1
    km.close()
    out.put(dict(counts))


def private_keys(config: HsmConfig, out: Any) -> None:
    """(label, id hex, sensitive, extractable) of every private key, as a newly started process reads them."""
    km = KeyManager(config)

    def run(s: Any) -> list[tuple[str, str, bool, bool]]:
        rows = []
        for h in s.findObjects([(L.CKA_CLASS, L.CKO_PRIVATE_KEY)]):
            label, key_id, sens, extr = s.getAttributeValue(h, [L.CKA_LABEL, L.CKA_ID, L.CKA_SENSITIVE,
                                                                L.CKA_EXTRACTABLE])
            rows.append((label or "", bytes(key_id or b"").hex(), bool(sens), bool(extr)))
        return rows

    out.put(km._call("listing private keys", run))
    km.close()
