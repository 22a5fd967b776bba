"""The HTTP edge follows the node's key rollovers: after a TSA rollover ``/tsa`` signs with the new TSA key;
after a seal CA rollover the OCSP responder answers for seals of the previous seal CA key and of the new one
(each with a responder certificate from that key, as RFC 6960 wants) and every seal certificate's CRL
distribution point serves a CRL signed by the key that issued it. Checked with openssl."""

from __future__ import annotations

from pathlib import Path

import httpx
from asn1crypto import ocsp, tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hutong import pki, rollover
from seal_svc.seals import SealService, SealType
from tests.edge.conftest import EdgeEnv
from tests.edge.test_tsa_ocsp import openssl, pem

USCC = "91350100M000100Y43"


def _roll_over(env: EdgeEnv, role: str) -> tuple[x509.Certificate, x509.Certificate]:
    """Prepare and activate a successor of ``role``; (old certificate, new certificate)."""
    node = env.node
    old = node.pki.certificate(role)
    assert rollover.rotate(node, role).step == "prepare"
    assert node.pki.certificate(role) == old  # published, not used yet
    assert rollover.rotate(node, role).step == "activate"
    new = node.pki.certificate(role)
    assert new != old and new.public_key() != old.public_key()
    return old, new


def test_tsa_signs_with_the_new_key_after_a_rollover(edge_env: EdgeEnv, tmp_path: Path) -> None:
    data = tmp_path / "contract.txt"
    data.write_bytes("合同正文".encode() * 50)
    query = tmp_path / "q.tsq"
    assert openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)).returncode == 0

    def stamp(name: str) -> tuple[Path, list[bytes]]:
        resp = edge_env.http.post("/tsa", content=query.read_bytes(),
                                  headers={"content-type": "application/timestamp-query"})
        assert resp.status_code == 200
        (tmp_path / name).write_bytes(resp.content)
        signed = tsp.TimeStampResp.load(resp.content)["time_stamp_token"]["content"]
        return tmp_path / name, [c.chosen.dump() for c in signed["certificates"]]

    before, certs_before = stamp("before.tsr")
    old, new = _roll_over(edge_env, pki.TSA)
    after, certs_after = stamp("after.tsr")
    der = lambda c: c.public_bytes(Encoding.DER)  # noqa: E731
    assert der(old) in certs_before and der(new) not in certs_before
    assert der(new) in certs_after and der(old) not in certs_after
    root = pem(tmp_path / "root.pem", edge_env.node.pki.certificate(pki.ROOT))
    for reply, tsa in ((before, old), (after, new)):  # both verify under the root (openssl)
        out = openssl("ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile", str(root),
                      "-untrusted", str(pem(tmp_path / "tsa.pem", tsa)))
        assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stdout + out.stderr


def _seal(env: EdgeEnv, name: str, *, revoke: bool = False) -> x509.Certificate:
    service, operator = SealService(env.node), env.people.operator().principal
    info = service.create_seal(operator, org_uscc=USCC, org_name="福建省某某科技有限公司", seal_type=SealType.CONTRACT,
                               name=name)
    if revoke:
        service.revoke_seal(operator, info.seal_id, "key compromise")
    return info.certificate


def _crl_url(cert: x509.Certificate) -> str:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return str(cdp[0].full_name[0].value)  # type: ignore[index]


def test_ocsp_and_crls_answer_for_both_seal_ca_keys(edge_env: EdgeEnv, tmp_path: Path) -> None:
    node = edge_env.node
    old_good, old_revoked = _seal(edge_env, "旧章"), _seal(edge_env, "旧章作废", revoke=True)
    old_ca, new_ca = _roll_over(edge_env, pki.SEAL_CA)
    new_good, new_revoked = _seal(edge_env, "新章"), _seal(edge_env, "新章作废", revoke=True)
    new_good.verify_directly_issued_by(new_ca)
    old_good.verify_directly_issued_by(old_ca)
    assert _crl_url(old_good).endswith("/crl/seal-ca.crl")
    assert _crl_url(new_good).endswith(f"/crl/{node.pki.label(pki.SEAL_CA)}.crl")

    root = node.pki.certificate(pki.ROOT)
    url = edge_env.edge.base_url + "/ocsp"
    cases = [(old_good, old_ca, ": good"), (old_revoked, old_ca, ": revoked"),
             (new_good, new_ca, ": good"), (new_revoked, new_ca, ": revoked")]
    for n, (cert, ca, expected) in enumerate(cases):
        issuer = pem(tmp_path / f"ca{n}.pem", ca)
        leaf = pem(tmp_path / f"leaf{n}.pem", cert)
        trust = pem(tmp_path / f"trust{n}.pem", root, ca)
        respout = tmp_path / f"resp{n}.der"
        out = openssl("ocsp", "-issuer", str(issuer), "-cert", str(leaf), "-url", url, "-CAfile", str(trust),
                      "-resp_text", "-respout", str(respout))
        assert "Response verify OK" in out.stderr + out.stdout, out.stdout + out.stderr
        assert expected in out.stdout, out.stdout
        # The delegated responder was certified by this very seal CA key (RFC 6960 4.2.2.2).
        basic = ocsp.OCSPResponse.load(respout.read_bytes()).basic_ocsp_response
        x509.load_der_x509_certificate(basic["certs"][0].dump()).verify_directly_issued_by(ca)
        # The CRL the certificate names is signed by the key that issued it, and lists it when revoked.
        crl_der = httpx.get(_crl_url(cert), timeout=60).content
        crl = x509.load_der_x509_crl(crl_der)
        assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        (tmp_path / f"crl{n}.der").write_bytes(crl_der)
        assert openssl("crl", "-inform", "DER", "-in", str(tmp_path / f"crl{n}.der"), "-out",
                       str(tmp_path / f"crl{n}.pem")).returncode == 0
        check = openssl("verify", "-crl_check", "-CAfile", str(pem(tmp_path / f"root{n}.pem", root)),
                        "-untrusted", str(issuer), "-CRLfile", str(tmp_path / f"crl{n}.pem"), str(leaf))
        if expected == ": good":
            assert check.returncode == 0 and ": OK" in check.stdout, check.stdout + check.stderr
        else:
            assert "certificate revoked" in check.stdout + check.stderr, check.stdout + check.stderr
    # A CRL name that is no seal CA key of this node: 404 with a reason.
    missing = edge_env.http.get("/crl/node.seal-ca.19990101T000000000000Z.crl")
    assert missing.status_code == 404 and "CRL_NOT_FOUND" in missing.text
