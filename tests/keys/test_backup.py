"""``hutong node backup`` while the node serves under load, ``node restore`` into another directory (the
original never touched, the copy using its own token), ``node verify``; the restored node serves and verifies
what was made before."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.pdfgen import make_pdf
from hutong.common.v1 import common_pb2
from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong
from tests.clients.sdk_world import LI, PASSWORD
from tests.keys.conftest import Served, build_node, hutong
from tests.keys.test_rollover_under_load import PLACE, _prepare_seal


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.timeout(1200)
def test_backup_under_load_restore_elsewhere_verify(tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    original = tmp_path / "node"
    secrets = build_node(original)
    served = served_factory(original)
    served.secrets = secrets
    portal = Hutong(served.target, client_id="portal", client_secret=secrets["portal_secret"])
    seal_id = _prepare_seal(served)
    sealed = io.BytesIO()
    portal.seal.sign(make_pdf(pages=1), sealed, seal_id, placement=PLACE, level=seal_pb2.PADES_LEVEL_B_T)
    regulator = Hutong(served.target, client_id="amr-platform", client_secret=secrets["regulator_secret"])
    licence = regulator.cert.get(secrets["certificate_id"]).jws

    stop, failures, logins = threading.Event(), [], [0]

    def load() -> None:  # logins write sessions and audit records all through the backup
        with Hutong(served.target, client_id="portal", client_secret=secrets["portal_secret"]) as h:
            for _ in range(300):
                if stop.is_set():
                    return
                try:
                    h.identity.login(LI, PASSWORD)
                    logins[0] += 1
                except Exception as exc:  # noqa: BLE001
                    failures.append(repr(exc))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        backup = tmp_path / "backup"
        out = hutong("node", "backup", "--data-dir", str(original), str(backup), "--include-secrets")
        assert "sqlite database" in out.stdout
    finally:
        stop.set()
        worker.join(timeout=120)
    assert failures == [] and logins[0] > 0
    served.stop()

    refused = hutong("node", "backup", "--data-dir", str(original), str(backup), check=False)
    assert refused.returncode == 2 and "DIRECTORY_NOT_EMPTY" in refused.stderr

    restored = tmp_path / "elsewhere" / "node"
    hutong("node", "restore", str(backup), "--data-dir", str(restored))
    assert str(original) not in (restored / "softhsm" / "softhsm2.conf").read_text()
    check = hutong("node", "verify", "--data-dir", str(restored))
    assert "audit log intact" in check.stdout and "PROBLEM" not in check.stdout

    # The restored node writes into its own token: a key made there does not appear in the original.
    hutong("hsm", "keygen", "--data-dir", str(restored), "--label", "probe-after-restore")
    assert "probe-after-restore" in hutong("hsm", "list", "--data-dir", str(restored)).stdout
    assert "probe-after-restore" not in hutong("hsm", "list", "--data-dir", str(original)).stdout
    before = _hashes(original)  # (listing the original's keys is audited there: hashes from now on)

    copy = served_factory(restored)
    with Hutong(copy.target, client_id="portal", client_secret=secrets["portal_secret"]) as h:
        tokens = h.identity.login(LI, PASSWORD)
        h.identity.verify(tokens.id_token)
        assert h.seal.verify(sealed.getvalue()).verdict == common_pb2.VERDICT_VALID  # made before the backup
        assert h.cert.verify(jws_token=licence).verdict == common_pb2.VERDICT_VALID
        out2 = io.BytesIO()
        h.seal.sign(make_pdf(pages=1), out2, seal_id, placement=PLACE, level=seal_pb2.PADES_LEVEL_B_T)
        assert h.seal.verify(out2.getvalue()).verdict == common_pb2.VERDICT_VALID
    copy.stop()
    hutong("hsm", "keygen", "--data-dir", str(restored), "--label", "second-probe")
    assert _hashes(original) == before  # the original was never touched (token, database, configuration)
    portal.close()
    regulator.close()

    # verify names what is wrong: the database names a key the token does not hold
    damaged = tmp_path / "damaged"
    hutong("node", "restore", str(backup), "--data-dir", str(damaged))
    with sqlite3.connect(damaged / "hutong.db") as db:
        db.execute("UPDATE node_keys SET label = 'node.seal-ca.elsewhere' WHERE label = 'node.seal-ca'")
    bad = hutong("node", "verify", "--data-dir", str(damaged), check=False)
    assert bad.returncode == 1 and "PROBLEM: active seal-ca key node.seal-ca.elsewhere is not on the token" \
        in bad.stdout
