"""The node TSA's timestamp tokens, written as DER by ``seal_svc.tsa_token``: checked field by field with
asn1crypto, for canonical DER (parse, re-encode, same bytes), and the signature with ``cryptography``.
openssl ts and pyHanko verify the same tokens over HTTP (tests/edge) and inside B-T seals (tests/seal)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.timestamps.api import TimeStamper

from hutong import pki
from hutong.node import Node
from seal_svc.pdf_signer import TSA_POLICY_OID, HsmTimeStamper
from seal_svc.tsa_token import generalized_time, integer

_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def _stamper(node: Node) -> tuple[HsmTimeStamper, x509.Certificate, x509.Certificate]:
    signer, cert = node.pki.signing_pair(pki.TSA)
    root = node.pki.certificate(pki.ROOT)
    return HsmTimeStamper(signer, cert, [root]), cert, root


@pytest.mark.parametrize("md", ["sha256", "sha384", "sha512"])
def test_token_fields_der_and_signature(node: Node, md: str) -> None:
    stamper, tsa_cert, root = _stamper(node)
    message_digest = hashlib.new(md, b"document " + md.encode()).digest()
    nonce, req = TimeStamper().request_cms(message_digest, md)
    before = datetime.now(UTC) - timedelta(seconds=1)
    der = stamper.request_tsa_response(req).dump()
    after = datetime.now(UTC) + timedelta(seconds=1)

    resp = tsp.TimeStampResp.load(der)
    _ = resp.native  # parses every field
    assert tsp.TimeStampResp.load(der).dump(force=True) == der  # canonical DER: re-encoding gives the same bytes
    assert resp["status"]["status"].native == "granted"
    signed_data = resp["time_stamp_token"]["content"]
    assert resp["time_stamp_token"]["content_type"].native == "signed_data" and signed_data["version"].native == "v3"
    assert [a["algorithm"].native for a in signed_data["digest_algorithms"]] == [md]
    info = signed_data["encap_content_info"]["content"].parsed
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"
    assert info["version"].native == "v1" and info["policy"].native == TSA_POLICY_OID
    assert info["message_imprint"].dump() == req["message_imprint"].dump()
    assert info["nonce"].native == nonce
    assert before <= info["gen_time"].native <= after
    assert info["tsa"].name == "directory_name"  # the TSA names itself by its certificate's subject
    assert info["tsa"].chosen.untag().dump() == tsa_cert.subject.public_bytes()
    certs = {c.chosen.dump() for c in signed_data["certificates"]}
    assert certs == {tsa_cert.public_bytes(Encoding.DER), root.public_bytes(Encoding.DER)}

    (si,) = signed_data["signer_infos"]
    assert si["sid"].chosen["serial_number"].native == tsa_cert.serial_number
    assert si["sid"].chosen["issuer"].dump() == _asn1_issuer(tsa_cert)
    assert si["digest_algorithm"]["algorithm"].native == md
    assert si["signature_algorithm"]["algorithm"].native == f"{md}_ecdsa"
    attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}
    assert set(attrs) == {"content_type", "signing_time", "signing_certificate_v2", "message_digest"}
    assert attrs["content_type"].native == "tst_info"
    assert attrs["message_digest"].native == hashlib.new(md, info.dump()).digest()
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(tsa_cert.public_bytes(Encoding.DER)).digest()
    signed = si["signed_attrs"].untag().dump(force=True)  # signed as a SET OF, embedded as [0] IMPLICIT
    public = tsa_cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(si["signature"].native, signed, ec.ECDSA(_HASHES[md]))


def test_serials_differ_and_a_missing_nonce_stays_missing(node: Node) -> None:
    stamper, _, _ = _stamper(node)
    req = tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                              "hashed_message": bytes(32)}})
    a, b = (stamper.request_tsa_response(req)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
            for _ in range(2))
    assert a["serial_number"].native != b["serial_number"].native
    assert a["nonce"].native is None


def test_unsupported_hash_is_rejected(node: Node) -> None:
    stamper, _, _ = _stamper(node)
    req = tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "md5"},
                                                              "hashed_message": bytes(16)}})
    resp = stamper.request_tsa_response(req)
    assert resp["status"]["status"].native == "rejection" and resp["status"]["fail_info"].native == {"bad_alg"}


def test_pyhanko_accepts_the_token_and_the_dummy_has_its_size(node: Node) -> None:
    stamper, _, _ = _stamper(node)
    digest = hashlib.sha256(b"sized").digest()
    real = asyncio.run(stamper.async_timestamp(digest, "sha256"))  # pyHanko checks status and nonce
    dummy = asyncio.run(stamper.async_dummy_response("sha256"))
    # Within a few bytes, not equal: a real token's DER signature is up to ~3 bytes shorter than the placeholder's
    # (its integers lose leading bytes), its serial number a byte shorter 1 time in 256, and its time's fraction of
    # a second drops trailing zeros (up to 6 bytes). pyHanko reserves half as much again as the dummy's size.
    assert abs(len(real.dump()) - len(dummy.dump())) <= 10


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, 2**127 - 1, 2**64 + 5])
def test_integer_encoding_matches_asn1crypto(value: int) -> None:
    assert integer(value) == core.Integer(value).dump()


@pytest.mark.parametrize("micro", [0, 1, 500000, 123456, 999999])
def test_generalized_time_matches_asn1crypto(micro: int) -> None:
    t = datetime(2026, 11, 29, 17, 5, 9, micro, tzinfo=UTC)
    assert generalized_time(t) == core.GeneralizedTime(t).dump(force=True)


def _asn1_issuer(cert: x509.Certificate) -> bytes:
    return cert.issuer.public_bytes()


