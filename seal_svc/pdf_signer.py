"""pyHanko glue: a CMS ``Signer`` whose raw signature comes from the HSM, and the node's RFC 3161 TSA.

pyHanko builds the CMS structures; the HSM (``hsm.HsmSigner``: local hash + CKM_ECDSA) only ever
signs the DER of the signed attributes (seal) or of the TSTInfo's signed attributes (TSA).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign import general
from pyhanko.sign.attributes import SigningCertificateV2Provider
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hsm import HsmSigner
from seal_svc import tsa_token

ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
# Policy of the node's TSA: a UUID-derived OID (ITU-T X.667), so no registered arc is claimed.
TSA_POLICY_OID = "2.25.276870931128407061573370934226786457157"
# Largest DER ECDSA P-256 signature: the placeholder used when pyHanko sizes a document timestamp.
_PLACEHOLDER_SIGNATURE = b"\x30\x46\x02\x21" + b"\x00" * 33 + b"\x02\x21" + b"\x00" * 33


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def asn1_forms(cert: x509.Certificate,
               chain: list[x509.Certificate]) -> tuple[asn1_x509.Certificate, SimpleCertificateStore]:
    """Fresh asn1crypto forms of a signing certificate and the other certificates to embed, for ONE signature.

    Never shared between calls or threads: asn1crypto parses lazily and caches encodings inside the objects,
    and pyHanko places these very objects into the CMS it builds and encodes. Objects shared between
    concurrent seals were read half-parsed (INTERNAL) and re-encoded in a loop (seconds of CPU under the
    GIL). Only bytes are shared; loading them is lazy and cheap.

    The store holds the chain without the signing certificate itself (pyHanko embeds that one anyway), so
    the CMS carries each certificate once: strict validators reject duplicates.
    """
    der = serialization.Encoding.DER
    leaf = cert.public_bytes(der)
    others: list[bytes] = []
    for c in chain:
        d = c.public_bytes(der)
        if d != leaf and d not in others:
            others.append(d)
    return (asn1_x509.Certificate.load(leaf),
            SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(d) for d in others]))


@lru_cache(maxsize=64)
def _signing_certificate_v2_der(cert_der: bytes) -> bytes:
    return general.as_signing_certificate_v2(asn1_x509.Certificate.load(cert_der)).dump()


def signing_certificate_v2(cert: asn1_x509.Certificate) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035) of ``cert``, encoded once per certificate: asn1crypto re-encodes
    the issuer name in it at some 5 ms a time."""
    return tsp.SigningCertificateV2.load(_signing_certificate_v2_der(cert.dump()))


class _SigningCertificateV2(SigningCertificateV2Provider):
    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return signing_certificate_v2(self.signing_cert)


class HsmPdfSigner(Signer):
    """A pyHanko signer for one seal: certificate chain here, private key in the HSM."""

    def __init__(self, hsm_signer: HsmSigner, cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._hsm = hsm_signer
        signing_cert, registry = asn1_forms(cert, chain)
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=registry,
            # Fixed, so pyHanko needs no dry-run signature to pick a mechanism.
            signature_mechanism=ECDSA_SHA256,
            embed_roots=True,
        )

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> list[Any]:
        # pyHanko's providers, with the signing-certificate-v2 attribute from the per-certificate cache.
        return [_SigningCertificateV2(p.signing_cert) if type(p) is SigningCertificateV2Provider else p
                for p in super()._signed_attr_providers(*args, **kwargs)]

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            # Only reached if a caller forgot bytes_reserved; never spend an HSM operation on it.
            return _PLACEHOLDER_SIGNATURE
        if digest_algorithm != "sha256":
            raise SigningError(f"seal keys sign with SHA-256, not {digest_algorithm}")
        return self._hsm.sign(data, hash_name="sha256")


class HsmTimeStamper(DummyTimeStamper):
    """The node's own TSA, in process: RFC 3161 tokens signed in the HSM (ECDSA).

    pyHanko's ``TimeStamper`` machinery (requests, nonces, response checks, dummy tokens for sizing) stays;
    the token itself is written by ``tsa_token`` from parts encoded once per TSA certificate, not built from
    asn1crypto objects per call as ``DummyTimeStamper`` does (a quarter of a B-T seal's CPU went there).
    """

    def __init__(self, hsm_signer: HsmSigner, tsa_cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._hsm = hsm_signer
        self._placeholder = False
        der = serialization.Encoding.DER
        tsa_der = tsa_cert.public_bytes(der)
        self._parts = tsa_token.token_parts(tsa_der, tuple(c.public_bytes(der) for c in chain),
                                            _signing_certificate_v2_attribute(tsa_der))
        # The parent keeps the certificate for pyHanko's bookkeeping only: this call's own (lazily parsed) object.
        super().__init__(tsa_cert=asn1_x509.Certificate.load(tsa_der), tsa_key=None)  # type: ignore[arg-type]

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        """Same-sized token with a placeholder signature: pyHanko sizes document timestamps with it."""
        try:
            return self._dummy_response_cache[md_algorithm]  # type: ignore[no-any-return]
        except KeyError:
            pass
        self._placeholder = True
        try:
            dummy = await self.async_timestamp(b"\x00" * 32 if md_algorithm == "sha256" else b"\x00" * 64,
                                               md_algorithm)
        finally:
            self._placeholder = False
        self._register_dummy(md_algorithm, dummy)
        return dummy

    def request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        md_algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].native
        if md_algorithm not in ("sha256", "sha384", "sha512"):
            return tsp.TimeStampResp({"status": {"status": "rejection", "fail_info": {"bad_alg"}}})

        def sign(signed_attrs: bytes) -> bytes:
            if self._placeholder:
                return _PLACEHOLDER_SIGNATURE
            return self._hsm.sign(signed_attrs, hash_name=md_algorithm)

        nonce = req["nonce"].native
        der = tsa_token.time_stamp_response(
            self._parts, message_imprint=bytes(req["message_imprint"].dump()), md_algorithm=md_algorithm,
            policy=_TSA_POLICY_DER, serial_number=secrets.randbits(127), gen_time=datetime.now(UTC),
            nonce=nonce, sign=sign)
        return tsp.TimeStampResp.load(der)


_TSA_POLICY_DER = bytes(core.ObjectIdentifier(TSA_POLICY_OID).dump())


@lru_cache(maxsize=16)
def _signing_certificate_v2_attribute(cert_der: bytes) -> bytes:
    value = tsp.SigningCertificateV2.load(_signing_certificate_v2_der(cert_der))
    return tsa_token.signing_certificate_v2_attribute(value)
