"""pyHanko glue: a CMS ``Signer`` whose raw signature comes from the HSM, and the node's RFC 3161 TSA.

pyHanko builds the CMS structures; the HSM (``hsm.HsmSigner``: local hash + CKM_ECDSA) only ever
signs the DER of the signed attributes (seal) or of the TSTInfo's signed attributes (TSA).
"""

from __future__ import annotations

import hashlib
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
from pyhanko.sign.general import SigningError, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hsm import HsmSigner

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
    """The node's own TSA, in process: pyHanko's token builder with the signature made in the HSM.

    ``DummyTimeStamper`` already builds a correct RFC 3161 TimeStampResp/TSTInfo; only signing
    (RSA with a key in memory there) and the signature algorithm are replaced.
    """

    def __init__(self, hsm_signer: HsmSigner, tsa_cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._hsm = hsm_signer
        self._placeholder = False
        asn1_tsa, store = asn1_forms(tsa_cert, chain)  # this call's own objects, never shared
        super().__init__(tsa_cert=asn1_tsa, tsa_key=None,  # type: ignore[arg-type]
                         certs_to_embed=store)

    def _build_tst_info(self, message_imprint: tsp.MessageImprint, dt: datetime, req: tsp.TimeStampReq) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(TSA_POLICY_OID)
        info["serial_number"] = secrets.randbits(127)
        return info

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime) -> tuple[bytes, cms.CMSAttributes]:
        # Let the parent build the signed attributes; its RSA-only signing step is never reached
        # because we compute the signature ourselves from the same attributes.
        signed_attrs = _tsa_signed_attrs(self.tsa_cert, tst_info_data, md_algorithm, dt)
        if self._placeholder:
            return _PLACEHOLDER_SIGNATURE, signed_attrs
        return self._hsm.sign(signed_attrs.dump(), hash_name=md_algorithm), signed_attrs

    def _build_signed_data(self, tst_info_data: bytes, md_algorithm: str, signature: bytes,
                           signed_attrs: cms.CMSAttributes) -> dict:  # type: ignore[type-arg]
        data = super()._build_signed_data(tst_info_data, md_algorithm, signature, signed_attrs)
        data["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm(
            {"algorithm": f"{md_algorithm}_ecdsa"})
        return data

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
        if req["message_imprint"]["hash_algorithm"]["algorithm"].native not in ("sha256", "sha384", "sha512"):
            return tsp.TimeStampResp({"status": {"status": "rejection", "fail_info": {"bad_alg"}}})
        return super().request_tsa_response(req)


def _tsa_signed_attrs(tsa_cert: asn1_x509.Certificate, tst_info_data: bytes, md_algorithm: str,
                      dt: datetime) -> cms.CMSAttributes:


    digest = hashlib.new(md_algorithm, tst_info_data).digest()
    return cms.CMSAttributes([
        simple_cms_attribute("content_type", "tst_info"),
        simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt.astimezone(UTC))})),
        simple_cms_attribute("signing_certificate_v2", signing_certificate_v2(tsa_cert)),
        simple_cms_attribute("message_digest", digest),
    ])
