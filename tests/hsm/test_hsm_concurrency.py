"""Threads, fork()ed workers and several managers in one process."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from hsm import CreateKeyRequest, CreateSecretKeyRequest, HsmConfig, KeyAlgorithm, KeyManager
from hsm import errors as hsm_errors


def test_eight_threads_sign_concurrently(km: KeyManager, verify: Callable[..., None]) -> None:
    ec_key = km.create_key(CreateKeyRequest(label="threads-ec", algorithm=KeyAlgorithm.EC_P256))
    rsa_key = km.create_key(CreateKeyRequest(label="threads-rsa", algorithm=KeyAlgorithm.RSA_2048))
    signers = [km.signer("threads-ec"), km.signer("threads-rsa")]

    def work(n: int) -> list[tuple[int, bytes, bytes]]:
        out = []
        for i in range(25):
            data = f"thread {n} message {i}".encode()
            which = (n + i) % 2
            out.append((which, data, signers[which].sign(data)))
            if i % 5 == 0:
                km.list_keys()  # other operations interleave with signing
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for batch in pool.map(work, range(8)) for r in batch]
    assert len(results) == 200
    keys = [ec_key.public_key, rsa_key.public_key]
    for which, data, sig in results:
        verify(keys[which], sig, data)


def _child(km: KeyManager, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        queue.put(("ok", km.signer("forked").sign(b"from the child"), km.hmac_sha256("mac", b"x")))
    except Exception as exc:  # report, do not hang the parent
        queue.put(("error", repr(exc).encode(), b""))


def test_forked_child_uses_the_parents_manager(km: KeyManager, verify: Callable[..., None]) -> None:
    info = km.create_key(CreateKeyRequest(label="forked", algorithm=KeyAlgorithm.EC_P256))
    km.create_secret_key(CreateSecretKeyRequest(label="mac", kind="hmac"))
    parent_mac = km.hmac_sha256("mac", b"x")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(km, queue))  # fork: the child inherits km as it is
    child.start()
    status, signature, mac = queue.get(timeout=30)
    child.join(timeout=30)
    assert status == "ok", signature
    assert child.exitcode == 0
    verify(info.public_key, signature, b"from the child")
    assert mac == parent_mac
    # The child's re-initialisation did not disturb the parent.
    verify(info.public_key, km.signer("forked").sign(b"parent after"), b"parent after")


def test_several_managers_for_several_tokens_in_one_process(
    make_token: Callable[[], HsmConfig], verify: Callable[..., None]
) -> None:
    a, b = KeyManager(make_token()), KeyManager(make_token())
    a2 = KeyManager(a.config)  # two managers on one token share the process-wide login
    try:
        ka = a.create_key(CreateKeyRequest(label="same-label", algorithm=KeyAlgorithm.EC_P256))
        kb = b.create_key(CreateKeyRequest(label="same-label", algorithm=KeyAlgorithm.EC_P256))
        assert ka.public_key != kb.public_key
        a2.close()  # closing one manager does not log the other out
        verify(ka.public_key, a.signer("same-label").sign(b"a"), b"a")
        verify(kb.public_key, b.signer("same-label").sign(b"b"), b"b")
    finally:
        a.close()
        b.close()


def test_get_or_create_key_when_another_creates_it_meanwhile(km: KeyManager, token: HsmConfig,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The window between "not there" and "create": another process makes the key in it. The loser answers
    with the winner's key instead of HSM_KEY_EXISTS (the interleaving forced, the two managers real)."""
    other = KeyManager(token)
    req = CreateKeyRequest(label="raced", algorithm=KeyAlgorithm.EC_P256)
    real_get = km.get_key
    made: list[object] = []

    def get_key_then_lose_the_race(ref: object, *args: object, **kwargs: object) -> object:
        if not made:  # the first look finds nothing; the other process creates the key right after it
            made.append(other.create_key(req).public_key)
            raise hsm_errors.key_not_found("no key with label 'raced'")
        return real_get(ref, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(km, "get_key", get_key_then_lose_the_race)
    try:
        info = km.get_or_create_key(req)
    finally:
        other.close()
    assert info.public_key == made[0]
    assert [k.label for k in km.list_keys()].count("raced") == 1


def test_threads_get_or_create_one_key(km: KeyManager) -> None:
    req = CreateKeyRequest(label="one-of-eight", algorithm=KeyAlgorithm.EC_P256)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: km.get_or_create_key(req).public_key, range(8)))
    assert all(k == keys[0] for k in keys)
    assert [k.label for k in km.list_keys()].count("one-of-eight") == 1
