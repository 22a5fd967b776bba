"""The node's own PKI, bootstrapped inside the HSM on first start.

A root CA certifies three subordinates: the seal CA (certificates of organisations' seals), the
issuer CA (certificates of departments that issue e-certificates) and the TSA (RFC 3161
timestamps). The token-signing key (ID/access tokens, ES256) and two secret keys -- the HMAC
key of the blind index and the AES key that protects stored personal data -- complete the set.
Every private key is generated in the token and never leaves it; certificates are kept in the
database (served to relying parties) and imported into the token beside their keys.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hsm import CreateKeyRequest, CreateSecretKeyRequest, HsmError, HsmSigner, KeyAlgorithm, KeyManager
from hsm import errors as hsm_errors
from hsm.model import SecretKind
from hsm.x509 import issue_certificate
from hutong import audit, keyring
from hutong.db import Base, Database
from hutong.errors import HutongError, NotFound

ROOT, SEAL_CA, ISSUER_CA, TSA, TOKEN = "root-ca", "seal-ca", "issuer-ca", "tsa", "token-signing"
TRUST_LIST = "trust-list"  # signs the federation trust list (used on the hub)
FEDERATION_ENC = "federation-enc"  # RSA-OAEP: receives federation assertions encrypted to this node
BLIND_INDEX, DATA_KEY = "blind-index", "data-key"
KEY_PREFIX = "node."
# check_keys searches the token for every key at least this often (seconds), even while it keeps answering.
KEY_SEARCH_EVERY = 30.0


def key_label(name: str) -> str:
    return KEY_PREFIX + name


def crl_name(ca: str, label: str) -> str:
    """Which CRL (and where it is published: ``/crl/<name>.crl``): one per CA *key*. The role's first key
    keeps the role's name (``seal-ca``, ``root-ca``); a key made by a rollover is named by its label, so
    what a previous seal CA key issued keeps a CRL signed by that key, at the URL its certificates name."""
    return ca if label == key_label(ca) else label


class NodeCertificate(Base):
    __tablename__ = "node_certificates"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_label: Mapped[str] = mapped_column(String(200))
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Profile:
    """What a certificate may be used for."""

    ca: bool
    key_usage: dict[str, bool]
    eku: tuple[x509.ObjectIdentifier, ...] = ()
    path_length: int | None = None


_NO_USAGE = dict.fromkeys(
    ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
     "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False
)
CA_PROFILE = Profile(ca=True, key_usage={**_NO_USAGE, "key_cert_sign": True, "crl_sign": True})
SUB_CA_PROFILE = Profile(ca=True, key_usage={**_NO_USAGE, "key_cert_sign": True, "crl_sign": True}, path_length=0)
TSA_PROFILE = Profile(
    ca=False, key_usage={**_NO_USAGE, "digital_signature": True}, eku=(ExtendedKeyUsageOID.TIME_STAMPING,)
)
# Seals and issuers sign documents: digitalSignature + nonRepudiation (contentCommitment).
SIGNER_PROFILE = Profile(ca=False, key_usage={**_NO_USAGE, "digital_signature": True, "content_commitment": True})
TOKEN_PROFILE = Profile(ca=False, key_usage={**_NO_USAGE, "digital_signature": True})


# What the root certifies at bootstrap (and again on rotation): profile, lifetime in years.
_SUBORDINATES: dict[str, tuple[Profile, int]] = {
    SEAL_CA: (SUB_CA_PROFILE, 10),
    ISSUER_CA: (SUB_CA_PROFILE, 10),
    TSA: (TSA_PROFILE, 10),
    TOKEN: (TOKEN_PROFILE, 5),
    TRUST_LIST: (TOKEN_PROFILE, 5),
}


def _extensions(
    profile: Profile, subject_key: PublicKeyTypes, issuer_key: PublicKeyTypes
) -> list[x509.Extension[x509.ExtensionType]]:
    exts: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(profile.ca, profile.path_length)),
        x509.Extension(x509.KeyUsage.oid, True, x509.KeyUsage(**profile.key_usage)),
        x509.Extension(
            x509.SubjectKeyIdentifier.oid, False, x509.SubjectKeyIdentifier.from_public_key(subject_key)  # type: ignore[arg-type]
        ),
        x509.Extension(
            x509.AuthorityKeyIdentifier.oid,
            False,
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key),  # type: ignore[arg-type]
        ),
    ]
    if profile.eku:
        exts.append(x509.Extension(x509.ExtendedKeyUsage.oid, True, x509.ExtendedKeyUsage(list(profile.eku))))
    return exts


def node_name(node_id: str, node_name_: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, node_name_),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, node_id),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name_} {role}"),
        ]
    )


class NodePki:
    """The node's keys and certificates; CAs that issue further certificates and CRLs."""

    def __init__(self, keys: KeyManager, db: Database, *, node_id: str, node_name: str) -> None:
        self.keys = keys
        self.db = db
        self.node_id = node_id
        self.node_name = node_name
        self.registry = keyring.KeyRegistry(db)
        self._signers: dict[str, HsmSigner] = {}
        # check_keys: (when the keys were last searched and found, the registry version, the previous check)
        self._keys_seen: tuple[float, int, float] | None = None
        self._cross: tuple[keyring.Snapshot, list[x509.Certificate]] | None = None  # see cross_certificates

    # -- bootstrap -------------------------------------------------------------------------
    def bootstrap(self) -> bool:
        """Create whatever is missing. Returns True if anything was created."""
        created = False
        have = {e.role for e in self.registry.snapshot().entries}
        now = datetime.now(UTC) - timedelta(minutes=5)
        if ROOT not in have:
            self._make(ROOT, CA_PROFILE, issuer=None, years=20, not_before=now)
            created = True
        for name, (profile, years) in _SUBORDINATES.items():
            if name not in have:
                self._make(name, profile, issuer=ROOT, years=years, not_before=now)
                created = True
        # Searches, not list_keys(): reading every key's attributes can corrupt one another process is generating.
        wanted = [("private", key_label(FEDERATION_ENC)), ("secret", key_label(BLIND_INDEX)),
                  ("secret", key_label(DATA_KEY))]
        existing = {label for _, label in self.keys.labels_present(wanted)}
        if FEDERATION_ENC not in have:
            if key_label(FEDERATION_ENC) not in existing:
                self.keys.create_key(CreateKeyRequest(label=key_label(FEDERATION_ENC),
                                                      algorithm=KeyAlgorithm.RSA_2048, usage="decrypt"))
            self._register(FEDERATION_ENC, key_label(FEDERATION_ENC), "pki.decrypt-key.create")
            created = True
        secret_keys: tuple[tuple[str, SecretKind], ...] = ((BLIND_INDEX, "hmac"), (DATA_KEY, "aes"))
        for name, kind in secret_keys:
            if name not in have:
                if key_label(name) not in existing:
                    self.keys.create_secret_key(CreateSecretKeyRequest(label=key_label(name), kind=kind))
                self._register(name, key_label(name), "pki.secret-key.create")
                created = True
        return created

    def _register(self, role: str, label: str, action: str) -> None:
        with self.db.session() as s:
            keyring.add(s, label=label, role=role, state="active", activated=True)
            audit.append(s, actor="node", action=action, target=label)
        self.registry.invalidate()

    def _make(self, name: str, profile: Profile, *, issuer: str | None, years: int, not_before: datetime) -> None:
        label = key_label(name)
        info = self.keys.get_or_create_key(CreateKeyRequest(label=label, algorithm=KeyAlgorithm.EC_P256))
        subject = node_name(self.node_id, self.node_name, name)
        cert = self._sign(
            subject=subject,
            public_key=info.public_key,
            issuer=issuer,
            profile=profile,
            not_before=not_before,
            not_after=not_before + timedelta(days=365 * years),
        )
        self.keys.import_certificate(label, cert)
        with self.db.session() as s:
            if s.get(NodeCertificate, name) is None:
                s.add(NodeCertificate(name=name, key_label=label, pem=_pem(cert), created_at=datetime.now(UTC)))
            keyring.add(s, label=label, role=name, state="active", certificate_pem=_pem(cert), activated=True)
            audit.append(s, actor="node", action="pki.certificate.create", target=name,
                         details={"serial": format(cert.serial_number, "x"), "subject": subject.rfc4514_string()})
        self.registry.invalidate()

    def _sign(
        self,
        *,
        subject: x509.Name,
        public_key: PublicKeyTypes,
        issuer: str | None,
        profile: Profile,
        not_before: datetime,
        not_after: datetime,
        extra: Sequence[x509.Extension[x509.ExtensionType]] = (),
        issuer_label: str | None = None,
        issuer_certificate: x509.Certificate | None = None,
    ) -> x509.Certificate:
        if issuer is None:  # self-signed: the root being made
            signer, issuer_name, issuer_key = self.signer_for_label(key_label(ROOT)), None, public_key
        elif issuer_label is not None and issuer_certificate is not None:  # a root not registered yet
            signer, issuer_name, issuer_key = self.signer_for_label(issuer_label), issuer_certificate.subject, \
                issuer_certificate.public_key()
            not_after = min(not_after, issuer_certificate.not_valid_after_utc)
        else:
            signer, ca = self.signing_pair_of(issuer, issuer_label)  # key and certificate agree
            issuer_name, issuer_key = ca.subject, ca.public_key()
            not_after = min(not_after, ca.not_valid_after_utc)
        return issue_certificate(
            issuer_signer=signer,
            issuer_name=issuer_name,
            subject=subject,
            subject_public_key=public_key,
            serial=secrets.randbits(127) | 1,
            not_before=not_before,
            not_after=not_after,
            extensions=[*_extensions(profile, public_key, issuer_key), *extra],
        )

    def certify(self, name: str, public_key: PublicKeyTypes, *,
                root: tuple[str, x509.Certificate] | None = None) -> x509.Certificate:
        """A certificate for a new key of the subordinate role ``name`` (rollover), under the active root or
        ``root`` (the label and certificate of a root being prepared: its successors of every subordinate)."""
        profile, years = _SUBORDINATES[name]
        now = datetime.now(UTC) - timedelta(minutes=5)
        return self._sign(subject=node_name(self.node_id, self.node_name, name), public_key=public_key,
                          issuer=ROOT, profile=profile, not_before=now, not_after=now + timedelta(days=365 * years),
                          issuer_label=root[0] if root else None, issuer_certificate=root[1] if root else None)

    def new_root(self, label: str, public_key: PublicKeyTypes) -> tuple[x509.Certificate, x509.Certificate]:
        """A successor root (key ``label``, already in the HSM): its self-signed certificate and the cross
        certificate by which the active root vouches for it (same subject and key, valid no longer than the
        active root). A verifier that knows only the old root reaches the new one through the cross certificate.
        The subject names the generation so that the two roots never share a name."""
        now = datetime.now(UTC) - timedelta(minutes=5)
        subject = node_name(self.node_id, self.node_name, f"{ROOT} {label.rsplit('.', 1)[-1]}")
        exts = _extensions(CA_PROFILE, public_key, public_key)
        self_signed = issue_certificate(issuer_signer=self.signer_for_label(label), issuer_name=None, subject=subject,
                                        subject_public_key=public_key, serial=secrets.randbits(127) | 1,
                                        not_before=now, not_after=now + timedelta(days=365 * 20), extensions=exts)
        signer, old = self.signing_pair(ROOT)
        cross = issue_certificate(issuer_signer=signer, issuer_name=old.subject, subject=subject,
                                  subject_public_key=public_key, serial=secrets.randbits(127) | 1, not_before=now,
                                  not_after=min(now + timedelta(days=365 * 20), old.not_valid_after_utc),
                                  extensions=_extensions(CA_PROFILE, public_key, old.public_key()))
        return self_signed, cross

    def cross_certificates(self) -> list[x509.Certificate]:
        """Cross certificates between this node's roots (old root vouching for its successor) of the roots
        still published: verifiers that know only one root build a path to the other through them."""
        snapshot = self.registry.snapshot()
        held = self._cross
        if held is None or held[0] is not snapshot:  # a cross certificate is written with the registry change
            published = {e.label for e in snapshot.published(ROOT)}  # (a new root) that makes a new snapshot
            with self.db.session(readonly=True) as s:
                rows = s.scalars(select(NodeCertificate).where(NodeCertificate.name.like(f"{ROOT}.cross.%"))).all()
            held = self._cross = (snapshot, [load_pem(r.pem) for r in rows if r.key_label in published])
        now = datetime.now(UTC)
        return [c for c in held[1] if c.not_valid_after_utc > now]

    def _audit(self, action: str, target: str) -> None:
        with self.db.session() as s:
            audit.append(s, actor="node", action=action, target=target)

    # -- use -------------------------------------------------------------------------------
    def _active(self, role: str) -> keyring.KeyEntry:
        entry = self.registry.snapshot().active(role)
        if entry is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", f"this node has no active {role} key")
        return entry

    def label(self, role: str) -> str:
        """The HSM label of the active key of ``role`` (labels never change; the registry says which is active)."""
        return self._active(role).label

    def certificate(self, name: str) -> x509.Certificate:
        cert = self._active(name).certificate
        if cert is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", f"this node has no {name} certificate")
        return cert

    def signing_pair(self, name: str) -> tuple[HsmSigner, x509.Certificate]:
        """The active key of ``name`` and its certificate, from one registry snapshot."""
        entry = self._active(name)
        if entry.certificate is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", f"this node has no {name} certificate")
        return self.signer_for_label(entry.label), entry.certificate

    def signing_pair_of(self, role: str, label: str | None = None) -> tuple[HsmSigner, x509.Certificate]:
        """The key ``label`` of ``role`` (default: the active one) and its certificate. A pending or retired
        CA key still signs what belongs to what it issued: its CRL, its OCSP responder's certificate."""
        if label is None:
            return self.signing_pair(role)
        entry = self.registry.snapshot().entry(label)
        if entry is None or entry.role != role or entry.certificate is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", f"{label} is not a {role} key of this node")
        return self.signer_for_label(label), entry.certificate

    def with_retired(self, name: str) -> list[x509.Certificate]:
        """The active certificate of ``name``, then its pending successor and the retired ones still needed.

        Verifiers accept all of them: what a retired key signed keeps verifying, and a successor is known
        everywhere before anything is signed with it. JWKS, trust anchors and the trust list publish them.
        """
        now = datetime.now(UTC)
        certs = [e.certificate for e in self.registry.snapshot().published(name, now)]
        return [c for c in certs if c is not None and c.not_valid_after_utc > now]

    def published_labels(self, role: str) -> list[str]:
        """Labels of the keys of ``role`` to accept (active first): decryption tries them in turn."""
        return [e.label for e in self.registry.snapshot().published(role)]

    def issuer_chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The node CA certificate (active, pending or retired) that issued ``cert``, then the root.

        After a CA rollover, an end-entity certificate issued by the previous key still needs the previous
        CA certificate in its chain."""
        ca = self._issuer_of(cert)
        if ca is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", "no certificate of this node issued that certificate")
        if ca.subject == ca.issuer:
            return [ca]
        root = self._issuer_of(ca)  # after a root rollover: the root that certified this CA, not the active one
        return [ca, root or self.certificate(ROOT)]

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The node certificate (any role, any state) whose name and key identifier issued ``cert``."""
        aki = _aki(cert)
        for e in self.registry.snapshot().entries:
            ca = e.certificate
            if ca is not None and ca.subject == cert.issuer and (aki is None or aki == _ski(ca)):
                return ca
        return None

    def signer(self, name: str) -> HsmSigner:
        return self.signer_for_label(self.label(name))

    def federation_decrypt(self, encrypted_key: bytes) -> bytes:
        """RSA-OAEP-decrypt a federation assertion's content key with the active decryption key or, during a
        rollover, the pending or retired one (senders use whichever key their copy of the trust list names)."""
        failure: HutongError | HsmError | None = None
        for label in self.published_labels(FEDERATION_ENC):
            try:
                return self.keys.decrypt_rsa_oaep(label, encrypted_key, required=True)
            except HsmError as err:
                if err.reason != "HSM_DECRYPT_FAILED":
                    raise
                failure = err
        raise failure or NotFound("NODE_CERTIFICATE_NOT_FOUND", "this node has no federation decryption key")

    def signer_for_label(self, label: str) -> HsmSigner:
        # The node cannot work without its own keys: a missing one means the token is unavailable.
        signer = self._signers.get(label)
        if signer is None:
            signer = self._signers[label] = self.keys.signer(label, required=True)
        return signer

    def check_keys(self) -> None:
        """Readiness: the token answers and every key the node uses or publishes (active, pending) -- and a
        retired data key still needed to decrypt -- is on it.

        Raises HSM_UNAVAILABLE otherwise; the search lets the key manager re-open the module when the token has
        come back. The search (one per key, ~9 ms of CPU for 13 keys with the GIL held: a stall of every call in
        the worker, every 2 s; reading every key's label instead took ~3.6 ms but corrupted keys another process
        was generating, see KeyManager.labels_present) is skipped while nothing can have changed: the last
        search passed less than KEY_SEARCH_EVERY ago, the node's key registry is the version it checked, and the
        token has answered an operation since the previous check -- on an idle node, the check's own probe: one
        HMAC with the blind-index key (``KeyManager.probe``). A token taken away answers nothing (its cached
        handles fail), so the next check searches and fails as before. An idle node searched every time: ~9 ms
        of CPU every 2 s in each worker, the largest part of an idle node's CPU, waking beside the busy workers.
        """
        now, version = time.monotonic(), self.registry.snapshot().version
        seen = self._keys_seen
        self._keys_seen = None
        if seen is not None and now - seen[0] < KEY_SEARCH_EVERY and seen[1] == version \
                and (self.keys.answered_since(seen[2]) or self.keys.probe(self.label(BLIND_INDEX))):
            self._keys_seen = (seen[0], version, time.monotonic())  # the probe's answer does not count next time
            return
        self._search_keys()
        self._keys_seen = (now, version, time.monotonic())  # the search's own answers do not count

    def _search_keys(self) -> None:
        wanted = []
        for e in self.registry.snapshot().entries:
            if e.state == "retired" and not (e.role in (DATA_KEY, BLIND_INDEX) and e.still_needed()):
                continue  # a retired data key still decrypts (blind-index key: finds) what it made (until redone)
            wanted.append(("secret" if e.role in (BLIND_INDEX, DATA_KEY) else "private", e.label))
        # A search per key, never reading every key's attributes (that can corrupt a key another process is
        # generating: see KeyManager.labels_present).
        present = self.keys.labels_present(wanted, required=True)
        for kind, label in wanted:
            if (kind, label) not in present:
                raise hsm_errors.unavailable(f"the token has no {kind} key labelled {label!r}")

    def chain(self, name: str) -> list[x509.Certificate]:
        """The certificate of ``name`` followed by the root that certified it (leaf first)."""
        cert = self.certificate(name)
        return [cert] if name == ROOT else [cert, self._issuer_of(cert) or self.certificate(ROOT)]

    def issue(
        self,
        *,
        ca: str,
        subject: x509.Name,
        public_key: PublicKeyTypes,
        years: int = 3,
        profile: Profile = SIGNER_PROFILE,
        extra: Sequence[x509.Extension[x509.ExtensionType]] = (),
        ca_label: str | None = None,
    ) -> x509.Certificate:
        """Issue an end-entity certificate from one of the node's CAs (seal CA, issuer CA): its active key,
        or its key ``ca_label`` (the one whose CRL the certificate names)."""
        now = datetime.now(UTC) - timedelta(minutes=5)
        return self._sign(subject=subject, public_key=public_key, issuer=ca, profile=profile,
                          not_before=now, not_after=now + timedelta(days=365 * years), extra=extra,
                          issuer_label=ca_label)

    def crl(self, *, ca: str, revoked: Iterable[tuple[int, datetime]], number: int,
            next_update: timedelta = timedelta(days=1), label: str | None = None) -> x509.CertificateRevocationList:
        """A CRL of ``ca`` listing ``(serial, revocation time)`` pairs, signed in the HSM by the active key of
        ``ca`` or its key ``label`` (a pending or retired one: what it issued needs its CRL)."""
        signer, ca_cert = self.signing_pair_of(ca, label)
        now = datetime.now(UTC).replace(microsecond=0)
        entries = [
            {"user_certificate": serial, "revocation_date": asn1_x509.Time({"utc_time": when.astimezone(UTC)})}
            for serial, when in revoked
        ]
        tbs = asn1_crl.TbsCertList(
            {
                "version": "v2",
                "signature": {"algorithm": "sha256_ecdsa"},
                "issuer": asn1_x509.Name.load(ca_cert.subject.public_bytes()),
                "this_update": asn1_x509.Time({"utc_time": now}),
                "next_update": asn1_x509.Time({"utc_time": now + next_update}),
                "revoked_certificates": entries or None,
                "crl_extensions": [
                    {"extn_id": "crl_number", "critical": False, "extn_value": number},
                    {
                        "extn_id": "authority_key_identifier",
                        "critical": False,
                        "extn_value": {"key_identifier": x509.SubjectKeyIdentifier.from_public_key(
                            ca_cert.public_key()).digest},  # type: ignore[arg-type]
                    },
                ],
            }
        )
        signature = signer.sign(tbs.dump(), hash_name="sha256")
        crl = asn1_crl.CertificateList(
            {"tbs_cert_list": tbs, "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature": signature}
        )
        return x509.load_der_x509_crl(crl.dump())

    def blind_index(self, value: str) -> str:
        """Deterministic keyed hash of a personal identifier (HMAC key in the HSM), under the active key: what
        is stored. Look-ups take ``blind_indexes`` (every key in use during a rollover)."""
        return self.blind_index_with(self.label(BLIND_INDEX), value)

    def blind_index_with(self, label: str, value: str) -> str:
        return blind_index_value(label, self.keys.hmac_sha256(label, value.encode(), required=True))

    def blind_indexes(self, value: str) -> tuple[str, ...]:
        """``value``'s index under every blind-index key a stored row may be under (the active key first, then
        a pending and a retired one still in use): look-ups match ``IN`` these, so a row indexed under either key
        is found during a rollover (``hutong.reindex``). One HSM call per key; one outside rollovers."""
        return tuple(self.blind_index_with(label, value) for label in self.blind_index_labels())

    def blind_index_labels(self) -> list[str]:
        snap = self.registry.snapshot()
        active = snap.active(BLIND_INDEX)
        if active is None:
            raise NotFound("NODE_CERTIFICATE_NOT_FOUND", f"this node has no active {BLIND_INDEX} key")
        return [active.label, *(e.label for e in snap.published(BLIND_INDEX) if e.label != active.label)]

    def pseudonym(self, value: str) -> str:
        """A keyed hash that never changes (the blind-index role's first key, whatever key is active): what
        is shown outside the node as an identifier (the pairwise ``sub`` a platform keeps) must survive a
        rollover, so it is not a blind index; that key is kept for it (and for ``protect_deterministic``)."""
        return self.blind_index_with(key_label(BLIND_INDEX), value)

    def protect(self, plaintext: bytes, *, aad: bytes = b"") -> bytes:
        """AES-GCM with the active data-protection key; the blob names that key (``data_key_blob``)."""
        return self.protect_with(self.label(DATA_KEY), plaintext, aad=aad)

    def protect_with(self, label: str, plaintext: bytes, *, aad: bytes = b"") -> bytes:
        return data_key_blob(label, self.keys.encrypt(label, plaintext, aad=aad, required=True))

    def unprotect(self, blob: bytes, *, aad: bytes = b"") -> bytes:
        """Decrypt with whichever data key made ``blob`` (active, pending or retired: during a rollover both)."""
        label, inner = self.data_key_of(blob)
        return self.keys.decrypt(label, inner, aad=aad, required=True)

    def data_key_of(self, blob: bytes) -> tuple[str, bytes]:
        """The label of the data key that made ``blob``, and the key's own blob (the HSM's AES-GCM format)."""
        if blob[:1] != DATA_KEY_ENVELOPE:
            return key_label(DATA_KEY), blob  # the role's first key: blobs made before rollovers existed
        kid, inner = blob[1:1 + DATA_KEY_ID_LEN], blob[1 + DATA_KEY_ID_LEN:]
        for attempt in range(2):
            for e in self.registry.snapshot().of(DATA_KEY):
                if data_key_id(e.label) == kid:
                    return e.label, inner
            if attempt == 0:  # made by a key this process has not seen yet (another worker's newer snapshot)
                self.registry.invalidate()
        raise hsm_errors.decrypt_failed("the encrypted data names a data-protection key this node does not have")

    def protect_deterministic(self, value: str, *, aad: bytes, labels: Sequence[str] | None = None) -> list[bytes]:
        """``protect`` with a synthetic IV (HMAC of the value, blind-index key): equal values give equal blobs
        under one data key, so the blob is its own blind index (equality lookups, unique keys) and still
        decrypts to the value. One blob per label of ``labels`` (default: the active data key), each the HSM's
        blob (it does not name its key: ``hutong.business_codes`` stores which key made it).

        The IV is always made with the blind-index role's first key: a value must encrypt the same way under a
        data key whatever the blind-index key of the day is. Lookups during a data key rollover try the value
        under every live data key (``deterministic_keys``); ``hutong.rekey`` moves the stored values on."""
        iv = self.keys.hmac_sha256(key_label(BLIND_INDEX), b"siv:" + aad + b":" + value.encode(), required=True)[:12]
        return [self.keys.encrypt(label, value.encode(), aad=aad, iv=iv, required=True)
                for label in (labels if labels is not None else [self.label(DATA_KEY)])]

    def deterministic_keys(self) -> list[str]:
        """The data keys a deterministically protected value may be stored under now: the active key first,
        then the pending one (another worker may already use it) and the retired ones still needed."""
        return [e.label for e in self.registry.snapshot().published(DATA_KEY)] or [key_label(DATA_KEY)]

    def data_keys(self) -> list[str]:
        """Every data key the registry knows (any state): what a stored value may name."""
        return [e.label for e in self.registry.snapshot().of(DATA_KEY)] or [key_label(DATA_KEY)]

    def data_key_tag(self, label: str) -> int:
        """The byte a deterministically protected value stores to say which data key made it (see
        ``hutong.business_codes``): the first key's is the HSM blob's own version byte (values stored before
        rollovers existed name it already), another key's the first byte of its id. Two keys may share a tag:
        reading tries each, and AES-GCM's tag tells which one made the value."""
        return 1 if label == key_label(DATA_KEY) else data_key_id(label)[0]

    def refresh_keys(self) -> None:
        """Re-read the key registry at the next use (a value names a key this process has not seen yet)."""
        self.registry.invalidate()

    def decrypt_with(self, label: str, blob: bytes, *, aad: bytes) -> bytes:
        """The HSM's AES-GCM decryption of ``blob`` (the HSM's format) under the data key ``label``."""
        return self.keys.decrypt(label, blob, aad=aad, required=True)


# A blind index under the role's first key is the HMAC in hex (64 characters, as always); under a successor it is
# BLIND_INDEX_MARK, the key's id (7 hex) and the HMAC's first 224 bits in hex: the same 64 characters, so it fits
# every index column, and never equal to a first-key value ("k" is no hex digit). The value names its key.
BLIND_INDEX_MARK = "k"
BLIND_INDEX_ID_LEN = 7


def blind_index_id(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[:BLIND_INDEX_ID_LEN]


def blind_index_prefix(label: str) -> str:
    """What every index made by ``label`` starts with ("" for the first key: its values are bare hex)."""
    return "" if label == key_label(BLIND_INDEX) else BLIND_INDEX_MARK + blind_index_id(label)


def blind_index_value(label: str, mac: bytes) -> str:
    prefix = blind_index_prefix(label)
    return mac.hex() if not prefix else prefix + mac.hex()[:64 - len(prefix)]


def made_by(index: str, label: str) -> bool:
    """Whether the stored blind index ``index`` was made by the key ``label``."""
    prefix = blind_index_prefix(label)
    return index.startswith(prefix) if prefix else not index.startswith(BLIND_INDEX_MARK)


# A blob made by a data key other than the role's first one: 0x02 || key id || the HSM's blob (0x01 || IV || ...).
DATA_KEY_ENVELOPE = b"\x02"
DATA_KEY_ID_LEN = 8


def data_key_id(label: str) -> bytes:
    """A short, stable id of a data key (labels never change): what a blob carries to name its key."""
    return hashlib.sha256(label.encode()).digest()[:DATA_KEY_ID_LEN]


def data_key_blob(label: str, blob: bytes) -> bytes:
    """``blob`` (the HSM's AES-GCM output under ``label``) as stored: the first key's blobs stay as they always
    were; a successor's carry its id, so every worker finds the key without trying each one."""
    return blob if label == key_label(DATA_KEY) else DATA_KEY_ENVELOPE + data_key_id(label) + blob


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


pem = _pem


def load_pem(text: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode())


def record_current_certificate(s: Session, role: str, label: str, pem_text: str) -> None:
    """Keep ``node_certificates`` (the current certificate of each role, and earlier ones as
    ``<role>.retired-<time>``) in step with the key registry, inside the activation's transaction."""
    row = s.get(NodeCertificate, role)
    now = datetime.now(UTC)
    if row is not None:
        s.add(NodeCertificate(name=f"{role}.retired-{now.strftime('%Y%m%dT%H%M%S%fZ')}", key_label=row.key_label,
                              pem=row.pem, created_at=row.created_at))
        row.key_label, row.pem, row.created_at = label, pem_text, now
    else:
        s.add(NodeCertificate(name=role, key_label=label, pem=pem_text, created_at=now))


def certificates_in(session: Session) -> list[NodeCertificate]:
    return list(session.scalars(select(NodeCertificate).order_by(NodeCertificate.name)))
