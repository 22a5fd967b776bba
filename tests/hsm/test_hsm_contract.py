"""The key manager's contract, run over every KeyAlgorithm against a real SoftHSM2 token."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from hsm import CreateKeyRequest, HsmConfig, HsmSigner, KeyAlgorithm, KeyInfo, KeyManager, KeyRef, parse
from hsm.errors import AlreadyExists, InvalidArgument, NotFound
from hsm.x509 import build_csr, issue_certificate

ALGORITHMS = list(KeyAlgorithm)


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hutong test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ca_extensions(ca: bool) -> list[x509.Extension[x509.ExtensionType]]:
    return [
        x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(ca, None)),
        x509.Extension(
            x509.KeyUsage.oid,
            True,
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
        ),
    ]


def self_signed(signer: HsmSigner) -> x509.Certificate:
    now = datetime.now(UTC)
    return issue_certificate(
        issuer_signer=signer,
        issuer_name=None,
        subject=name(signer.key.label),
        subject_public_key=signer.public_key,
        serial=0x1234,
        not_before=now,
        not_after=now + timedelta(days=30),
        extensions=ca_extensions(True),
    )


@pytest.fixture(scope="module")
def shared_km(make_token: Callable[[], HsmConfig]) -> Iterator[KeyManager]:
    manager = KeyManager(make_token())
    yield manager
    manager.close()


@pytest.fixture(scope="module", params=ALGORITHMS, ids=[a.value for a in ALGORITHMS])
def pair(request: pytest.FixtureRequest, shared_km: KeyManager) -> KeyInfo:
    """One key per algorithm, generated once per module (RSA-3072 generation takes seconds)."""
    alg: KeyAlgorithm = request.param
    return shared_km.create_key(CreateKeyRequest(label=f"contract-{alg.value}", algorithm=alg))


def test_create_reports_a_sensitive_non_extractable_key(pair: KeyInfo, shared_km: KeyManager) -> None:
    assert pair.sensitive and pair.always_sensitive and pair.never_extractable and pair.local
    assert not pair.extractable
    assert len(pair.id) == 16
    assert pair.algorithm is not None and pair.kind == pair.algorithm.value
    ref = parse(pair.uri)
    assert (ref.label, ref.id, ref.token, ref.object_type) == (
        pair.label,
        pair.id,
        shared_km.config.token_label,
        "private",
    )
    assert pair.key_gen_mechanism in (
        "CKM_EC_KEY_PAIR_GEN",
        "CKM_ECDSA_KEY_PAIR_GEN",
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
    )


def test_existing_label_is_refused(pair: KeyInfo, shared_km: KeyManager) -> None:
    assert pair.algorithm is not None
    with pytest.raises(AlreadyExists) as exc:
        shared_km.create_key(CreateKeyRequest(label=pair.label, algorithm=pair.algorithm))
    assert exc.value.reason == "HSM_KEY_EXISTS"


def test_found_by_label_id_and_uri(pair: KeyInfo, shared_km: KeyManager) -> None:
    for ref in (
        pair.label,
        KeyRef(id=pair.id),
        KeyRef(label=pair.label, id=pair.id),
        pair.uri,
        parse(pair.uri),
    ):
        assert shared_km.get_key(ref) == pair
    with pytest.raises(NotFound):
        shared_km.get_key(KeyRef(label=pair.label, id=b"\x00" * 16))  # both must match


def test_public_key_export(pair: KeyInfo, shared_km: KeyManager) -> None:
    pem = shared_km.public_key_pem(pair.uri)
    assert serialization.load_pem_public_key(pem) == pair.public_key == shared_km.public_key(pair.label)


def test_signatures_verify(pair: KeyInfo, shared_km: KeyManager, verify: Callable[..., None]) -> None:
    signer = shared_km.signer(pair.label)
    data = b"the quick brown fox"
    for hash_name in ("sha256", "sha384", "sha512"):
        verify(pair.public_key, signer.sign(data, hash_name=hash_name), data, hash_name=hash_name)
        digest = hashlib.new(hash_name, data).digest()
        verify(pair.public_key, signer.sign_digest(digest, hash_name=hash_name), data, hash_name=hash_name)
    if pair.algorithm is not None and pair.algorithm.is_ec:
        raw = signer.sign_raw_ecdsa(data)
        size = (pair.public_key.curve.key_size + 7) // 8  # type: ignore[union-attr]
        assert len(raw) == 2 * size
        r, s = decode_dss_signature(signer.sign(data))  # DER decodes to (r, s)
        assert r > 0 and s > 0
        der = encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))
        verify(pair.public_key, der, data)
        digest_raw = signer.sign_digest_raw_ecdsa(hashlib.sha256(data).digest())
        assert len(digest_raw) == 2 * size
    else:
        for hash_name in ("sha256", "sha384"):
            sig = signer.sign(data, hash_name=hash_name, rsa_padding="pss")
            verify(pair.public_key, sig, data, hash_name=hash_name, rsa_padding="pss")
            digest = hashlib.new(hash_name, data).digest()
            sig = signer.sign_digest(digest, hash_name=hash_name, rsa_padding="pss")
            verify(pair.public_key, sig, data, hash_name=hash_name, rsa_padding="pss")


def test_csr_verifies(pair: KeyInfo, shared_km: KeyManager) -> None:
    exts = ca_extensions(False)
    csr = build_csr(shared_km.signer(pair.label), name("csr " + pair.label), extensions=exts)
    assert csr.is_signature_valid
    assert csr.subject == name("csr " + pair.label)
    assert csr.public_key() == pair.public_key
    assert [e.value for e in csr.extensions] == [e.value for e in exts]


def test_certificates_issued_and_verified(pair: KeyInfo, shared_km: KeyManager, tmp_path: Path) -> None:
    signer = shared_km.signer(pair.label)
    root = self_signed(signer)
    root.verify_directly_issued_by(root)
    leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()  # the subject's key may live anywhere
    now = datetime.now(UTC)
    leaf = issue_certificate(
        issuer_signer=signer,
        issuer_name=root.subject,
        subject=name("leaf"),
        subject_public_key=leaf_key,
        serial=(1 << 158) + 7,
        not_before=now,
        not_after=now + timedelta(days=1),
        extensions=ca_extensions(False),
    )
    leaf.verify_directly_issued_by(root)
    assert leaf.serial_number == (1 << 158) + 7
    assert leaf.issuer == root.subject and leaf.extensions.get_extension_for_class(x509.KeyUsage).critical
    openssl = shutil.which("openssl")
    if openssl:
        (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        out = subprocess.run(
            [openssl, "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_certificate_import_and_get(pair: KeyInfo, shared_km: KeyManager) -> None:
    cert = self_signed(shared_km.signer(pair.label))
    shared_km.import_certificate(pair.label, cert)
    assert shared_km.get_certificate(pair.uri) == cert
    assert shared_km.get_key(pair.label).has_certificate
    renewed = self_signed(shared_km.signer(pair.label))
    shared_km.import_certificate(KeyRef(id=pair.id), renewed)  # replaces, does not pile up
    assert shared_km.get_certificate(pair.label) == renewed
    other = shared_km.get_key("contract-ec-p256") if pair.label != "contract-ec-p256" else None
    if other is not None:
        with pytest.raises(InvalidArgument) as exc:
            shared_km.import_certificate(other.label, renewed)
        assert exc.value.reason == "HSM_CERTIFICATE_MISMATCH"


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.value for a in ALGORITHMS])
def test_destroy_removes_every_object(algorithm: KeyAlgorithm, km: KeyManager) -> None:
    info = km.create_key(CreateKeyRequest(label="doomed", algorithm=algorithm, key_id=b"\x01\x02"))
    km.import_certificate("doomed", self_signed(km.signer("doomed")))
    km.destroy_key(info.uri)
    for ref in ("doomed", KeyRef(id=b"\x01\x02")):
        with pytest.raises(NotFound) as exc:
            km.get_key(ref)
        assert exc.value.reason == "HSM_KEY_NOT_FOUND"
    assert [k.label for k in km.list_keys()] == []
    # The label is free again (public key and certificate objects went too).
    km.create_key(CreateKeyRequest(label="doomed", algorithm=KeyAlgorithm.EC_P256))


def test_no_certificate_yet(km: KeyManager) -> None:
    km.create_key(CreateKeyRequest(label="bare", algorithm=KeyAlgorithm.EC_P256))
    assert km.get_certificate("bare") is None
    assert not km.get_key("bare").has_certificate
