"""Finding key objects on a token and describing them (KeyInfo/SecretKeyInfo) from their attributes.

Functions take an open, logged-in PyKCS11 session; the caller holds the module lock. Objects belong to
one key when they share its CKA_ID, or, for keys other tools made without an id, its label.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

import PyKCS11
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PyKCS11 import LowLevel as L

from hsm import errors
from hsm._bytes import as_bytes
from hsm.model import KeyAlgorithm, KeyInfo, PublicKey, SecretKeyInfo, describe_public_key
from hsm.uri import KeyRef, format_uri

Session = Any  # PyKCS11.Session (untyped)
Handle = Any  # PyKCS11 CK_OBJECT_HANDLE (untyped)
Template = list[tuple[int, Any]]

KEY_CLASSES = (L.CKO_PRIVATE_KEY, L.CKO_PUBLIC_KEY, L.CKO_CERTIFICATE, L.CKO_SECRET_KEY)
_UNAVAILABLE = 0xFFFFFFFFFFFFFFFF  # CK_UNAVAILABLE_INFORMATION
_INFO_ATTRS = [
    L.CKA_LABEL, L.CKA_ID, L.CKA_KEY_TYPE, L.CKA_SENSITIVE, L.CKA_EXTRACTABLE, L.CKA_ALWAYS_SENSITIVE,
    L.CKA_NEVER_EXTRACTABLE, L.CKA_LOCAL, L.CKA_KEY_GEN_MECHANISM,
]  # fmt: skip
_CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1(),
}  # fmt: skip


def try_sign(s: Session, handle: Handle, data: bytes, mechanism: Any, size: int) -> bytes | None:
    """``sign`` for the common case, or None: any return code but CKR_OK (a stale session or handle, a token
    error) leaves the caller to take its full path, which re-opens, looks up, retries and maps errors.

    Nothing is left half done: a failed C_SignInit starts no operation, a failed C_Sign ends it (PKCS#11
    5.2), and CKR_BUFFER_TOO_SMALL (the one code that keeps it open) is finished here the two-call way.
    """
    rv, out = _sign_sized(s, handle, data, mechanism, size)
    return as_bytes(out) if rv == L.CKR_OK else None


def _sign_sized(s: Session, handle: Handle, data: bytes, mechanism: Any, size: int) -> tuple[int, Any]:
    """C_SignInit, then one C_Sign into a buffer of ``size`` bytes: (return code, output buffer). A module that
    answers CKR_BUFFER_TOO_SMALL keeps the operation open (PKCS#11 5.2), so it is finished the two-call way."""
    low, session = s.lib, s.session
    rv = low.C_SignInit(session, mechanism.to_native(), handle)
    if rv != L.CKR_OK:
        return rv, None
    message, out = L.ckbytelist(data), L.ckbytelist(size)
    rv = low.C_Sign(session, message, out)
    if rv == L.CKR_BUFFER_TOO_SMALL:
        out = L.ckbytelist()
        rv = low.C_Sign(session, message, out)  # the length
        if rv == L.CKR_OK:
            rv = low.C_Sign(session, message, out)
    return rv, out


def sign(s: Session, handle: Handle, data: bytes, mechanism: Any, size: int = 0) -> bytes:
    """C_SignInit and C_Sign with ``mechanism``.

    PyKCS11's ``Session.sign`` calls C_Sign twice (the length, then the signature). When the caller knows the
    signature's length (``size``: 2 x the field size for ECDSA, the modulus length for RSA) one C_Sign into a
    buffer of that length does it: a third fewer token calls per signature. A module that still answers
    CKR_BUFFER_TOO_SMALL keeps the operation open (PKCS#11 5.2), so it is finished the two-call way.
    """
    if not size:
        return as_bytes(s.sign(handle, data, mechanism))
    rv, out = _sign_sized(s, handle, data, mechanism, size)
    if rv != L.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)
    return as_bytes(out)


def check_label(label: str) -> None:
    if not label or len(label.encode("utf-8")) > 200 or any(ord(c) < 32 for c in label):
        raise errors.label_invalid(f"'{label}' is not a usable key label (1-200 bytes, no control chars)")


def same_key(label: str, key_id: bytes) -> Template:
    return [(L.CKA_ID, key_id)] if key_id else [(L.CKA_LABEL, label)]


def find_key(s: Session, ref: KeyRef, classes: Iterable[int], token_label: str) -> Handle:
    """The one object of ``classes`` matching ``ref`` (label and id both, when both are given)."""
    if ref.token is not None and ref.token != token_label:
        raise errors.key_not_found(f"key URI names token '{ref.token}', not '{token_label}'")
    template: Template = [(L.CKA_LABEL, ref.label)] if ref.label else []
    template += [(L.CKA_ID, ref.id)] if ref.id else []
    found = [h for cls in classes for h in s.findObjects([(L.CKA_CLASS, cls), *template])]
    if not found:
        raise errors.key_not_found(f"no key with {ref.describe()} on HSM token '{token_label}'")
    if len(found) > 1:
        raise errors.invalid_key_uri(f"{len(found)} keys match {ref.describe()}: name the key by its id URI")
    return found[0]


def refuse_taken_label(s: Session, label: str) -> None:
    if any(s.findObjects([(L.CKA_CLASS, c), (L.CKA_LABEL, label)]) for c in KEY_CLASSES):
        raise errors.key_exists(f"a key labelled '{label}' already exists on the HSM token")


def new_id(s: Session, wanted: bytes | None, label: str) -> bytes:
    """A CKA_ID for a new key labelled ``label``; refuses labels and ids already in use."""
    refuse_taken_label(s, label)
    key_id = wanted or os.urandom(16)
    if s.findObjects([(L.CKA_ID, key_id)]):
        raise errors.key_exists(f"a key with id {key_id.hex()} already exists on the HSM token")
    return key_id


def companions(s: Session, handle: Handle) -> list[Handle]:
    """Every object of the key ``handle`` belongs to: private, public, certificate (or the secret key)."""
    label, key_id = s.getAttributeValue(handle, [L.CKA_LABEL, L.CKA_ID])
    match = same_key(label or "", bytes(key_id or b""))
    return [h for c in KEY_CLASSES for h in s.findObjects([(L.CKA_CLASS, c), *match])]


def certificate(s: Session, label: str, key_id: bytes) -> x509.Certificate | None:
    certs = s.findObjects([(L.CKA_CLASS, L.CKO_CERTIFICATE), *same_key(label, key_id)])
    if not certs:
        return None
    return x509.load_der_x509_certificate(bytes(s.getAttributeValue(certs[0], [L.CKA_VALUE])[0]))


def ec_public_key(params: bytes, point: bytes) -> ec.EllipticCurvePublicKey:
    curve_name = asn1_keys.ECDomainParameters.load(params).chosen.native
    curve = _CURVES.get(curve_name) if isinstance(curve_name, str) else None
    if curve is None:
        raise errors.mechanism_unsupported(f"EC curve {curve_name} is not supported")
    # PKCS#11 says CKA_EC_POINT is a DER OCTET STRING; some modules return the bare point.
    candidates = [point]
    with contextlib.suppress(ValueError):
        candidates.insert(0, asn1_core.OctetString.load(point, strict=True).native)
    for candidate in candidates:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, candidate)
        except ValueError:
            continue
    raise errors.mechanism_unsupported(f"the token returned an unreadable {curve_name} public key")


def _public_key(s: Session, priv: Handle, key_type: int, label: str, key_id: bytes) -> PublicKey:
    if key_type == L.CKK_RSA:
        # RSA private keys carry their public half; no separate object needed.
        n, e = s.getAttributeValue(priv, [L.CKA_MODULUS, L.CKA_PUBLIC_EXPONENT])
        numbers = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"), int.from_bytes(bytes(n), "big"))
        return numbers.public_key()
    pubs = s.findObjects([(L.CKA_CLASS, L.CKO_PUBLIC_KEY), *same_key(label, key_id)])
    if key_type == L.CKK_EC and pubs:
        params, point = s.getAttributeValue(pubs[0], [L.CKA_EC_PARAMS, L.CKA_EC_POINT])
        return ec_public_key(bytes(params), bytes(point))
    cert = certificate(s, label, key_id)  # some tools delete the public object once a certificate exists
    pub = cert.public_key() if cert is not None else None
    if isinstance(pub, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return pub
    raise errors.mechanism_unsupported(f"key '{label}' has no usable public key (key type {key_type})")


def _facts(s: Session, h: Handle, uri_type: str, token_label: str) -> tuple[int, dict[str, Any]]:
    label, key_id, key_type, sens, extr, always, never, local, gen = s.getAttributeValue(h, _INFO_ATTRS)
    key_id, label = bytes(key_id or b""), label or ""
    gen_name = PyKCS11.CKM.get(gen) if isinstance(gen, int) and gen != _UNAVAILABLE else None
    return key_type, {
        "label": label,
        "id": key_id,
        "uri": format_uri(token=token_label, label=label or None, key_id=key_id, object_type=uri_type),
        "sensitive": bool(sens),
        "extractable": bool(extr),
        "always_sensitive": bool(always),
        "never_extractable": bool(never),
        "local": bool(local),
        "key_gen_mechanism": gen_name if isinstance(gen_name, str) else None,
    }


def key_info(s: Session, priv: Handle, token_label: str, cert_ids: set[bytes] | None = None) -> KeyInfo:
    """Describe a private key; ``cert_ids`` (ids that have a certificate) saves a search per key."""
    key_type, f = _facts(s, priv, "private", token_label)
    public = _public_key(s, priv, key_type, f["label"], f["id"])
    if cert_ids is not None and f["id"]:
        has_cert = f["id"] in cert_ids
    else:
        has_cert = bool(s.findObjects([(L.CKA_CLASS, L.CKO_CERTIFICATE), *same_key(f["label"], f["id"])]))
    return KeyInfo(
        kind=describe_public_key(public),
        algorithm=KeyAlgorithm.of_public_key(public),
        public_key=public,
        has_certificate=has_cert,
        **f,
    )


def secret_info(s: Session, h: Handle, token_label: str) -> SecretKeyInfo:
    key_type, f = _facts(s, h, "secret-key", token_label)
    kind = {L.CKK_GENERIC_SECRET: "hmac", L.CKK_AES: "aes"}.get(key_type, f"key-type-{key_type}")
    return SecretKeyInfo(kind=kind, **f)
