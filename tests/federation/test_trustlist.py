"""Trust list: the hub signs, members verify, keep the last good copy, refuse older and stale lists."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from hutong import pki
from hutong.errors import HutongError
from hutong.federation import hub
from hutong.federation.trustlist import TrustListStore
from hutong.verify.jose import b64u as _b64
from tests.federation.conftest import federate


def _store(tmp_path: Path, hub_node) -> TrustListStore:  # type: ignore[no-untyped-def]
    return TrustListStore(path=tmp_path / "trust-list.jws", hub_roots=[hub_node.pki.certificate(pki.ROOT)])


def _reason(exc: pytest.ExceptionInfo[HutongError]) -> str:
    return exc.value.reason


def test_member_accepts_the_hubs_list_and_reads_entries(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    token = hub.publish(hub_node)
    store = _store(tmp_path, hub_node)
    tl = store.accept(token)
    assert tl.sequence == 1 and tl.member("prov-a").certificates("seal")[0] == province.pki.certificate(pki.SEAL_CA)
    # The last good copy survives a restart.
    assert _store(tmp_path, hub_node).current().sequence == 1


def test_tampered_list_is_refused_and_last_good_stays(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    store = _store(tmp_path, hub_node)
    store.accept(hub.publish(hub_node))
    header, payload, sig = hub.publish(hub_node).split(".")
    forged = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(HutongError) as err:
        store.accept(f"{header}.{forged}.{sig}")
    assert _reason(err) in ("TRUST_LIST_SIGNATURE_INVALID", "TRUST_LIST_MALFORMED")
    with pytest.raises(HutongError) as err:
        store.accept(f"{header}.{payload}.{_b64(b'x' * 64)}")
    assert _reason(err) == "TRUST_LIST_SIGNATURE_INVALID"
    assert store.current().sequence == 1


def test_list_from_another_signer_is_refused(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(province, hub.describe_node(province))
    with pytest.raises(HutongError) as err:
        _store(tmp_path, hub_node).accept(hub.publish(province))
    assert _reason(err) == "TRUST_LIST_UNKNOWN_SIGNER"


def test_older_or_replayed_list_is_refused(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    first, second = hub.publish(hub_node), hub.publish(hub_node)
    store = _store(tmp_path, hub_node)
    store.accept(second)
    for old in (first, second):
        with pytest.raises(HutongError) as err:
            store.accept(old)
        assert _reason(err) == "TRUST_LIST_OLDER"
    assert store.current().sequence == 2


def test_warns_before_and_fails_closed_after_grace(tmp_path, hub_node, province, caplog) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    store = _store(tmp_path, hub_node)
    tl = store.accept(hub.publish(hub_node, validity=timedelta(days=7)))
    with caplog.at_level(logging.WARNING, logger="hutong.federation"):
        store.current(now=tl.next_update - timedelta(hours=1))
    assert "due for renewal" in caplog.text
    store.current(now=tl.next_update + store.grace - timedelta(seconds=1))
    with pytest.raises(HutongError) as err:
        store.current(now=tl.next_update + store.grace + timedelta(seconds=1))
    assert _reason(err) == "TRUST_LIST_STALE"


def test_removed_member_is_gone_after_refresh(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    store = _store(tmp_path, hub_node)
    store.accept(hub.publish(hub_node))
    hub.remove_member(hub_node, "prov-a")
    store.accept(hub.publish(hub_node))
    with pytest.raises(HutongError) as err:
        store.current().member("prov-a")
    assert _reason(err) == "NODE_NOT_IN_TRUST_LIST"


def test_hub_signing_key_rollover_keeps_verification(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    hub.add_member(hub_node, hub.describe_node(province))
    store = _store(tmp_path, hub_node)
    store.accept(hub.publish(hub_node))
    from hutong import rollover

    old = hub_node.pki.certificate(pki.TRUST_LIST)
    rollover.rotate(hub_node, pki.TRUST_LIST)  # prepare
    store.accept(hub.publish(hub_node))  # #2, signed by the current key, announces the successor (the pivot)
    rollover.rotate(hub_node, pki.TRUST_LIST)  # activate
    assert hub_node.pki.certificate(pki.TRUST_LIST) != old
    tl = store.accept(hub.publish(hub_node))  # signed by the announced successor, certified by the pinned root
    assert tl.sequence == 3


def test_assertion_from_a_to_b_is_accepted_once(tmp_path, hub_node, province, prov_b) -> None:  # type: ignore[no-untyped-def]
    from hutong.federation import assertion

    federate(hub_node, [province, prov_b], tmp_path)
    token = assertion.issue(province, audience_node="prov-b", op="test", claims={"acr": "high", "name": "张三"})
    with pytest.raises(HutongError) as err:
        assertion.accept(prov_b, token, op="other")  # an envelope for one operation is not good for another
    assert _reason(err) == "ASSERTION_INVALID"
    accepted = assertion.accept(prov_b, token, op="test")
    assert accepted.issuer_node == "prov-a" and accepted.claims["acr"] == "high" and accepted.claims["name"] == "张三"
    for bad_node, reason in ((prov_b, "ASSERTION_REPLAYED"), (province, "ASSERTION_INVALID")):
        with pytest.raises(HutongError) as err:
            assertion.accept(bad_node, token, op="test")  # replayed at B; A cannot even decrypt what was meant for B
        assert _reason(err) == reason


def test_assertion_from_a_removed_member_is_refused(tmp_path, hub_node, province, prov_b) -> None:  # type: ignore[no-untyped-def]
    from hutong.federation import assertion

    federate(hub_node, [province, prov_b], tmp_path)
    token = assertion.issue(province, audience_node="prov-b", op="test", claims={"acr": "substantial"})
    hub.remove_member(hub_node, "prov-a")
    prov_b.trust.store.accept(hub.publish(hub_node))
    with pytest.raises(HutongError) as err:
        assertion.accept(prov_b, token, op="test")
    assert _reason(err) == "NODE_NOT_IN_TRUST_LIST"


def test_unsigned_list_is_refused(tmp_path, hub_node, province) -> None:  # type: ignore[no-untyped-def]
    import json

    hub.add_member(hub_node, hub.describe_node(province))
    header, payload, _ = hub.publish(hub_node).split(".")
    head = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    unsigned = _b64(json.dumps({**head, "alg": "none"}).encode()) + f".{payload}."
    with pytest.raises(HutongError) as err:
        _store(tmp_path, hub_node).accept(unsigned)
    assert _reason(err) in ("TRUST_LIST_SIGNATURE_INVALID", "TRUST_LIST_MALFORMED")
