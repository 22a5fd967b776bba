"""The federation's trust list: what every member node needs to verify every other member offline.

The hub signs the list (compact JWS, ES256, key in the hub's HSM, ``x5c`` chaining to the hub's
root CA, which members are given out of band). Members accept a list only if it verifies against
that root and its sequence number is newer than the one they hold; they keep the last good copy
on disk, warn well before ``next_update`` and fail closed (``TRUST_LIST_STALE``) once it is older
than ``next_update`` plus a grace period -- a list that silently expires takes verifiers down.

Signing-key pivot (the EU LOTL idea): once a member holds a list, it accepts the next one only if it is
signed by the key that signed the list held, or by a successor that list announced (``next_signers``,
certificates of the hub's pending trust-list keys). The hub announces its successor before switching to it;
members that fetched the announcement follow the switch without any reconfiguration, and a list signed by
any other key -- even one the hub root certified -- is refused (``TRUST_LIST_SIGNER_NOT_ANNOUNCED``).

Hub root rollover: every list names the hub's roots in force (``hub_roots``: the active one and, during a
rollover, its successor or predecessor). A member learns them from the lists it accepts (kept beside the list,
``trust-list.hub-roots.pem``), so lists signed under the hub's new root -- and the hub's TLS certificate it re-issues --
are accepted without handing the new root to every member first.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from hsm import HsmSigner
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from hutong.verify import jose

log = logging.getLogger("hutong.federation")

TYP = "hutong-trust-list+jwt"
DEFAULT_VALIDITY = timedelta(days=7)
DEFAULT_WARN_BEFORE = timedelta(days=2)
DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class MemberEntry:
    """One member node as the trust list describes it (all certificates PEM)."""

    node_id: str
    name: str
    endpoints: list[str]
    root_ca: str
    seal_ca: str
    issuer_ca: str
    tsa: str
    jwks: dict[str, Any]
    enc_jwk: dict[str, str] = field(default_factory=dict)  # RSA-OAEP key federation assertions are encrypted to
    type_mapping: dict[str, str] = field(default_factory=dict)  # local type code -> national type code
    issuer_certificates: list[str] = field(default_factory=list)
    # Key rollover: further certificates of a role ("root", "seal", "issuer", "tsa") to accept beside the current
    # one -- its announced successor and predecessors whose artefacts are still around (PEM).
    previous: dict[str, list[str]] = field(default_factory=dict)
    # USCC region-code prefixes (characters 3-8) whose organisations have this member as home node
    home_regions: list[str] = field(default_factory=list)
    # Administrative-division prefixes of citizen ID numbers (their first 6 digits) whose holders have this member
    # as home node: assertions about them from any other member are refused (``identity_svc.homes``)
    person_regions: list[str] = field(default_factory=list)
    log_key: str = ""  # verifier key of the node's audit log (checkpoints), see hutong.tlog.note
    # Log key rollover: its announced successor and the retired keys whose checkpoints stay valid
    previous_log_keys: list[str] = field(default_factory=list)
    # Root rollover: cross certificates (PEM) by which the node's old root vouches for its new one
    cross_certificates: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MemberEntry:
        try:
            entry = cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})  # type: ignore[arg-type]
            for pem in (entry.root_ca, entry.seal_ca, entry.issuer_ca, entry.tsa):
                x509.load_pem_x509_certificate(pem.encode())
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument("MEMBER_DESCRIPTOR_INVALID", f"member descriptor is incomplete or malformed: {exc}") \
                from None
        return entry

    def certificates(self, name: str) -> list[x509.Certificate]:
        pem = {"root": self.root_ca, "seal": self.seal_ca, "issuer": self.issuer_ca, "tsa": self.tsa}[name]
        return [x509.load_pem_x509_certificate(p.encode()) for p in (pem, *self.previous.get(name, ()))]

    def log_keys(self) -> list[str]:
        """Every verifier key of the node's audit log to accept: the current one first."""
        return [k for k in (self.log_key, *self.previous_log_keys) if k]

    def cross(self) -> list[x509.Certificate]:
        """The node's root cross certificates: intermediates for a verifier that knows one root only."""
        return [x509.load_pem_x509_certificate(p.encode()) for p in self.cross_certificates]


@dataclass(frozen=True)
class TrustList:
    sequence: int
    hub_id: str
    issued_at: datetime
    next_update: datetime
    members: tuple[MemberEntry, ...]
    witness_key: str = ""  # the hub's witness verifier key: cosigns members' audit-log checkpoints
    # The hub's log key rolling over: its successor (announced before it cosigns) and retired witness keys
    other_witness_keys: tuple[str, ...] = ()
    # Pivot: certificates (PEM) of the hub's announced successor trust-list signing keys
    next_signers: tuple[str, ...] = ()
    hub_roots: tuple[str, ...] = ()  # the hub's roots in force (PEM), new and old during a hub root rollover

    def witness_keys(self) -> list[str]:
        """The witness keys whose cosignature a member accepts (none when the list names no witness)."""
        return [self.witness_key, *self.other_witness_keys] if self.witness_key else []

    def member(self, node_id: str) -> MemberEntry:
        for m in self.members:
            if m.node_id == node_id:
                return m
        raise NotFound("NODE_NOT_IN_TRUST_LIST", f"node {node_id!r} is not a member of the federation")

    def claims(self) -> dict[str, Any]:
        return {
            "seq": self.sequence,
            "iss": self.hub_id,
            "iat": int(self.issued_at.timestamp()),
            "next_update": int(self.next_update.timestamp()),
            "members": [asdict(m) for m in self.members],
            **({"witness_key": self.witness_key} if self.witness_key else {}),
            **({"other_witness_keys": list(self.other_witness_keys)} if self.other_witness_keys else {}),
            **({"next_signers": list(self.next_signers)} if self.next_signers else {}),
            **({"hub_roots": list(self.hub_roots)} if self.hub_roots else {}),
        }

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> TrustList:
        try:
            return cls(
                sequence=int(claims["seq"]),
                hub_id=str(claims["iss"]),
                issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                next_update=datetime.fromtimestamp(int(claims["next_update"]), UTC),
                members=tuple(MemberEntry.from_dict(m) for m in claims["members"]),
                witness_key=str(claims.get("witness_key", "")),
                other_witness_keys=tuple(str(k) for k in claims.get("other_witness_keys", ())),
                next_signers=tuple(str(p) for p in claims.get("next_signers", ())),
                hub_roots=tuple(str(p) for p in claims.get("hub_roots", ())),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("TRUST_LIST_MALFORMED", "the trust list's content is malformed") from None

    def announced_signers(self) -> list[x509.Certificate]:
        """The successor signing certificates this list announces (malformed ones are ignored: never trusted)."""
        return self._certificates(self.next_signers)

    def announced_hub_roots(self) -> list[x509.Certificate]:
        """The hub's roots this list names (self-signed ones only; malformed ones are ignored)."""
        return [c for c in self._certificates(self.hub_roots) if c.subject == c.issuer]

    def _certificates(self, pems: Sequence[str]) -> list[x509.Certificate]:
        certs = []
        for text in pems:
            try:
                certs.append(x509.load_pem_x509_certificate(text.encode()))
            except ValueError:
                log.warning("trust list #%d carries a malformed certificate: ignored", self.sequence)
        return certs


def key_id(cert: x509.Certificate) -> str:
    """What the pivot pins: SHA-256 of the signing key (SubjectPublicKeyInfo), whatever certificate carries it."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return digest.finalize().hex()


def signer_certificate(token: str) -> x509.Certificate:
    """The signing certificate a trust list names (``x5c`` leaf); check the list with ``verify_trust_list``."""
    chain = jose.x5c_chain(jose.unverified_header(token))
    if not chain:
        raise PermissionDenied("TRUST_LIST_UNKNOWN_SIGNER", "the trust list names no signing certificate")
    return chain[0]


def sign_trust_list(tl: TrustList, signer: HsmSigner, chain: Sequence[x509.Certificate]) -> str:
    return jose.sign_compact(signer, tl.claims(), typ=TYP, x5c=chain)


def verify_trust_list(token: str, hub_roots: Sequence[x509.Certificate]) -> TrustList:
    """Check the hub's signature and that the signing certificate chains to a configured hub root."""
    header = jose.unverified_header(token)
    if header.get("typ") != TYP:
        raise InvalidArgument("TRUST_LIST_MALFORMED", "this is not a trust list")
    chain = jose.x5c_chain(header)
    if not chain:
        raise PermissionDenied("TRUST_LIST_UNKNOWN_SIGNER", "the trust list names no signing certificate")
    leaf = chain[0]
    if not any(_issued_by(leaf, root) for root in hub_roots):
        raise PermissionDenied("TRUST_LIST_UNKNOWN_SIGNER", "the trust list is not signed by the configured hub")
    try:
        payload = jose.verify_compact(token, leaf.public_key())  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - any verification failure is the same verdict here
        raise PermissionDenied("TRUST_LIST_SIGNATURE_INVALID", "the trust list's signature does not verify") from None
    now = datetime.now(UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise PermissionDenied("TRUST_LIST_UNKNOWN_SIGNER", "the hub's signing certificate is not valid now")
    return TrustList.from_claims(json.loads(payload))


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    if cert == root:
        return True
    try:
        cert.verify_directly_issued_by(root)
    except Exception:  # noqa: BLE001 - InvalidSignature, wrong key type: not issued by this root
        return False
    return True


@dataclass
class TrustListStore:
    """A member's copy: the last good list on disk, freshness policy, atomic replacement."""

    path: Path
    hub_roots: list[x509.Certificate]
    warn_before: timedelta = DEFAULT_WARN_BEFORE
    grace: timedelta = DEFAULT_GRACE
    _current: TrustList | None = None
    _token: str | None = None
    _learned: list[x509.Certificate] | None = None  # hub roots named by the list held

    @classmethod
    def load_roots(cls, pem_file: Path) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(pem_file.read_bytes())

    def accept(self, token: str) -> TrustList:
        """Verify a newly fetched list and make it current; an older or equal sequence is refused."""
        tl = verify_trust_list(token, self.known_roots())
        held = self._load()
        if held is not None and self._token is not None:
            self._check_pivot(held, self._token, signer_certificate(token))
        if held is not None and tl.sequence <= held.sequence:
            raise FailedPrecondition(
                "TRUST_LIST_OLDER",
                f"trust list #{tl.sequence} is not newer than the one held (#{held.sequence}); keeping that one",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        learned = [c for c in tl.announced_hub_roots() if c not in self.hub_roots]
        roots_tmp = self._learned_path().with_suffix(".tmp")  # before the list: a list on disk has its roots
        roots_tmp.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in learned))
        os.replace(roots_tmp, self._learned_path())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(token)
        os.replace(tmp, self.path)  # atomic: a crash never leaves a half-written list
        self._current, self._token, self._learned = tl, token, learned
        log.info("trust list #%d accepted (%d members, next update %s)", tl.sequence, len(tl.members),
                 tl.next_update.isoformat())
        return tl

    @staticmethod
    def _check_pivot(held: TrustList, held_token: str, signer: x509.Certificate) -> None:
        """The held list's own signer, or a successor it announced: nothing else, whatever certified it."""
        allowed = {key_id(signer_certificate(held_token))} | {key_id(c) for c in held.announced_signers()}
        if key_id(signer) not in allowed:
            raise PermissionDenied(
                "TRUST_LIST_SIGNER_NOT_ANNOUNCED",
                f"the trust list is signed by a key (sha256 {key_id(signer)[:16]}...) that trust list "
                f"#{held.sequence} neither used nor announced as its successor; keeping #{held.sequence}")

    def _learned_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.hub-roots.pem")

    def known_roots(self) -> list[x509.Certificate]:
        """The hub roots given out of band, plus those the list held names (a hub root rollover)."""
        if self._learned is None:
            path = self._learned_path()
            self._learned = x509.load_pem_x509_certificates(path.read_bytes()) \
                if path.exists() and path.stat().st_size else []
        return [*self.hub_roots, *(c for c in self._learned if c not in self.hub_roots)]

    def _load(self) -> TrustList | None:
        if self._current is None and self.path.exists():
            token = self.path.read_text()
            self._current, self._token = verify_trust_list(token, self.known_roots()), token
        return self._current

    def held(self) -> TrustList | None:
        """The list held whatever its age (None before the first fetch): what a refresh and the
        metrics start from -- a stale member must still be able to say which list it has."""
        return self._load()

    @property
    def token(self) -> str | None:
        self._load()
        return self._token

    def current(self, now: datetime | None = None) -> TrustList:
        """The list in force; warns ahead of next_update, refuses once past it plus the grace period."""
        tl = self._load()
        if tl is None:
            raise FailedPrecondition("TRUST_LIST_MISSING", "no trust list has been fetched yet: run a refresh")
        now = now or datetime.now(UTC)
        if now > tl.next_update + self.grace:
            raise FailedPrecondition(
                "TRUST_LIST_STALE",
                f"trust list #{tl.sequence} expired at {tl.next_update.isoformat()} (grace {self.grace}); "
                "refresh it from the hub",
            )
        if now > tl.next_update - self.warn_before:
            log.warning("trust list #%d is due for renewal at %s: refresh it from the hub", tl.sequence,
                        tl.next_update.isoformat())
        return tl


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
