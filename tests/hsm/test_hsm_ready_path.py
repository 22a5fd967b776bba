"""The steady-state signing path (``KeyManager._sign_ready``) and the byte conversions every signature uses.

The ready path only runs when the session and the key's handle are known good; whenever the token says
otherwise it must hand over to the general path (which re-opens, looks up and retries) without leaving an
operation open and without ever signing with another key. Signatures are checked with ``cryptography``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from PyKCS11 import LowLevel as L

from hsm import CreateKeyRequest, KeyAlgorithm, KeyManager
from hsm import _objects as objects
from hsm._bytes import _slow, as_bytes
from hsm.signer import _ECDSA, raw_to_der


def test_ready_path_signs_and_recovers_from_a_closed_session(km: KeyManager, verify: Callable[..., None]) -> None:
    info = km.create_key(CreateKeyRequest(label="ready", algorithm=KeyAlgorithm.EC_P256))
    signer = km.signer(info.label)
    verify(info.public_key, signer.sign(b"first"), b"first")  # general path: finds and caches the handle
    ref = signer._ref
    digest = bytes(32)
    assert km._sign_ready(ref, _ECDSA, digest, 64) is not None  # the steady state takes the ready path

    assert km._session is not None
    km._session.closeSession()  # the token forgets the session behind the manager's back
    assert km._sign_ready(ref, _ECDSA, digest, 64) is None  # refused by the token: handed over, not raised
    verify(info.public_key, signer.sign(b"after"), b"after")  # the general path re-opened the session
    assert km._sign_ready(ref, _ECDSA, digest, 64) is not None


def test_ready_path_needs_a_cached_handle_of_this_generation(km: KeyManager, verify: Callable[..., None]) -> None:
    a = km.create_key(CreateKeyRequest(label="gen-a", algorithm=KeyAlgorithm.EC_P256))
    signer = km.signer(a.label)
    signer.sign(b"cache the handle")
    km._handles.clear()
    assert km._sign_ready(signer._ref, _ECDSA, bytes(32), 64) is None  # nothing cached: general path
    km._generation -= 1  # as if the module was re-initialised since the session opened
    signer.sign(b"cache it again")
    verify(a.public_key, signer.sign(b"new generation"), b"new generation")


def test_try_sign_leaves_no_operation_open(km: KeyManager, verify: Callable[..., None]) -> None:
    info = km.create_key(CreateKeyRequest(label="no-open-op", algorithm=KeyAlgorithm.EC_P256))
    signer = km.signer(info.label)
    signer.sign(b"x")

    def bad_handle(s: object) -> bytes | None:
        return objects.try_sign(s, L.CK_OBJECT_HANDLE(), bytes(32), _ECDSA, 64)  # handle 0: never valid

    assert km._call("signing", bad_handle) is None
    # a too-small buffer: the module asks for more room, try_sign finishes the operation the two-call way
    sig = km._call("signing", lambda s: objects.try_sign(
        s, km._handles[(L.CKO_PRIVATE_KEY, signer._ref.id or b"", signer._ref.label or "")], bytes(32), _ECDSA, 8))
    assert sig is not None and len(sig) == 64
    verify(info.public_key, signer.sign(b"still fine"), b"still fine")


@settings(max_examples=300, deadline=None)
@given(half=st.sampled_from([32, 48, 66]), data=st.data())
def test_raw_to_der_matches_the_library(half: int, data: st.DataObject) -> None:
    # leading zero octets and high bits are the cases a hand-written encoder gets wrong
    raw = data.draw(st.binary(min_size=2 * half, max_size=2 * half) | st.sampled_from(
        [bytes(2 * half), b"\xff" * 2 * half, b"\x00\x80" * half, b"\x00" * (half - 1) + b"\x01" * (half + 1)]))
    der = raw_to_der(raw)
    assert der == encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    assert decode_dss_signature(der) == (int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@pytest.mark.parametrize("size", [0, 1, 64, 96, 256, 4096])
def test_as_bytes_copies_exactly(size: int) -> None:
    data = os.urandom(size)
    vector = L.ckbytelist(data)
    assert as_bytes(vector) == data == _slow(vector)
    grown = L.ckbytelist(size)  # a buffer the module fills and shrinks, as C_Sign does
    assert as_bytes(grown) == bytes(size)


def test_hmac_takes_the_ready_path_once_the_handle_is_cached_with_the_same_mac(km: KeyManager) -> None:
    """A certificate row makes two HMACs (its holder's blind indexes): after the first, which finds the key, each
    is one direct C_Sign, never the general path, and the MAC is the general path's to the byte."""
    from hsm import CreateSecretKeyRequest, KeyRef

    km.create_secret_key(CreateSecretKeyRequest(label="mac-ready", kind="hmac"))
    ref = KeyRef(label="mac-ready")
    assert km._hmac_ready(ref, b"x") is None  # no handle cached yet: the general path
    general = km.hmac_sha256("mac-ready", b"110101199003077777")
    general_calls = [0]
    original = km._call

    def counted(*args: object, **kwargs: object) -> object:
        general_calls[0] += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    km._call = counted  # type: ignore[method-assign,assignment]
    answered = km.answered_at
    assert km.hmac_sha256("mac-ready", b"110101199003077777") == general
    assert km.hmac_sha256("mac-ready", b"110101199003077778") != general
    assert general_calls[0] == 0 and km.answered_at > answered
    assert km._session is not None
    km._session.closeSession()  # the token forgets the session: handed over to the general path, same MAC
    assert km._hmac_ready(ref, b"x") is None
    assert km.hmac_sha256("mac-ready", b"110101199003077777") == general
    assert general_calls[0] == 1
