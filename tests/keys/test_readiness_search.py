"""The readiness check's token search (``NodePki.check_keys``) runs only when something may have changed: the
token answered nothing since the previous check, not even the check's own probe (one HMAC with the blind-index
key: gone, or failing), the key registry changed, or the last search is KEY_SEARCH_EVERY old. Otherwise the
PKCS#11 searches (one per key, ~9 ms with the GIL held) stalled every call of the worker every 2 s, and an idle
node made them every 2 s in every worker. The token taken away from a serving node is ``test_recovery``'s (real
server, real move)."""

from __future__ import annotations

from typing import Any

import pytest

from hsm.errors import HsmError
from hutong import pki
from hutong.pki import BLIND_INDEX, DATA_KEY, key_label


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


def _probe_answers(node: Any, answers: bool) -> list[int]:
    """The check's probe made to fail (``answers`` False: what a token gone does to it) or counted as is."""
    calls = [0]
    probe = node.pki.keys.probe

    def counted(*args: Any, **kwargs: Any) -> bool:
        calls[0] += 1
        return bool(probe(*args, **kwargs)) if answers else False

    node.pki.keys.probe = counted
    return calls


def test_the_search_is_skipped_only_while_the_token_keeps_answering(node: Any) -> None:
    searches = _count_searches(node)
    node.pki.check_keys()
    node.pki.check_keys()  # idle: the check's own probe answered, no search
    assert searches[0] == 1
    _use_the_token(node)
    node.pki.check_keys()  # answered since the last check: no search
    assert searches[0] == 1
    probes = _probe_answers(node, answers=False)
    node.pki.check_keys()  # nothing answered since that check, and the probe fails: search
    assert (searches[0], probes[0]) == (2, 1)
    _use_the_token(node)
    node.pki.registry.invalidate()
    node.pki.registry.snapshot()
    node.pki.check_keys()  # same registry version: still skipped
    assert searches[0] == 2


def test_an_idle_nodes_check_probes_with_one_hmac_and_searches_every_key_search_every(
        node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    searches, probes = _count_searches(node), _probe_answers(node, answers=True)
    node.pki.check_keys()
    answered = node.pki.keys.answered_at
    for _ in range(3):
        node.pki.check_keys()
    assert (searches[0], probes[0]) == (1, 3)
    assert node.pki.keys.answered_at > answered  # the token really answered each probe
    monkeypatch.setattr(pki, "KEY_SEARCH_EVERY", 0.0)
    node.pki.check_keys()  # the last search is too old: search, whatever the probe would say
    assert (searches[0], probes[0]) == (2, 3)


def test_the_probe_is_an_answer_or_false_never_an_error(node: Any) -> None:
    keys = node.pki.keys
    assert keys.probe(node.pki.label(BLIND_INDEX)) is True  # the general path: finds the key, caches its handle
    assert keys.probe(node.pki.label(BLIND_INDEX)) is True  # the steady state: one direct C_Sign
    assert keys.probe("node.no-such-key") is False
    assert keys.probe(key_label(DATA_KEY)) is False  # an AES key cannot make an HMAC: refused by the token


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
