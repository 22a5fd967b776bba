"""The node's RFC 3161 TSA and OCSP responder over HTTP, checked with openssl and pyHanko."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from hutong import pki
from seal_svc.pdf_signer import TSA_POLICY_OID
from seal_svc.seals import SealService, SealType
from tests.edge.conftest import EdgeEnv
from tests.edge.test_connect import assert_connect_error


def pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], input=stdin.decode() if stdin else None, capture_output=True,
                          text=True, timeout=60)


# -- TSA -----------------------------------------------------------------------------------------

def test_openssl_query_and_verify(edge_env: EdgeEnv, tmp_path: Path) -> None:
    data = tmp_path / "contract.txt"
    data.write_bytes("合同正文 ".encode() * 100)
    query = tmp_path / "q.tsq"
    assert openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)).returncode == 0
    replies = []
    for n in range(2):
        resp = edge_env.http.post("/tsa", content=query.read_bytes(),
                                  headers={"content-type": "application/timestamp-query"})
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/timestamp-reply"
        (tmp_path / f"r{n}.tsr").write_bytes(resp.content)
        replies.append(tsp.TimeStampResp.load(resp.content))
    node = edge_env.node
    chain = pem(tmp_path / "ca.pem", node.pki.certificate(pki.ROOT))
    untrusted = pem(tmp_path / "tsa.pem", node.pki.certificate(pki.TSA))
    out = openssl("ts", "-verify", "-in", str(tmp_path / "r0.tsr"), "-queryfile", str(query), "-CAfile", str(chain),
                  "-untrusted", str(untrusted))
    assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stdout + out.stderr
    text = openssl("ts", "-reply", "-in", str(tmp_path / "r0.tsr"), "-text").stdout
    assert f"Policy OID: {TSA_POLICY_OID}" in text and "Nonce: 0x" in text
    infos = [r["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed for r in replies]
    assert infos[0]["serial_number"].native != infos[1]["serial_number"].native  # unique serials
    req = tsp.TimeStampReq.load(query.read_bytes())
    assert infos[0]["nonce"].native == req["nonce"].native  # the nonce is echoed
    attrs = replies[0]["time_stamp_token"]["content"]["signer_infos"][0]["signed_attrs"]
    ess = next(a for a in attrs if a["type"].native == "signing_certificate_v2")["values"][0]
    tsa_der = node.pki.certificate(pki.TSA).public_bytes(Encoding.DER)
    assert ess["certs"][0]["cert_hash"].native == hashlib.sha256(tsa_der).digest()  # ESSCertIDv2 names the TSA
    # A changed document does not verify against the token.
    other = tmp_path / "other.txt"
    other.write_bytes(b"something else")
    bad = openssl("ts", "-verify", "-in", str(tmp_path / "r0.tsr"), "-data", str(other), "-CAfile", str(chain),
                  "-untrusted", str(untrusted))
    assert bad.returncode != 0


def test_pyhanko_http_timestamper(edge_env: EdgeEnv) -> None:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    stamper = HTTPTimeStamper(edge_env.edge.base_url + "/tsa")
    token = asyncio.run(stamper.async_timestamp(hashlib.sha256(b"document").digest(), "sha256"))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(b"document").digest()
    assert info["policy"].native == TSA_POLICY_OID


def _reply_text(reply: bytes, tmp_path: Path) -> str:
    (tmp_path / "reply.tsr").write_bytes(reply)
    return openssl("ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text").stdout


def test_tsa_bad_input(edge_env: EdgeEnv, tmp_path: Path) -> None:
    hdr = {"content-type": "application/timestamp-query"}
    garbage = edge_env.http.post("/tsa", content=b"\x30\x03\x02\x01", headers=hdr)
    assert garbage.status_code == 400
    assert "Status: Rejected" in _reply_text(garbage.content, tmp_path)
    wrong_policy = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x00" * 32}, "req_policy": "1.2.3.4"})
    text = _reply_text(edge_env.http.post("/tsa", content=wrong_policy.dump(), headers=hdr).content, tmp_path)
    assert "Status: Rejected" in text and "policy is not supported" in text, text
    sha1 = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha1"}, "hashed_message": b"\x00" * 20}})
    text = _reply_text(edge_env.http.post("/tsa", content=sha1.dump(), headers=hdr).content, tmp_path)
    assert "Status: Rejected" in text and "Failure info: " in text and "algorithm" in text, text
    assert_connect_error(edge_env.http.post("/tsa", content=b"x", headers={"content-type": "text/plain"}), 415,
                         "invalid_argument", "HTTP_CONTENT_TYPE_UNSUPPORTED")
    assert_connect_error(edge_env.http.post("/tsa", content=b"0" * 20000, headers=hdr), 413, "resource_exhausted",
                         "HTTP_BODY_TOO_LARGE")
    assert_connect_error(edge_env.http.get("/tsa"), 405, "unimplemented", "HTTP_METHOD_NOT_ALLOWED")


# -- OCSP ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seals(edge_env: EdgeEnv) -> dict[str, x509.Certificate]:
    service, operator = SealService(edge_env.node), edge_env.people.operator().principal
    made = {}
    for state in ("good", "revoked", "suspended"):
        info = service.create_seal(operator, org_uscc="91350100M000100Y43", org_name="福建省某某科技有限公司",
                                   seal_type=SealType.CONTRACT, name=f"合同专用章{state}")
        if state == "revoked":
            service.revoke_seal(operator, info.seal_id, "key compromise")
        elif state == "suspended":
            service.suspend_seal(operator, info.seal_id, "audit")
        made[state] = info.certificate
    return made


def test_new_seal_certificates_name_the_ocsp_responder_and_crl(edge_env: EdgeEnv,
                                                               seals: dict[str, x509.Certificate]) -> None:
    cert = seals["good"]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    assert urls == [edge_env.edge.base_url + "/ocsp"]
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    crl_url = cdp[0].full_name[0].value  # type: ignore[index]
    assert crl_url == edge_env.edge.base_url + "/crl/seal-ca.crl"
    assert httpx.get(crl_url).status_code == 200  # the URL in the certificate answers


@pytest.mark.parametrize("digest", ["-sha1", "-sha256"])
def test_openssl_ocsp_good_revoked_unknown(edge_env: EdgeEnv, seals: dict[str, x509.Certificate], tmp_path: Path,
                                           digest: str) -> None:
    node = edge_env.node
    ca = pem(tmp_path / "seal-ca.pem", node.pki.certificate(pki.SEAL_CA))
    trust = pem(tmp_path / "root.pem", node.pki.certificate(pki.ROOT), node.pki.certificate(pki.SEAL_CA))
    url = edge_env.edge.base_url + "/ocsp"
    for state, cert in seals.items():
        leaf = pem(tmp_path / f"{state}.pem", cert)
        out = openssl("ocsp", "-issuer", str(ca), digest, "-cert", str(leaf), "-url", url, "-CAfile", str(trust),
                      "-resp_text")
        assert "Response verify OK" in out.stderr + out.stdout, out.stdout + out.stderr
        expected = {"good": ": good", "revoked": ": revoked", "suspended": ": revoked"}[state]
        assert expected in out.stdout, out.stdout
        assert "OCSP Signing" in out.stdout  # signed by the delegated responder (id-kp-OCSPSigning)
        assert "Nonce" in out.stdout
        if state == "suspended":
            assert "Reason: certificateHold" in out.stdout, out.stdout
    # A certificate this CA never issued (the TSA's, presented with the seal CA as issuer): unknown.
    stranger = pem(tmp_path / "stranger.pem", node.pki.certificate(pki.TSA))
    out = openssl("ocsp", "-issuer", str(ca), digest, "-cert", str(stranger), "-url", url, "-CAfile", str(trust))
    assert ": unknown" in out.stdout, out.stdout + out.stderr


def test_ocsp_get_and_responder_certificate(edge_env: EdgeEnv, seals: dict[str, x509.Certificate],
                                            tmp_path: Path) -> None:
    import base64
    import urllib.parse

    from asn1crypto import ocsp

    node = edge_env.node
    ca = pem(tmp_path / "seal-ca.pem", node.pki.certificate(pki.SEAL_CA))
    leaf = pem(tmp_path / "good.pem", seals["good"])
    assert openssl("ocsp", "-issuer", str(ca), "-cert", str(leaf), "-no_nonce", "-reqout",
                   str(tmp_path / "req.der")).returncode == 0
    encoded = urllib.parse.quote(base64.b64encode((tmp_path / "req.der").read_bytes()).decode(), safe="")
    resp = edge_env.http.get(f"/ocsp/{encoded}")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/ocsp-response"
    assert "max-age" in resp.headers["cache-control"]  # RFC 5019: GET answers are cacheable
    parsed = ocsp.OCSPResponse.load(resp.content)
    assert parsed["response_status"].native == "successful"
    single = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "good"
    responder = x509.load_der_x509_certificate(parsed.basic_ocsp_response["certs"][0].dump())
    assert responder.issuer == node.pki.certificate(pki.SEAL_CA).subject
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.verify_directly_issued_by(node.pki.certificate(pki.SEAL_CA))
    # Its key lives in the HSM: the token lists it, and exports no private part.
    assert node.keys.get_key(pki.key_label("ocsp-responder")).public_key.public_numbers() == \
        responder.public_key().public_numbers()  # type: ignore[union-attr]


def test_ocsp_bad_input(edge_env: EdgeEnv) -> None:
    from asn1crypto import ocsp

    hdr = {"content-type": "application/ocsp-request"}
    for body in (b"", b"\x30\x00", secrets.token_bytes(64)):
        resp = edge_env.http.post("/ocsp", content=body, headers=hdr)
        assert resp.status_code == 400
        assert ocsp.OCSPResponse.load(resp.content)["response_status"].native == "malformed_request"
    assert edge_env.http.get("/ocsp/%%%not-base64").status_code == 400
    assert_connect_error(edge_env.http.post("/ocsp", content=b"x", headers={"content-type": "text/plain"}), 415,
                         "invalid_argument", "HTTP_CONTENT_TYPE_UNSUPPORTED")
    assert_connect_error(edge_env.http.post("/ocsp", content=b"0" * 20000, headers=hdr), 413, "resource_exhausted",
                         "HTTP_BODY_TOO_LARGE")
