"""The readiness check's token search (``NodePki.check_keys``) runs only when something may have changed: the
token answered nothing since the previous check (idle, or gone), the key registry changed, or the last search is
KEY_SEARCH_EVERY old. Otherwise the PKCS#11 searches (one per key, ~9 ms with the GIL held) stalled every call
of the worker every 2 s. The token taken away from a serving node is ``test_recovery``'s (real server, real move)."""

from __future__ import annotations

from typing import Any

import pytest

from hsm.errors import HsmError
from hutong import pki
from hutong.pki import DATA_KEY, key_label


def _count_searches(node: Any) -> list[int]:
    """Counts the check's searches; each still runs for real against the token."""
    calls = [0]
    search = node.pki.keys.labels_present

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return search(*args, **kwargs)

    node.pki.keys.labels_present = counted
    return calls


def _use_the_token(node: Any) -> None:
    label = key_label(DATA_KEY)
    assert node.keys.decrypt(label, node.keys.encrypt(label, b"x", aad=b"a"), aad=b"a") == b"x"


def test_the_search_is_skipped_only_while_the_token_keeps_answering(node: Any) -> None:
    searches = _count_searches(node)
    node.pki.check_keys()
    node.pki.check_keys()  # idle: nothing answered since, so it searches again
    assert searches[0] == 2
    _use_the_token(node)
    node.pki.check_keys()  # answered since the last check: no search
    assert searches[0] == 2
    node.pki.check_keys()  # nothing answered since that check: search
    assert searches[0] == 3
    _use_the_token(node)
    node.pki.registry.invalidate()
    node.pki.registry.snapshot()
    node.pki.check_keys()  # same registry version: still skipped
    assert searches[0] == 3


def test_a_missing_key_is_found_by_the_next_search(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    searches = _count_searches(node)
    node.pki.check_keys()
    _use_the_token(node)
    monkeypatch.setattr(pki, "KEY_SEARCH_EVERY", 0.0)  # the last search is too old: search although answered
    node.pki.check_keys()
    assert searches[0] == 2
    empty = [0]

    def nothing(*_: Any, **__: Any) -> set[tuple[str, str]]:  # the token no longer lists the node's keys
        empty[0] += 1
        return set()

    node.pki.keys.labels_present = nothing
    _use_the_token(node)
    with pytest.raises(HsmError) as exc:
        node.pki.check_keys()
    assert exc.value.reason == "HSM_UNAVAILABLE"
    monkeypatch.setattr(pki, "KEY_SEARCH_EVERY", 30.0)
    _use_the_token(node)
    with pytest.raises(HsmError):  # a failed check is never remembered as a pass: it searches again
        node.pki.check_keys()
    assert empty[0] == 2
