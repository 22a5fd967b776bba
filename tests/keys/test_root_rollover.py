"""The node root rolls over: a new root made in the HSM, self-signed and cross-certified by the old one, with a
successor of every subordinate certified by it; announced through the trust list before the switch.

What was sealed before keeps verifying at the node, at a member (through the trust list), offline with the SDK
(from the node's GetCrl answer) and with poppler's pdfsig against an NSS database that trusts only the OLD root;
new seals chain to the new root, and openssl reaches the old root from them only through the cross certificate.
The old root cannot be destroyed while it is needed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from cert_svc import catalogue, issuance, issuers
from cert_svc.records import Holder
from hutong import pki, rollover
from hutong.audit import AuditRecord
from hutong.auth import Principal
from hutong.cert.v1 import cert_pb2, cert_pb2_grpc
from hutong.common.v1.common_pb2 import VERDICT_VALID
from hutong.errors import HutongError
from hutong.federation import hub
from hutong.node import Node
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.verify import jose
from hutong.verify.pdf import Verdict
from hutong_client import OfflineVerifier
from hutong_client.seal import OfflinePdfVerifier, trust_material
from seal_svc.seals import SealService
from tests.federation.conftest import FAST_IDENTITY, install_trust_list
from tests.federation.test_cross_node_certs import CITIZEN, DIPLOMA, OPERATOR
from tests.keys.test_rollover_federation import FAST_CRLS, _seal, _sign, _verify_at
from tests.seal.conftest import USCC_A, admin_of

SUBORDINATES = (pki.SEAL_CA, pki.ISSUER_CA, pki.TSA, pki.TOKEN, pki.TRUST_LIST)


def _reason(exc: pytest.ExceptionInfo[HutongError]) -> str:
    return exc.value.reason


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _openssl_verify(tmp: Path, trusted: x509.Certificate, untrusted: list[x509.Certificate],
                    leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
    (tmp / "trusted.pem").write_bytes(_pem(trusted))
    (tmp / "untrusted.pem").write_bytes(b"".join(_pem(c) for c in untrusted))
    (tmp / "leaf.pem").write_bytes(_pem(leaf))
    return subprocess.run(["openssl", "verify", "-CAfile", str(tmp / "trusted.pem"), "-untrusted",
                           str(tmp / "untrusted.pem"), str(tmp / "leaf.pem")], capture_output=True, text=True,
                          timeout=60)


def _nss_trusting(tmp: Path, root: x509.Certificate, crls: list[bytes], name: str = "nss") -> Path:
    """An NSS database trusting ``root`` only (``C,C,C``), with CRLs (pdfsig wants revocation data; NSS keeps
    one CRL per issuer name, and a CA's successor has its name: one database per generation of CRLs)."""
    nss = tmp / name
    nss.mkdir()
    (nss / "root.pem").write_bytes(_pem(root))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "old-root", "-t", "C,C,C", "-i",
                    str(nss / "root.pem")], check=True, capture_output=True)
    for i, der in enumerate(crls):
        (nss / f"{i}.crl").write_bytes(der)
        subprocess.run(["crlutil", "-I", "-d", f"sql:{nss}", "-B", "-i", str(nss / f"{i}.crl")], check=True,
                       capture_output=True)
    return nss


def _pdfsig(nss: Path, pdf: bytes, tmp: Path) -> str:
    path = tmp / "sealed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", "-no-ocsp", str(path)], capture_output=True,
                          timeout=120).stdout.decode("utf-8", "replace")


def _licence(node: Node, uscc: str, platform: str) -> str:
    """A diploma from a department registered now (its certificate from the issuer CA active now)."""
    issuers.register(node, OPERATOR, uscc=uscc, name="某省教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id=platform)
    department = Principal(kind="platform", subject=platform, platform=platform)
    return issuance.issue(node, department, issuance.IssueRequest(
        type_code=catalogue.DIPLOMA, holder=Holder(kind="person", id=CITIZEN, name="张三"), fields=DIPLOMA)).jws


def _seal_certificate(seals: SealService, seal_id: str) -> x509.Certificate:
    cert = seals.get_seal(admin_of(USCC_A), seal_id).certificate
    assert cert is not None
    return cert


def test_root_rolls_over_cross_signed_and_everything_keeps_verifying(
        tmp_path: Path, hub_node: Node, node_factory: Any, serve: Any) -> None:
    a: Node = node_factory("prov-a", config=FAST_IDENTITY)
    b: Node = node_factory("prov-b", config=FAST_CRLS)
    a_channel = serve(a)
    b_certs = cert_pb2_grpc.CertServiceStub(serve(b))
    endpoint = a_channel.hutong_target
    hub.add_member(hub_node, hub.describe_node(a, endpoints=[endpoint]))
    hub.add_member(hub_node, hub.describe_node(b))
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp_path)
    seals = SealService(a)
    old_seal, before = _seal(seals)
    licence_before = _licence(a, "91110000600037341L", "edu-platform")
    old_root = a.pki.certificate(pki.ROOT)
    crls_before = seal_pb2_grpc.SealServiceStub(a_channel).GetCrl(seal_pb2.GetCrlRequest(), timeout=60)

    dry = rollover.rotate(a, "node.root-ca", dry_run=True)
    assert dry.step == "prepare" and [f.role for f in dry.follows] == list(SUBORDINATES)
    assert a.pki.registry.snapshot().pending(pki.ROOT) is None  # a dry run changes nothing
    rollover.rotate(a, "node.root-ca")  # prepare: the new root, its cross certificate, five successors
    snap = a.pki.registry.snapshot()
    new_root_entry = snap.pending(pki.ROOT)
    assert new_root_entry is not None and new_root_entry.certificate is not None
    new_root = new_root_entry.certificate
    assert new_root.subject == new_root.issuer and new_root.subject != old_root.subject
    new_root.verify_directly_issued_by(new_root)
    [cross] = a.pki.cross_certificates()
    cross.verify_directly_issued_by(old_root)  # the old root vouches for the new root's key
    assert cross.subject == new_root.subject and cross.public_key() == new_root.public_key()
    for role in SUBORDINATES:
        successor = snap.pending(role)
        assert successor is not None and successor.certificate is not None
        successor.certificate.verify_directly_issued_by(new_root)
    assert [c for c in a.pki.with_retired(pki.ROOT)] == [old_root, new_root]  # published, not used
    with pytest.raises(HutongError) as refused:  # B does not know the new root yet
        rollover.rotate(a, "node.root-ca")
    assert _reason(refused) == "ROLLOVER_NOT_PUBLISHED"
    with pytest.raises(HutongError) as refused:
        rollover.rotate(a, "node.root-ca", "prepare")
    assert _reason(refused) == "ROLLOVER_IN_PROGRESS"

    hub.add_member(hub_node, hub.describe_node(a, endpoints=[endpoint]))
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp_path)
    described = b.trust.member("prov-a")
    assert new_root in described.certificates("root") and described.cross() == [cross]
    activated = rollover.rotate(a, "node.root-ca")
    assert {f.role for f in activated.follows} == set(SUBORDINATES)
    assert a.pki.certificate(pki.ROOT) == new_root
    assert a.pki.chain(pki.SEAL_CA)[1] == new_root

    new_seal, after = _seal(seals)
    licence_after = _licence(a, "91350100M000100Y43", "edu-platform-2")
    after_old_seal = _sign(seals, old_seal)  # an existing seal keeps its certificate from the old seal CA
    new_seal_cert = _seal_certificate(seals, new_seal)
    new_seal_ca = a.pki.certificate(pki.SEAL_CA)
    new_seal_cert.verify_directly_issued_by(new_seal_ca)
    new_seal_ca.verify_directly_issued_by(new_root)

    for pdf in (before, after, after_old_seal):
        assert _verify_at(a, pdf).verdict == Verdict.VALID
        assert _verify_at(b, pdf).verdict == Verdict.VALID  # B knows both roots through the trust list

    # Offline with the SDK, from the node's GetCrl answer (both roots, both seal CAs, every CRL).
    crls = seal_pb2_grpc.SealServiceStub(a_channel).GetCrl(seal_pb2.GetCrlRequest(), timeout=60)
    offline = OfflinePdfVerifier(trust_material(crls), temp_dir=str(tmp_path))
    for pdf in (before, after, after_old_seal):
        assert offline.verify(pdf).verdict.value == "valid"

    # Licences issued before and after: at member B through the trust list (A's status lists fetched from A),
    # and offline with the SDK from A's trust bundle.
    a_certs = cert_pb2_grpc.CertServiceStub(a_channel)
    bundle = a_certs.GetTrustBundle(cert_pb2.GetTrustBundleRequest(), timeout=60)
    licences = OfflineVerifier.from_bundle(bundle, fetch=lambda list_id: a_certs.GetStatusList(
        cert_pb2.GetStatusListRequest(list_id=list_id), timeout=60).token)
    new_issuer = jose.x5c_chain(jose.unverified_header(licence_after))[0]
    new_issuer.verify_directly_issued_by(a.pki.certificate(pki.ISSUER_CA))  # the issuer CA under the new root
    a.pki.certificate(pki.ISSUER_CA).verify_directly_issued_by(new_root)
    for jws in (licence_before, licence_after):
        assert b_certs.Verify(cert_pb2.VerifyRequest(jws=jws), timeout=60).verdict == VERDICT_VALID
        assert licences.verify(jws).verdict == "valid"

    # An independent verifier that trusts only the OLD root still accepts what was sealed before, and what is
    # sealed now: a new seal carries the cross certificate, so the path to the old root is in the PDF itself.
    old_crls = _nss_trusting(tmp_path, old_root, [crls_before.crl_der, crls_before.root_crl_der])
    new_crls = _nss_trusting(tmp_path, old_root, [crls.crl_der, crls.root_crl_der, crls_before.root_crl_der],
                             "nss-after")  # the new seal CA's, the new root's, the old root's (the cross's issuer)
    for nss, pdf in ((old_crls, before), (new_crls, after)):
        out = _pdfsig(nss, pdf, tmp_path)
        assert "Signature Validation: Signature is Valid." in out and "Certificate is Trusted." in out, out
    # ... and openssl reaches the old root from a new seal through the cross certificate, and only through it.
    check = tmp_path / "openssl"
    check.mkdir()
    assert _openssl_verify(check, old_root, [cross, new_seal_ca], new_seal_cert).returncode == 0
    assert _openssl_verify(check, old_root, [new_seal_ca], new_seal_cert).returncode != 0
    assert _openssl_verify(check, new_root, [new_seal_ca], new_seal_cert).returncode == 0

    # The old root still verifies what its subordinates made: destroying it is refused.
    with pytest.raises(HutongError) as refused:
        rollover.check_destroy(a.pki.registry.snapshot(), pki.key_label(pki.ROOT))
    assert _reason(refused) == "NODE_KEY_STILL_NEEDED"
    with a.db.session(readonly=True) as s:
        steps = [(r.action, r.target) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
                 if r.action.startswith("pki.rollover")]
    for role in (pki.ROOT, *SUBORDINATES):
        assert ("pki.rollover.prepare", role) in steps and ("pki.rollover.activate", role) in steps


def test_root_prepare_is_all_or_nothing(node_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HSM fails in the middle of a root prepare (the third successor's key): nothing is registered -- no
    pending root, no cross certificate, no successor, no audit record -- so no activation can switch a partial
    set; the prepare run again makes the complete set."""
    from hsm import errors as hsm_errors
    from hutong.keyring import NodeKey

    a: Node = node_factory("prov-a", config=FAST_IDENTITY)
    create_key = a.keys.create_key
    made: list[str] = []

    def failing_third_successor(req: Any) -> Any:
        if len(made) == 3:  # the root and two successors were made
            raise hsm_errors.unavailable("the token went away")
        made.append(req.label)
        return create_key(req)

    monkeypatch.setattr(a.keys, "create_key", failing_third_successor)
    with pytest.raises(hsm_errors.HsmError) as failed:
        rollover.rotate(a, "node.root-ca")
    assert failed.value.reason == "HSM_UNAVAILABLE" and len(made) == 3

    def registered() -> tuple[list[tuple[str, str]], list[str], list[str]]:
        with a.db.session(readonly=True) as s:
            pending = [(k.role, k.label) for k in s.scalars(select(NodeKey).where(NodeKey.state == "pending"))]
            cross = [c.name for c in pki.certificates_in(s) if c.name.startswith(f"{pki.ROOT}.cross.")]
            prepared = [r.target for r in s.scalars(select(AuditRecord)) if r.action == "pki.rollover.prepare"]
        return pending, cross, prepared

    assert registered() == ([], [], [])
    assert a.pki.cross_certificates() == []
    assert rollover.plan(a, "node.root-ca").step == "prepare"  # not "activate": nothing half-made to switch

    monkeypatch.setattr(a.keys, "create_key", create_key)  # the token is back: the prepare is simply run again
    p = rollover.rotate(a, "node.root-ca")
    pending, cross, prepared = registered()
    assert sorted(role for role, _ in pending) == sorted((pki.ROOT, *SUBORDINATES))
    assert cross == [f"{pki.ROOT}.cross.{p.label}"] and sorted(prepared) == sorted((pki.ROOT, *SUBORDINATES))
    assert not set(made) & {label for _, label in pending}  # the failed run's keys are named by nothing
