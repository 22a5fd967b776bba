"""A worker keeps the CRLs it read (``seal_svc.crl.current_crl``) only while the database row says they are still
the current ones: a revocation by another worker, or a CRL another worker re-issued, shows at the next verification.

"Another worker" is a second node object on the same data directory and token (its own database connections and
its own held CRLs), as ``serve --workers 2`` runs two processes on one node."""

from __future__ import annotations

from typing import Any

from bench.pdfgen import make_pdf
from hutong import pki
from hutong.node import open_node
from hutong.verify.pdf import Revocation, Verdict, verify_pdf
from hutong.wiring import wire
from seal_svc.crl import current_crl
from seal_svc.sealing import PadesLevel, Placement, Sealer, SealOptions, seal_pdf
from seal_svc.seals import SealService
from tests.seal.conftest import USCC_A, SealEnv, admin_of, staff


def _verify(sealer: Sealer, pdf: bytes) -> Any:
    return verify_pdf(pdf, sealer.trust, limit=10**9, temp_dir=sealer.settings.temp_dir)


def test_revocation_and_reissue_by_another_worker_show_at_once(env: SealEnv) -> None:
    other = wire(open_node(env.node.config.data_dir))  # type: ignore[attr-defined]
    try:
        other_service = SealService(other)
        other_sealer = Sealer(other_service)
        kept, revoked = env.seal_for(), env.seal_for()
        options = SealOptions(placement=Placement(1, 400, 60, 120, 120), level=PadesLevel.B_B)
        docs = {s.seal_id: seal_pdf(env.node, seal_id=s.seal_id, pdf=make_pdf(), principal=staff(),  # type: ignore[arg-type]
                                    options=options, service=env.service) for s in (kept, revoked)}
        for pdf in docs.values():
            assert _verify(env.sealer, pdf).verdict is Verdict.VALID
        held = current_crl(env.node, pki.SEAL_CA)  # type: ignore[arg-type]
        assert current_crl(env.node, pki.SEAL_CA) is held  # type: ignore[arg-type]  # held while current

        # The other worker revokes: the row turns stale, and this worker re-issues at its next verification.
        other_service.revoke_seal(admin_of(USCC_A), revoked.seal_id, "key compromise")
        report = _verify(env.sealer, docs[revoked.seal_id])
        assert report.verdict is Verdict.INVALID and report.signatures[0].revocation is Revocation.REVOKED
        assert current_crl(env.node, pki.SEAL_CA).number == held.number + 1  # type: ignore[arg-type]
        assert _verify(env.sealer, docs[kept.seal_id]).verdict is Verdict.VALID

        # A revocation that the other worker also re-issues the CRL for (the row is no longer stale, but its
        # number moved on): this worker must not keep the CRL it holds.
        before = current_crl(env.node, pki.SEAL_CA)  # type: ignore[arg-type]
        other_service.revoke_seal(admin_of(USCC_A), kept.seal_id, "key compromise")
        assert _verify(other_sealer, docs[kept.seal_id]).verdict is Verdict.INVALID  # re-issued over there
        assert current_crl(other, pki.SEAL_CA).number == before.number + 1
        report = _verify(env.sealer, docs[kept.seal_id])
        assert report.verdict is Verdict.INVALID and report.signatures[0].revocation is Revocation.REVOKED
        assert current_crl(env.node, pki.SEAL_CA).number == before.number + 1  # type: ignore[arg-type]
    finally:
        other.close()
