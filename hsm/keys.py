"""The key manager: keys generated and used inside a PKCS#11 token (modelled on smallstep's kms).

Every call into the module runs under the module's lock (see ``hsm._module``) on this manager's one
logged-in session; a stale session (token re-inserted, process forked) is replaced once, transparently.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import PyKCS11
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PyKCS11 import LowLevel as L

from hsm import _direct as direct
from hsm import _keygen as keygen
from hsm import _objects as objects
from hsm import errors
from hsm._bytes import as_bytes
from hsm._module import RECOVER_INTERVAL, Module, clean_label, find_slot, get_module, recover
from hsm._objects import Handle, Session
from hsm.config import HsmConfig
from hsm.model import (
    CreateKeyRequest,
    CreateSecretKeyRequest,
    KeyAlgorithm,
    KeyInfo,
    PublicKey,
    SecretKeyInfo,
    StoredKey,
    TokenInfo,
)
from hsm.signer import HsmSigner
from hsm.uri import KeyRef, to_ref

__all__ = [
    "CreateKeyRequest",
    "CreateSecretKeyRequest",
    "HsmSigner",
    "KeyAlgorithm",
    "KeyInfo",
    "KeyManager",
    "SecretKeyInfo",
    "StoredKey",
    "TokenInfo",
]

T = TypeVar("T")

# Set by the embedding application to time every token operation: (operation, seconds, succeeded).
# The operation is the first word of the description ("signing", "hmac", "decrypting", ...).
OBSERVER: Callable[[str, float, bool], None] | None = None

# Return codes after which the same operation succeeds on a fresh, freshly logged-in session.
_STALE_SESSION = {
    L.CKR_SESSION_HANDLE_INVALID,
    L.CKR_SESSION_CLOSED,
    L.CKR_USER_NOT_LOGGED_IN,
    L.CKR_CRYPTOKI_NOT_INITIALIZED,
    L.CKR_DEVICE_REMOVED,
    L.CKR_TOKEN_NOT_PRESENT,
}
# Return codes (and typed errors) that may mean the token went away: worth re-initialising the module. The
# token-gone codes are errors.TOKEN_GONE (one list); a device error or SoftHSM's general error after the token
# directory vanished also qualify.
_TOKEN_TROUBLE = {
    *_STALE_SESSION,
    *errors.TOKEN_GONE,
    L.CKR_GENERAL_ERROR,
    L.CKR_DEVICE_ERROR,
}
_TROUBLE_REASONS = {errors.HSM_TOKEN_NOT_FOUND, errors.HSM_UNAVAILABLE}
# SoftHSM 2.6 reports a failed GCM tag check as CKR_GENERAL_ERROR; the standard codes are the others.
_DECRYPT_FAILED = {L.CKR_ENCRYPTED_DATA_INVALID, L.CKR_ENCRYPTED_DATA_LEN_RANGE, L.CKR_GENERAL_ERROR}
_GCM_VERSION = b"\x01"
_GCM_IV_LEN, _GCM_TAG_BITS = 12, 128
_HMAC_BYTES = 32  # CKM_SHA256_HMAC
_PROBE_TEXT = b"hutong readiness probe"  # what ``KeyManager.probe`` HMACs (the result is dropped)
_UNAVAILABLE = 0xFFFFFFFFFFFFFFFF  # CK_UNAVAILABLE_INFORMATION
START_TRIES = 4  # first opens of a token not found (see KeyManager._open_at_start), a second apart
_ANY_KEY = (L.CKO_PRIVATE_KEY, L.CKO_SECRET_KEY)
_PRIVATE_ONLY = [
    (L.CKA_TOKEN, True),
    (L.CKA_PRIVATE, True),
    (L.CKA_SENSITIVE, True),
    (L.CKA_EXTRACTABLE, False),
]


def _found_after_check(s: Session, cls: int, key_id: bytes, label: str) -> Handle:
    """The key just generated and checked (``hsm._keygen``), found by its id to be read. Another process's stale
    copy can still be written back between the check and this search (SoftHSM2's file store, seen with a process
    reading every key's attributes): the key has then lost its id and label, and the generation is refused
    (HSM_KEYGEN_FAILED), not answered with an internal error."""
    found = s.findObjects([(L.CKA_CLASS, cls), (L.CKA_ID, key_id)])
    if not found:
        raise errors.keygen_failed(f"generating key '{label}': it was stored as asked, then changed by another "
                                   "process before it could be read (its id and label are gone): try again")
    return found[0]


def _no_user_pin(label: str) -> errors.HsmError:
    """A token whose user PIN is not initialised, as its flags or its login say: the token not found yet (the first
    open retries it)."""
    return errors.token_not_found(f"HSM token '{label}' has no user PIN yet: initialise it first")


class KeyManager:
    """Keys on one token of one PKCS#11 module. Thread-safe; usable again in a forked child."""

    def __init__(self, config: HsmConfig) -> None:
        config.apply_softhsm_conf()
        self.config = config
        self._session: Session | None = None
        self._generation = -1
        self._slot: int | None = None
        self._handles: dict[tuple[int, bytes, str], Handle] = {}
        # For the direct signing path: (session, handle, their integer values) by the key of ``_handles``.
        self._ids: dict[tuple[int, bytes, str], tuple[Session, Handle, int, int]] = {}
        self._closed = False
        # When the token last answered an operation (time.monotonic()): readiness checks skip their key search
        # while the token keeps answering (``answered_since``).
        self.answered_at = 0.0
        # Open and log in now, so that a wrong module, token or PIN is reported at start-up.
        self._open_at_start()

    def _open_at_start(self) -> None:
        """The first open, retried for a few seconds while the token is not found.

        A process starting while others use the token (a node's workers starting while the officer's CLI or
        the other workers log in) can read SoftHSM2's token file while another process rewrites it, and see no
        token with that label for a moment (issue 13: a worker failing to start with "no HSM token labelled"
        right after an activation), or a token whose user PIN is not initialised (a bench seeding process,
        opening the token while the node's own process used it). A token that is really not there is still
        reported, START_TRIES later; later calls keep their own single re-open (``_call_unobserved``), so a token
        taken away from a serving node is reported at once."""
        for attempt in range(1, START_TRIES + 1):
            try:
                self._call(f"opening HSM token '{self.config.token_label}'", lambda s: None)
                return
            except errors.HsmError as exc:
                if exc.reason != errors.HSM_TOKEN_NOT_FOUND or attempt == START_TRIES:
                    raise
            time.sleep(RECOVER_INTERVAL)  # the next try may re-initialise the module (at most once a second)

    # -- sessions ------------------------------------------------------------------------------
    def _pin_source(self) -> str:
        if self.config.pin_file is not None:
            return f"file {self.config.pin_file}"
        return f"environment variable {self.config.pin_env}"

    def _open(self, mod: Module) -> Session:
        """A new session on the token, logged in as the user; caller holds ``mod.lock``."""
        label = self.config.token_label
        slot = find_slot(mod, label)
        info = mod.lib.getTokenInfo(slot)
        if info.flags & L.CKF_USER_PIN_LOCKED:
            # Do not even try: a locked PIN needs an officer, and attempts may be counted.
            raise errors.pin_locked(
                f"the user PIN of HSM token '{label}' is locked; an officer must unlock it"
            )
        if not info.flags & L.CKF_USER_PIN_INITIALIZED:
            raise _no_user_pin(label)
        pin = self.config.read_pin()
        session = mod.lib.openSession(slot, L.CKF_RW_SESSION)
        try:
            session.login(pin)
        except PyKCS11.PyKCS11Error as exc:
            # CKU_USER login is per application: another manager in this process already logged in.
            if exc.value != L.CKR_USER_ALREADY_LOGGED_IN:
                session.closeSession()
                if exc.value in (L.CKR_PIN_INCORRECT, L.CKR_PIN_LEN_RANGE, L.CKR_PIN_INVALID):
                    raise errors.pin_incorrect(
                        f"HSM token '{label}' rejected the PIN from {self._pin_source()}"
                    ) from None
                if exc.value == L.CKR_USER_PIN_NOT_INITIALIZED:
                    # The flags above said otherwise: SoftHSM2 read its token file while another process
                    # rewrote it. The same answer as the flags', so the first open retries it.
                    raise _no_user_pin(label) from None
                raise
        self._slot = slot
        return session

    def _call(self, operation: str, fn: Callable[[Session], T], *, required: bool = False) -> T:
        """Run ``fn`` with the logged-in session under the module lock, mapping PKCS#11 failures."""
        if OBSERVER is None:
            return self._call_unobserved(operation, fn, required)
        started, ok = time.perf_counter(), False
        try:
            result = self._call_unobserved(operation, fn, required)
            ok = True
            return result
        finally:
            OBSERVER(operation.split(" ", 1)[0].lower(), time.perf_counter() - started, ok)

    def _call_unobserved(self, operation: str, fn: Callable[[Session], T], required: bool) -> T:
        """``_call`` without the metrics observer.

        When the token seems gone (removed, its store moved away, the device restarted) the module is
        re-initialised -- at most once a second per module -- and the operation tried once more, so a node
        recovers by itself when the token comes back. ``required``: the key is one the caller cannot work
        without (a node's own key); its absence then means the token is unavailable, HSM_UNAVAILABLE.
        """
        if self._closed:
            raise errors.unavailable(f"{operation} failed: the key manager is closed")
        mod = get_module(self.config.module_path)
        with mod.lock:
            for attempt in (1, 2):
                try:
                    if not mod.initialised:
                        raise errors.unavailable(f"{operation} failed: the PKCS#11 module is not initialised")
                    if self._session is None or self._generation != mod.generation:
                        self._session, self._generation = None, mod.generation
                        self._handles.clear()
                        self._ids.clear()
                        self._session = self._open(mod)
                    result = fn(self._session)
                    self.answered_at = time.monotonic()
                    return result
                except PyKCS11.PyKCS11Error as exc:
                    if attempt == 1 and exc.value in _STALE_SESSION and mod.initialised:
                        self._session = None
                        continue
                    err = errors.from_pkcs11(exc, operation)
                    if exc.value not in _TOKEN_TROUBLE:
                        raise err from None
                except errors.HsmError as exc:
                    if not (exc.reason in _TROUBLE_REASONS or (required and exc.reason == errors.HSM_KEY_NOT_FOUND)):
                        raise
                    err = exc
                # The token may be gone or back: start the module afresh and try once more.
                if attempt == 1 and recover(mod):
                    self._session = None
                    continue
                if required:
                    raise errors.unavailable(f"{operation} failed: the HSM token or its key is not available "
                                             f"({err.reason}); retrying when the token is back") from None
                raise err from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this manager's session. Never C_Logout: other managers in the process share the login."""
        if self._closed:
            return
        self._closed = True
        mod = get_module(self.config.module_path)
        with mod.lock:
            if self._session is not None and self._generation == mod.generation:
                # A session already gone with the token has nothing left to release.
                with contextlib.suppress(PyKCS11.PyKCS11Error):
                    self._session.closeSession()
            self._session = None
            self._handles.clear()
            self._ids.clear()

    def __enter__(self) -> KeyManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _private(self, s: Session, ref: KeyRef) -> Handle:
        return objects.find_key(s, ref, [L.CKO_PRIVATE_KEY], self.config.token_label)

    def _secret(self, s: Session, ref: KeyRef) -> Handle:
        return objects.find_key(s, ref, [L.CKO_SECRET_KEY], self.config.token_label)

    def _pair_info(self, s: Session, handle: Handle, cert_ids: set[bytes] | None = None) -> KeyInfo:
        return objects.key_info(s, handle, self.config.token_label, cert_ids)

    def _secret_info(self, s: Session, handle: Handle) -> SecretKeyInfo:
        return objects.secret_info(s, handle, self.config.token_label)

    # -- key pairs -----------------------------------------------------------------------------
    def create_key(self, req: CreateKeyRequest) -> KeyInfo:
        """Generate a key pair inside the token: sensitive, never extractable, for one usage only."""
        objects.check_label(req.label)
        decrypting = req.usage == "decrypt"
        if decrypting and req.algorithm.is_ec:
            raise errors.mechanism_unsupported("decrypting keys are RSA (RSA-OAEP); EC keys only sign here")

        def generate(s: Session) -> tuple[bytes, Sequence[Handle]]:
            key_id = objects.new_id(s, req.key_id, req.label)
            common = [(L.CKA_TOKEN, True), (L.CKA_LABEL, req.label), (L.CKA_ID, key_id)]
            pub = [
                *common,
                (L.CKA_CLASS, L.CKO_PUBLIC_KEY),
                (L.CKA_PRIVATE, False),
                (L.CKA_VERIFY, not decrypting),
                (L.CKA_ENCRYPT, decrypting),
                (L.CKA_WRAP, False),
            ]
            priv = [
                *common,
                *_PRIVATE_ONLY,
                (L.CKA_CLASS, L.CKO_PRIVATE_KEY),
                (L.CKA_SIGN, not decrypting),
                (L.CKA_DECRYPT, decrypting),
                (L.CKA_UNWRAP, False),
                (L.CKA_DERIVE, False),
            ]
            if req.algorithm.is_ec:
                params = asn1_keys.ECDomainParameters({"named": req.algorithm.curve_name}).dump()
                pub += [(L.CKA_KEY_TYPE, L.CKK_EC), (L.CKA_EC_PARAMS, params)]
                priv += [(L.CKA_KEY_TYPE, L.CKK_EC)]
                mech = PyKCS11.Mechanism(L.CKM_EC_KEY_PAIR_GEN)
            else:
                pub += [
                    (L.CKA_KEY_TYPE, L.CKK_RSA),
                    (L.CKA_MODULUS_BITS, req.algorithm.rsa_bits),
                    (L.CKA_PUBLIC_EXPONENT, b"\x01\x00\x01"),
                ]
                priv += [(L.CKA_KEY_TYPE, L.CKK_RSA)]
                mech = PyKCS11.Mechanism(L.CKM_RSA_PKCS_KEY_PAIR_GEN)
            return keygen.generated(s, key_id, lambda: list(reversed(s.generateKeyPair(pub, priv, mecha=mech))))

        def check(fresh: Session, key_id: bytes) -> str | None:
            ec_curve = req.algorithm.curve_name if req.algorithm.is_ec else None
            rsa_bits = None if req.algorithm.is_ec else req.algorithm.rsa_bits
            key_type = L.CKK_EC if req.algorithm.is_ec else L.CKK_RSA
            private, public = keygen.expected_pair(req.label, key_id, key_type, ec_curve=ec_curve, rsa_bits=rsa_bits)
            return (keygen.mismatch(fresh, L.CKO_PRIVATE_KEY, key_id, private)
                    or keygen.mismatch(fresh, L.CKO_PUBLIC_KEY, key_id, public))

        def run(s: Session) -> KeyInfo:
            # Verified from a new session before it is returned (``hsm._keygen``): SoftHSM's store may have lost
            # the new key's attributes to another process. Its handle may be stale too (the store reloads when
            # another process changed the token): the key is found again by its id.
            key_id = keygen.generate_verified(self._fresh_session, lambda: generate(s), check,
                                              f"{req.algorithm.value} key '{req.label}'")
            return self._pair_info(s, _found_after_check(s, L.CKO_PRIVATE_KEY, key_id, req.label))

        return self._call(f"generating {req.algorithm.value} key '{req.label}'", run)

    def _fresh_session(self) -> Session:
        """A second session on the token (the user login is the process's); caller holds the module lock."""
        return get_module(self.config.module_path).lib.openSession(self._slot, L.CKF_RW_SESSION)

    def decrypt_rsa_oaep(self, ref: str | KeyRef, ciphertext: bytes, *, required: bool = False) -> bytes:
        """RSA-OAEP (SHA-1, MGF1-SHA-1: what SoftHSM 2.6 offers; JWE "RSA-OAEP") decryption inside the token.

        Used to receive a content key (e.g. of a federation JWE); the private key never leaves the token.
        """
        key = to_ref(ref)

        def run(s: Session) -> bytes:
            mech = PyKCS11.RSAOAEPMechanism(L.CKM_SHA_1, L.CKG_MGF1_SHA1)
            try:
                return as_bytes(s.decrypt(self._private(s, key), ciphertext, mech))
            except PyKCS11.PyKCS11Error as exc:
                if exc.value in _DECRYPT_FAILED:
                    raise errors.decrypt_failed("the encrypted key is not for this key or was altered") from None
                raise

        return self._call(f"decrypting with key {key.describe()}", run, required=required)

    def get_or_create_key(self, req: CreateKeyRequest) -> KeyInfo:
        """The key pair labelled ``req.label``, generated from ``req`` when the token has none yet (a key left
        by an earlier attempt that failed after creating it is reused, not duplicated)."""
        try:
            return self.get_key(req.label)
        except errors.NotFound:
            pass
        try:
            return self.create_key(req)
        except errors.AlreadyExists:  # made meanwhile by another thread or process: that one is the key
            return self.get_key(req.label)

    def get_key(self, ref: str | KeyRef, *, required: bool = False) -> KeyInfo:
        """A key pair by label, ``KeyRef`` or ``pkcs11:`` URI (also keys made by other tools).

        ``required``: a key the caller cannot work without; if it is missing the token is unavailable."""
        key = to_ref(ref)
        return self._call(
            f"reading key {key.describe()}", lambda s: self._pair_info(s, self._private(s, key)), required=required
        )

    def public_key(self, ref: str | KeyRef) -> PublicKey:
        return self.get_key(ref).public_key

    def public_key_pem(self, ref: str | KeyRef) -> bytes:
        return self.public_key(ref).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def list_keys(self) -> list[KeyInfo | SecretKeyInfo]:
        """Every private and secret key on the token, ordered by label."""

        def run(s: Session) -> list[KeyInfo | SecretKeyInfo]:
            cert_ids = {
                bytes(s.getAttributeValue(c, [L.CKA_ID])[0] or b"")
                for c in s.findObjects([(L.CKA_CLASS, L.CKO_CERTIFICATE)])
            }
            cert_ids.discard(b"")
            found: list[KeyInfo | SecretKeyInfo] = []
            for h in s.findObjects([(L.CKA_CLASS, L.CKO_PRIVATE_KEY)]):
                try:
                    found.append(self._pair_info(s, h, cert_ids))
                except errors.HsmError:
                    continue  # e.g. an EC key whose public half was deleted: unusable, not listable
            secrets = s.findObjects([(L.CKA_CLASS, L.CKO_SECRET_KEY)])
            found += [self._secret_info(s, h) for h in secrets]
            return sorted(found, key=lambda k: (k.label, k.id))

        return self._call("listing keys", run)

    def labels_present(self, wanted: Iterable[tuple[str, str]], *, required: bool = False) -> set[tuple[str, str]]:
        """Which of ``wanted`` -- ("private" or "secret", label) pairs -- have a key on the token: one search per
        pair, no attribute read.

        For readiness checks. Reading every key's label instead (one search per class, then C_GetAttributeValue
        on each object found) also reads objects another process is still writing, and SoftHSM2's file store
        then writes this process's half-read copy back: a key being generated by ``hsm rotate`` was left with
        no label, id or CKA_SENSITIVE (issue 13; ``tests/hsm/test_hsm_multiprocess.py``). A search compares
        attributes without that write. A search still makes the token re-read its objects, so a token taken
        away is noticed as before."""
        classes = {"private": L.CKO_PRIVATE_KEY, "secret": L.CKO_SECRET_KEY}
        pairs = sorted(set(wanted))

        def run(s: Session) -> set[tuple[str, str]]:
            return {(kind, label) for kind, label in pairs
                    if s.findObjects([(L.CKA_CLASS, classes[kind]), (L.CKA_LABEL, label)])}

        return self._call("searching the node's keys", run, required=required)

    def signer(self, ref: str | KeyRef, *, required: bool = False) -> HsmSigner:
        info = self.get_key(ref, required=required)
        if info.algorithm is None:
            raise errors.mechanism_unsupported(
                f"key '{info.label}' is {info.kind}: not supported for signing"
            )
        return HsmSigner(self, info, required=required)

    def _with_handle(self, s: Session, cls: int, ref: KeyRef, use: Callable[[Handle], T]) -> T:
        """Run ``use`` with the (cached) handle of ``ref``: object searches cost ~0.7 ms, signatures less.

        If the object was destroyed or relabelled elsewhere the handle is stale: look it up once more.
        """
        cache_key = (cls, ref.id or b"", ref.label or "")
        for attempt in (1, 2):
            handle = self._handles.get(cache_key)
            if handle is None:
                handle = objects.find_key(s, ref, [cls], self.config.token_label)
                self._handles[cache_key] = handle
            try:
                return use(handle)
            except PyKCS11.PyKCS11Error as exc:
                if attempt == 1 and exc.value in (L.CKR_KEY_HANDLE_INVALID, L.CKR_OBJECT_HANDLE_INVALID):
                    del self._handles[cache_key]
                    continue
                raise
        raise AssertionError("unreachable")

    def _sign(self, ref: KeyRef, mechanism: Any, data: bytes, operation: str, size: int = 0, *,
              required: bool = False) -> bytes:
        """Sign with the private key ``ref`` names (used by HsmSigner, which binds ``ref`` to the key's id and
        knows the signature's ``size``: see ``objects.sign``). ``required``: see ``_call_unobserved``."""
        if size and OBSERVER is None and not self._closed:
            signature = self._sign_ready(ref, mechanism, data, size)
            if signature is not None:
                return signature
        return self._call(operation, lambda s: self._with_handle(
            s, L.CKO_PRIVATE_KEY, ref, lambda h: objects.sign(s, h, data, mechanism, size)), required=required)

    def _steady(self, mod: Module, cls: int, ref: KeyRef) -> tuple[tuple[int, bytes, str], Session, Handle] | None:
        """Under ``mod.lock``: the cache key, session and cached handle of ``ref`` when the session is open in the
        module's current generation and the handle is cached (the steady state every ``*_ready`` path needs);
        else None, and the caller takes its general path."""
        key = (cls, ref.id or b"", ref.label or "")
        handle, session = self._handles.get(key), self._session
        if handle is None or session is None or self._generation != mod.generation or not mod.initialised:
            return None
        return key, session, handle

    def _sign_ready(self, ref: KeyRef, mechanism: Any, data: bytes, size: int) -> bytes | None:
        """The steady state in one step: the session open in this module generation, the key's handle cached,
        the token answering CKR_OK. Anything else is None, and ``_sign`` takes the general path (open, look
        up, retry, recover, map errors). Every signature of a busy node comes here: the general path's layers
        of closures cost some 10 % of an ECDSA signature on SoftHSM (issue 19, hsm vs a bare PyKCS11 loop).
        Mechanisms without parameters go through ``_direct`` (ctypes, no SWIG vectors), others through PyKCS11."""
        mod = get_module(self.config.module_path)
        with mod.lock:  # the handle is read under the lock too: one of another generation may name another key
            steady = self._steady(mod, L.CKO_PRIVATE_KEY, ref)
            if steady is None:
                return None
            key, session, handle = steady
            ckm = direct.TYPES.get(mechanism)
            signer = direct.for_module(mod.path)
            if signer is None or ckm is None:
                return objects.try_sign(session, handle, data, mechanism, size)
            return self._answered(signer.sign(*self._as_ints(key, session, handle), ckm, data, size))

    def _gcm_ready(self, ref: KeyRef, encrypt: bool, iv: bytes, aad: bytes, data: bytes) -> bytes | None:
        """AES-GCM in the steady state, as ``_sign_ready`` signs: the session open in this module generation,
        the key's handle cached, the data passed through ``_direct`` without SWIG vectors. Anything else --
        no handle yet, another generation, a tag that does not verify, any other return code -- is None, and
        the caller takes its general path (look up, retry, recover, map errors: HSM_DECRYPT_FAILED)."""
        mod = get_module(self.config.module_path)
        with mod.lock:
            steady = self._steady(mod, L.CKO_SECRET_KEY, ref)
            cipher = direct.for_module(mod.path)
            if steady is None or cipher is None:
                return None
            key, session, handle = steady
            return self._answered(cipher.aes_gcm(*self._as_ints(key, session, handle), encrypt, iv, aad,
                                                 _GCM_TAG_BITS, data))

    def probe(self, ref: str | KeyRef) -> bool:
        """Does the token answer an operation with the secret (HMAC) key ``ref``? One HMAC of a fixed text, its
        result dropped: True moves ``answered_since`` as any answered operation does. In the steady state
        (session open, the key's handle cached) it is one direct C_Sign; otherwise the general path finds the
        key once and caches its handle. Any failure is False, never raised: a readiness check then searches,
        which is what reports and recovers. Unobserved (not a use of the key in the HSM metrics)."""
        key = to_ref(ref)
        if not self._closed and self._hmac_ready(key, _PROBE_TEXT) is not None:
            return True
        try:
            self._call_unobserved("readiness probe", self._hmac_run(key, _PROBE_TEXT), False)
        except Exception:  # noqa: BLE001 - any failure: the caller searches, and that reports it
            return False
        return True

    def _hmac_ready(self, ref: KeyRef, data: bytes) -> bytes | None:
        """HMAC-SHA256 in the steady state, as ``_sign_ready`` signs: the session open in this module generation,
        the secret key's handle cached, one direct C_Sign (56 us measured, the general path 85 us; a business
        licence row makes two: its holder's blind index and its legal representative's). Anything else is None,
        and the caller takes the general path."""
        mod = get_module(self.config.module_path)
        with mod.lock:
            steady = self._steady(mod, L.CKO_SECRET_KEY, ref)
            signer = direct.for_module(mod.path)
            if steady is None or signer is None:
                return None
            key, session, handle = steady
            return self._answered(signer.sign(*self._as_ints(key, session, handle), L.CKM_SHA256_HMAC, data,
                                              _HMAC_BYTES))

    def _hmac_run(self, key: KeyRef, data: bytes) -> Callable[[Session], bytes]:
        def run(s: Session) -> bytes:
            mech = PyKCS11.Mechanism(L.CKM_SHA256_HMAC)
            return self._with_handle(s, L.CKO_SECRET_KEY, key, lambda h: as_bytes(s.sign(h, data, mech)))

        return run

    def _answered(self, result: bytes | None) -> bytes | None:
        if result is not None:
            self.answered_at = time.monotonic()
        return result

    def answered_since(self, moment: float) -> bool:
        """The token answered an operation with one of this manager's cached key handles (or any operation)
        after ``moment`` (``time.monotonic()``): its session and store were there. A token taken away makes
        every cached handle fail (CKR_OBJECT_HANDLE_INVALID), so this stays false once it is gone."""
        return self.answered_at > moment

    def _as_ints(self, key: tuple[int, bytes, str], session: Session, handle: Handle) -> tuple[int, int]:
        """The session and key handles as integers for ``_direct`` (a SWIG call each), kept per cached handle;
        caller holds the module's lock."""
        ids = self._ids.get(key)
        if ids is None or ids[0] is not session or ids[1] is not handle:
            ids = self._ids[key] = (session, handle, session.session.value(), handle.value())
        return ids[2], ids[3]

    # -- secret keys ---------------------------------------------------------------------------
    def create_secret_key(self, req: CreateSecretKeyRequest) -> SecretKeyInfo:
        """A 256-bit HMAC (generic secret) or AES key generated inside the token; never extractable."""
        objects.check_label(req.label)

        def generate(s: Session) -> tuple[bytes, Sequence[Handle]]:
            key_id = objects.new_id(s, req.key_id, req.label)
            template = [
                (L.CKA_CLASS, L.CKO_SECRET_KEY),
                (L.CKA_LABEL, req.label),
                (L.CKA_ID, key_id),
                (L.CKA_VALUE_LEN, 32),
                *_PRIVATE_ONLY,
                (L.CKA_WRAP, False),
                (L.CKA_UNWRAP, False),
                (L.CKA_DERIVE, False),
            ]
            if req.kind == "hmac":
                template += [
                    (L.CKA_KEY_TYPE, L.CKK_GENERIC_SECRET),
                    (L.CKA_SIGN, True),
                    (L.CKA_VERIFY, True),
                    (L.CKA_ENCRYPT, False),
                    (L.CKA_DECRYPT, False),
                ]
                mech = PyKCS11.Mechanism(L.CKM_GENERIC_SECRET_KEY_GEN)
            elif req.kind == "aes":
                template += [
                    (L.CKA_KEY_TYPE, L.CKK_AES),
                    (L.CKA_ENCRYPT, True),
                    (L.CKA_DECRYPT, True),
                    (L.CKA_SIGN, False),
                    (L.CKA_VERIFY, False),
                ]
                mech = PyKCS11.Mechanism(L.CKM_AES_KEY_GEN)
            else:
                raise errors.mechanism_unsupported(f"unknown secret key kind '{req.kind}' (hmac or aes)")
            return keygen.generated(s, key_id, lambda: [s.generateKey(template, mecha=mech)])

        key_type = L.CKK_AES if req.kind == "aes" else L.CKK_GENERIC_SECRET

        def run(s: Session) -> SecretKeyInfo:
            key_id = keygen.generate_verified(
                self._fresh_session, lambda: generate(s),
                lambda fresh, key_id: keygen.mismatch(fresh, L.CKO_SECRET_KEY, key_id,
                                                      keygen.expected_secret(req.label, key_id, key_type, 32)),
                f"{req.kind} key '{req.label}'")
            return self._secret_info(s, _found_after_check(s, L.CKO_SECRET_KEY, key_id, req.label))

        return self._call(f"generating {req.kind} key '{req.label}'", run)

    def get_secret_key(self, ref: str | KeyRef, *, required: bool = False) -> SecretKeyInfo:
        key = to_ref(ref)
        return self._call(
            f"reading key {key.describe()}", lambda s: self._secret_info(s, self._secret(s, key)), required=required
        )

    def hmac_sha256(self, ref: str | KeyRef, data: bytes, *, required: bool = False) -> bytes:
        """HMAC-SHA256 computed inside the token (CKM_SHA256_HMAC)."""
        key = to_ref(ref)
        if OBSERVER is None and not self._closed:
            mac = self._hmac_ready(key, data)
            if mac is not None:
                return mac
        return self._call(f"HMAC with key {key.describe()}", self._hmac_run(key, data), required=required)

    def encrypt(self, ref: str | KeyRef, plaintext: bytes, aad: bytes = b"", *, required: bool = False,
                iv: bytes | None = None) -> bytes:
        """AES-256-GCM inside the token. Blob: version 0x01 || 12-byte random IV || ciphertext || 16-byte tag.

        The version byte is authenticated with ``aad``. Random 96-bit IVs are safe for 2**32 blobs per key.
        ``iv`` only for deterministic encryption (equal plaintexts, equal blobs): it must be a synthetic IV, a
        keyed hash of the plaintext itself, so that two different plaintexts never share one.
        """
        key = to_ref(ref)
        if iv is not None and len(iv) != _GCM_IV_LEN:
            raise ValueError(f"a GCM IV is {_GCM_IV_LEN} bytes")
        iv = iv if iv is not None else os.urandom(_GCM_IV_LEN)
        if plaintext and OBSERVER is None and not self._closed:
            sealed = self._gcm_ready(key, True, iv, _GCM_VERSION + aad, plaintext)
            if sealed is not None:
                return _GCM_VERSION + iv + sealed

        def run(s: Session) -> bytes:
            mech = PyKCS11.AES_GCM_Mechanism(iv, _GCM_VERSION + aad, _GCM_TAG_BITS)

            def use(handle: Handle) -> bytes:
                if not plaintext:
                    # C_Encrypt rejects an empty buffer (CKR_ARGUMENTS_BAD); the multi-part form gives the tag.
                    s.encryptInit(mech, handle)
                    return as_bytes(s.encryptFinal())
                return as_bytes(s.encrypt(handle, plaintext, mech))

            return _GCM_VERSION + iv + self._with_handle(s, L.CKO_SECRET_KEY, key, use)

        return self._call(f"encrypting with key {key.describe()}", run, required=required)

    def decrypt(self, ref: str | KeyRef, blob: bytes, aad: bytes = b"", *, required: bool = False) -> bytes:
        """Inverse of ``encrypt``; HSM_DECRYPT_FAILED if the blob, the key or ``aad`` do not match."""
        key = to_ref(ref)
        if len(blob) < 1 + _GCM_IV_LEN + _GCM_TAG_BITS // 8 or blob[:1] != _GCM_VERSION:
            raise errors.decrypt_failed("not an encrypted blob of a known version")
        iv, body = blob[1 : 1 + _GCM_IV_LEN], blob[1 + _GCM_IV_LEN :]
        if OBSERVER is None and not self._closed:
            opened = self._gcm_ready(key, False, iv, _GCM_VERSION + aad, body)
            if opened is not None:
                return opened

        def run(s: Session) -> bytes:
            mech = PyKCS11.AES_GCM_Mechanism(iv, _GCM_VERSION + aad, _GCM_TAG_BITS)
            try:
                return self._with_handle(s, L.CKO_SECRET_KEY, key, lambda h: as_bytes(s.decrypt(h, body, mech)))
            except PyKCS11.PyKCS11Error as exc:
                if exc.value in _DECRYPT_FAILED:
                    raise errors.decrypt_failed(
                        "the encrypted data or its associated data is not authentic"
                    ) from None
                raise

        return self._call(f"decrypting with key {key.describe()}", run, required=required)

    # -- certificates --------------------------------------------------------------------------
    def import_certificate(self, ref: str | KeyRef, cert: x509.Certificate, *, private: bool = False) -> None:
        """Store ``cert`` beside its key (same CKA_ID and label), replacing an older one. ``private``: a
        certificate naming personal data is a private object (readable after login only; SoftHSM2 keeps its
        attributes encrypted in the token files)."""
        key = to_ref(ref)

        def run(s: Session) -> None:
            info = self._pair_info(s, self._private(s, key))
            if cert.public_key() != info.public_key:
                raise errors.certificate_mismatch(
                    f"the certificate is not for key '{info.label}' (public keys differ)"
                )
            match = objects.same_key(info.label, info.id)
            for old in s.findObjects([(L.CKA_CLASS, L.CKO_CERTIFICATE), *match]):
                s.destroyObject(old)
            s.createObject(
                [
                    (L.CKA_CLASS, L.CKO_CERTIFICATE),
                    (L.CKA_CERTIFICATE_TYPE, L.CKC_X_509),
                    (L.CKA_TOKEN, True),
                    (L.CKA_PRIVATE, private),
                    (L.CKA_LABEL, info.label),
                    (L.CKA_ID, info.id),
                    (L.CKA_SUBJECT, cert.subject.public_bytes()),
                    (L.CKA_ISSUER, cert.issuer.public_bytes()),
                    (L.CKA_SERIAL_NUMBER, asn1_core.Integer(cert.serial_number).dump()),
                    (L.CKA_VALUE, cert.public_bytes(serialization.Encoding.DER)),
                ]
            )

        self._call(f"importing a certificate for key {key.describe()}", run)

    def get_certificate(self, ref: str | KeyRef) -> x509.Certificate | None:
        key = to_ref(ref)

        def run(s: Session) -> x509.Certificate | None:
            label, key_id = s.getAttributeValue(self._private(s, key), [L.CKA_LABEL, L.CKA_ID])
            return objects.certificate(s, label or "", bytes(key_id or b""))

        return self._call(f"reading the certificate of key {key.describe()}", run)

    # -- life cycle ----------------------------------------------------------------------------
    def destroy_key(self, ref: str | KeyRef) -> None:
        """Destroy a key: private, public and certificate objects (or the secret key)."""
        key = to_ref(ref)

        def run(s: Session) -> None:
            handle = objects.find_key(s, key, _ANY_KEY, self.config.token_label)
            for obj in objects.companions(s, handle):
                s.destroyObject(obj)
            self._handles.clear()
            self._ids.clear()

        self._call(f"destroying key {key.describe()}", run)

    def rename_key(self, ref: str | KeyRef, new_label: str) -> None:
        """Relabel every object of a key (its CKA_ID stays, so id URIs keep working)."""
        key = to_ref(ref)
        objects.check_label(new_label)

        def run(s: Session) -> None:
            handle = objects.find_key(s, key, _ANY_KEY, self.config.token_label)
            objects.refuse_taken_label(s, new_label)
            for obj in objects.companions(s, handle):
                s.setAttributeValue(obj, [(L.CKA_LABEL, new_label)])
            self._handles.clear()
            self._ids.clear()

        self._call(f"renaming key {key.describe()}", run)

    def rotate_key(
        self, label: str, *, algorithm: KeyAlgorithm | None = None, now: datetime | None = None
    ) -> tuple[KeyInfo, str]:
        """Make a fresh key the active ``label``; the old one stays, as ``<label>.retired-<UTC time>``.

        The new key is generated under a pending label first, so a failure leaves the old key active.
        Returns the new key and the retired label (e.g. ``root-ca.retired-20250101T120000Z``).
        """
        old = self.get_key(label)
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        retired, pending = f"{label}.retired-{stamp}", f"{label}.pending-{stamp}"
        alg = algorithm or old.algorithm
        if alg is None:
            raise errors.mechanism_unsupported(
                f"key '{label}' is {old.kind}: name an algorithm for its successor"
            )
        new = self.create_key(CreateKeyRequest(label=pending, algorithm=alg))
        self.rename_key(KeyRef(id=old.id) if old.id else old.label, retired)
        self.rename_key(KeyRef(id=new.id), label)
        return self.get_key(KeyRef(id=new.id)), retired

    def token_info(self) -> TokenInfo:
        def run(s: Session) -> TokenInfo:
            mod = get_module(self.config.module_path)
            t = mod.lib.getTokenInfo(self._slot)
            flags = int(t.flags)

            def mem(v: int) -> int | None:
                return None if v < 0 or v == _UNAVAILABLE else int(v)

            return TokenInfo(
                label=clean_label(t.label),
                manufacturer=t.manufacturerID.strip(),
                model=t.model.strip(),
                serial=t.serialNumber.strip(),
                flags=tuple(t.flags2text()),
                total_public_memory=mem(t.ulTotalPublicMemory),
                free_public_memory=mem(t.ulFreePublicMemory),
                total_private_memory=mem(t.ulTotalPrivateMemory),
                free_private_memory=mem(t.ulFreePrivateMemory),
                pin_count_low=bool(flags & L.CKF_USER_PIN_COUNT_LOW),
                pin_final_try=bool(flags & L.CKF_USER_PIN_FINAL_TRY),
                pin_locked=bool(flags & L.CKF_USER_PIN_LOCKED),
                pin_to_be_changed=bool(flags & L.CKF_USER_PIN_TO_BE_CHANGED),
            )

        return self._call(f"reading the status of HSM token '{self.config.token_label}'", run)
