"""Checkpoints as C2SP signed notes, signed (and cosigned) with ECDSA P-256 keys held in the HSM.

A checkpoint (C2SP tlog-checkpoint) is three lines -- origin, tree size, base64 root hash -- then
a blank line and one signature line per signer: ``— <key name> base64(key id || signature)``.

Signature type. C2SP's signed-note assigns 0x01 to Ed25519, which PKCS#11 tokens (SoftHSM among
them) do not all offer; our key manager signs with ECDSA P-256. So a Hutong note signature is an
ECDSA P-256 / SHA-256 signature, DER-encoded, over the note text, and the 4-byte key id is
``SHA-256(key name || 0x0A || 0x02 || DER SubjectPublicKeyInfo)[:4]``, 0x02 being our signature
type byte. (C2SP also uses 0x02 for ECDSA, but for RFC 6962 tree-head signatures: tools that
expect those will not verify ours, and must ignore them as signatures from an unknown key.)

Cosignature (the hub as witness, modelled on C2SP tlog-cosignature): the witness signs
``"cosignature/v1\\ntime <unix seconds>\\n" + checkpoint text``; its line carries
``key id || 8-byte big-endian time || signature``.

A verifier key ("vkey") is shared as ``<name>+<hex key id>+<base64(0x02 || DER SPKI)>`` -- this is
what the trust list carries for each member's log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hsm import HsmSigner
from hutong.errors import InvalidArgument

SIG_TYPE = 0x02
DASH = "\u2014 "
COSIGN_HEADER = "cosignature/v1\ntime {t}\n"
MAX_NOTE = 64 * 1024
MAX_ORIGIN = 200  # the column that keeps cosigned checkpoints


def check_origin(origin: str) -> str:
    """A log name as callers may send it: printable, bounded."""
    if not origin or len(origin) > MAX_ORIGIN or not origin.isprintable():
        raise InvalidArgument("LOG_ORIGIN_INVALID", "a log origin is 1-200 printable characters, "
                              "e.g. hutong.node/<node id>/audit")
    return origin


def origin_for(node_id: str) -> str:
    """The log's name: one origin per node."""
    return f"hutong.node/{node_id}/audit"


def _malformed(why: str) -> InvalidArgument:
    return InvalidArgument("CHECKPOINT_MALFORMED", f"not a well-formed checkpoint note: {why}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise _malformed("expected origin, tree size and root hash lines")
        origin, size_s, root_s = lines[0], lines[1], lines[2]
        if not origin or len(origin) > MAX_ORIGIN or not (size_s.isascii() and size_s.isdigit()) \
                or (size_s != "0" and size_s.startswith("0")) or len(size_s) > 19 or int(size_s) >= 1 << 63:
            raise _malformed("bad origin or tree size")
        try:
            root = base64.b64decode(root_s, validate=True)
        except binascii.Error:
            raise _malformed("root hash is not base64") from None
        if len(root) != 32:
            raise _malformed("root hash is not 32 bytes")
        return cls(origin, int(size_s), root)


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    blob: bytes  # after the key id: the signature (or time || signature for a cosignature)


@dataclass(frozen=True)
class Note:
    text: str  # the signed text (checkpoint body), ending in a newline
    signatures: tuple[SignatureLine, ...]

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse_body(self.text)

    def render(self) -> str:
        lines = "".join(f"{DASH}{s.name} {base64.b64encode(s.key_id + s.blob).decode()}\n" for s in self.signatures)
        return f"{self.text}\n{lines}"

    def with_signature(self, line: SignatureLine) -> Note:
        kept = tuple(s for s in self.signatures if (s.name, s.key_id) != (line.name, line.key_id))
        return Note(self.text, (*kept, line))


def parse_note(raw: str) -> Note:
    if len(raw) > MAX_NOTE or any(ord(c) < 0x20 and c != "\n" for c in raw):
        raise _malformed("too long or contains control characters")
    text, sep, sigs = raw.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise _malformed("no signature block")
    lines: list[SignatureLine] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(DASH):
            raise _malformed("signature line does not start with an em dash")
        name, _, b64 = line[len(DASH):].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise _malformed("signature is not base64") from None
        if not name or len(blob) < 5:
            raise _malformed("signature line too short")
        lines.append(SignatureLine(name, blob[:4], blob[4:]))
    note = Note(text + "\n", tuple(lines))
    note.checkpoint  # noqa: B018 -- parse the body now so a bad one is refused here
    return note


def spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(name: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([SIG_TYPE]) + spki(public_key)).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: ec.EllipticCurvePublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([SIG_TYPE]) + spki(self.public_key)).decode()}"

    @classmethod
    def decode(cls, vkey: str) -> VerifierKey:
        try:
            name, kid, b64 = vkey.split("+", 2)  # names never contain "+"; base64 may
            raw = base64.b64decode(b64, validate=True)
            if raw[0] != SIG_TYPE:
                raise ValueError("unknown signature type")
            pub = serialization.load_der_public_key(raw[1:])
            if not isinstance(pub, ec.EllipticCurvePublicKey):
                raise ValueError("not an EC key")
            key = cls(name, pub)
            if key.key_id.hex() != kid:
                raise ValueError("key id does not match the key")
        except (ValueError, IndexError, binascii.Error) as exc:
            raise InvalidArgument("LOG_KEY_INVALID", f"log verifier key cannot be used: {exc}") from None
        return key

    def _verify(self, der: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def _line(self, note: Note) -> SignatureLine | None:
        return next((s for s in note.signatures if s.name == self.name and s.key_id == self.key_id), None)

    def verifies(self, note: Note) -> bool:
        """Is there a valid signature by this key on the note (as its log)?"""
        line = self._line(note)
        return line is not None and self._verify(line.blob, note.text.encode())

    def cosigned_at(self, note: Note) -> int | None:
        """The time of this key's valid cosignature on the note, or None."""
        line = self._line(note)
        if line is None or len(line.blob) < 9:
            return None
        t = int.from_bytes(line.blob[:8], "big")
        ok = self._verify(line.blob[8:], COSIGN_HEADER.format(t=t).encode() + note.text.encode())
        return t if ok else None


def signer_key(name: str, signer: HsmSigner) -> VerifierKey:
    pub = signer.public_key
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise InvalidArgument("LOG_KEY_INVALID", "the log key must be an ECDSA P-256 key")
    return VerifierKey(name, pub)


def sign(checkpoint: Checkpoint, name: str, signer: HsmSigner) -> Note:
    """The checkpoint as a note signed by ``signer`` (one HSM signature)."""
    text = checkpoint.body()
    sig = signer.sign(text.encode(), hash_name="sha256")
    return Note(text, (SignatureLine(name, signer_key(name, signer).key_id, sig),))


def cosign(note: Note, name: str, signer: HsmSigner, *, now: int | None = None) -> Note:
    """Add a witness cosignature by ``signer`` to ``note``."""
    t = int(time.time()) if now is None else now
    sig = signer.sign(COSIGN_HEADER.format(t=t).encode() + note.text.encode(), hash_name="sha256")
    return note.with_signature(SignatureLine(name, signer_key(name, signer).key_id, t.to_bytes(8, "big") + sig))
