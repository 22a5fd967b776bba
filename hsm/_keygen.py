"""A generated key is checked on the token before anyone may use or register it.

SoftHSM2's file object store is not safe across processes: while one process generates a key, another that
reads the attributes of the half-written object (C_GetAttributeValue runs a read-only transaction whose commit
writes that process's copy back) can leave the stored key without its label, id or CKA_SENSITIVE -- a key
nobody can find by its name, and not protected as asked. The node's own readers no longer read attributes of
objects they did not name (``KeyManager.labels_present``), but other processes may (an officer's
``hsm list``), so every generation is verified: a new session searches the key by its id and checks what was
asked (label, id, sensitive, never extractable, key type and size). A key that is not what was asked is
destroyed -- by the handles the generation returned, since it may no longer carry its id -- and generated
again, a bounded number of times; then the generation is refused (HSM_KEYGEN_FAILED) and nothing is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import PyKCS11
from asn1crypto import keys as asn1_keys
from PyKCS11 import LowLevel as L

from hsm import errors
from hsm._objects import Handle, Session

ATTEMPTS = 3  # generations tried before HSM_KEYGEN_FAILED

# What the generated object must say: (attribute, expected value) pairs, compared after normalising.
Expected = list[tuple[int, Any]]


def _norm(value: Any) -> Any:
    if isinstance(value, bool | int | str):
        return value
    return bytes(value or b"")


def expected_pair(label: str, key_id: bytes, key_type: int, *, ec_curve: str | None, rsa_bits: int | None
                  ) -> tuple[Expected, Expected]:
    """(private key, public key) attributes a key pair generated from our templates carries."""
    common = [(L.CKA_LABEL, label), (L.CKA_ID, key_id), (L.CKA_KEY_TYPE, key_type), (L.CKA_TOKEN, True)]
    private = [*common, (L.CKA_PRIVATE, True), (L.CKA_SENSITIVE, True), (L.CKA_EXTRACTABLE, False),
               (L.CKA_LOCAL, True)]
    public = list(common)
    if ec_curve is not None:
        public.append((L.CKA_EC_PARAMS, asn1_keys.ECDomainParameters({"named": ec_curve}).dump()))
    if rsa_bits is not None:
        public.append((L.CKA_MODULUS_BITS, rsa_bits))
    return private, public


def expected_secret(label: str, key_id: bytes, key_type: int, length: int) -> Expected:
    return [(L.CKA_LABEL, label), (L.CKA_ID, key_id), (L.CKA_KEY_TYPE, key_type), (L.CKA_TOKEN, True),
            (L.CKA_PRIVATE, True), (L.CKA_SENSITIVE, True), (L.CKA_EXTRACTABLE, False), (L.CKA_LOCAL, True),
            (L.CKA_VALUE_LEN, length)]


def mismatch(s: Session, cls: int, key_id: bytes, expected: Expected) -> str | None:
    """None if exactly one object of ``cls`` has ``key_id`` and every attribute of ``expected``; else why not.

    The public key's CKA_MODULUS_BITS is not always stored by SoftHSM: the modulus' length counts instead."""
    found = s.findObjects([(L.CKA_CLASS, cls), (L.CKA_ID, key_id)])
    if len(found) != 1:
        return f"{len(found)} objects of class {cls} carry the new id"
    types = [t for t, _ in expected]
    if L.CKA_MODULUS_BITS in types:
        types[types.index(L.CKA_MODULUS_BITS)] = L.CKA_MODULUS
    values = s.getAttributeValue(found[0], types)
    for (attr, want), got in zip(expected, values, strict=True):
        have = len(bytes(got or b"")) * 8 if attr == L.CKA_MODULUS_BITS else _norm(got)
        if have != _norm(want):
            return f"{PyKCS11.CKA.get(attr, attr)} is {have!r}, not {want!r}"
    return None


def destroy_quietly(s: Session, handles: Sequence[Handle], key_id: bytes) -> None:
    """Destroy what one failed generation left: its handles (the objects may have lost their id) and anything
    still carrying its id. Objects already gone are no error."""
    targets = list(handles)
    with contextlib.suppress(PyKCS11.PyKCS11Error):
        targets += s.findObjects([(L.CKA_ID, key_id)])
    seen: set[int] = set()
    for h in targets:
        value = int(h.value()) if hasattr(h, "value") else int(h)
        if value in seen:
            continue
        seen.add(value)
        with contextlib.suppress(PyKCS11.PyKCS11Error):
            s.destroyObject(h)


class Failed(Exception):
    """The token failed one generation in a way worth another try (its objects are already destroyed)."""


def generated(s: Session, key_id: bytes, make: Callable[[], Sequence[Handle]]) -> tuple[bytes, Sequence[Handle]]:
    """``make()`` (C_GenerateKey or C_GenerateKeyPair) with its key's id; CKR_FUNCTION_FAILED -- what SoftHSM2
    answers when its store changed under the generation -- destroys what carries the id and raises Failed."""
    try:
        return key_id, make()
    except PyKCS11.PyKCS11Error as exc:
        if exc.value != L.CKR_FUNCTION_FAILED:
            raise
        destroy_quietly(s, [], key_id)
        raise Failed(f"the token failed the generation ({errors.ckr_name(int(exc.value))})") from None


def generate_verified(
    open_session: Callable[[], Session],
    generate: Callable[[], tuple[bytes, Sequence[Handle]]],
    check: Callable[[Session, bytes], str | None],
    what: str,
) -> bytes:
    """Run ``generate`` (returns the new key's id and the handles it made) until ``check`` (in a new session
    from ``open_session``, closed afterwards) finds the key as asked; returns its id. After ATTEMPTS failed
    checks or generations (``Failed``; each one's objects destroyed) HSM_KEYGEN_FAILED. Any other error of a
    generation is raised as it is."""
    problem = ""
    for _ in range(ATTEMPTS):
        try:
            key_id, handles = generate()
        except Failed as exc:
            problem = str(exc)
            continue
        fresh = open_session()
        try:
            try:
                why = check(fresh, key_id)
            except PyKCS11.PyKCS11Error as exc:
                why = f"reading it back failed ({errors.ckr_name(int(exc.value))})"
            if why is None:
                return key_id
            problem = why
            destroy_quietly(fresh, handles, key_id)
        finally:
            with contextlib.suppress(PyKCS11.PyKCS11Error):
                fresh.closeSession()
    raise errors.keygen_failed(
        f"generating {what}: the token failed or stored a key other than the one asked for {ATTEMPTS} times "
        f"(last: {problem}); it was destroyed and nothing was kept -- another process may be changing the "
        "token's store: try again"
    )
