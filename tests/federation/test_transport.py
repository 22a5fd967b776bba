"""Node-to-node transport: mutual TLS with certificates from each node's root, pinned through the trust list.

A stranger is refused by the hub's Relay and a member's Deliver before any HSM operation; a member's client
refuses a server that is not the node it asked for; every channel between nodes is made in one module.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from hutong import pki
from hutong.errors import HutongError
from hutong.federation import hub, relay, transport
from hutong.federation.v1 import federation_pb2 as pb
from hutong.federation.v1 import federation_pb2_grpc as pb_grpc
from hutong.node import Node
from hutong.status import error_from_rpc
from tests.federation.conftest import install_trust_list

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fed(tmp_path: Path, hub_node: Node, province: Node, prov_b: Node, serve: Any) -> dict[str, Any]:
    channels = {n.id: serve(n) for n in (hub_node, province, prov_b)}
    for n in (province, prov_b):
        hub.add_member(hub_node, hub.describe_node(n, endpoints=[channels[n.id].hutong_target]))
        n.trust.hub_target = channels["hub"].hutong_target
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b], tmp_path)
    return {"hub": hub_node, "a": province, "b": prov_b, "ch": channels}


@pytest.fixture
def decrypts(fed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every RSA-OAEP decryption B's HSM performs (the real operation still runs)."""
    seen: list[str] = []
    keys = fed["b"].keys
    real = keys.decrypt_rsa_oaep

    def counting(label: str, data: bytes, **kwargs: Any) -> bytes:
        seen.append(label)
        return real(label, data, **kwargs)

    monkeypatch.setattr(keys, "decrypt_rsa_oaep", counting)
    return seen


def _echo(node: Node, request: Any) -> dict[str, Any]:
    return {"echo": request.claims.get("say")}


def test_a_member_reaches_another_through_the_hub_over_mtls(fed: dict[str, Any], decrypts: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(relay.HANDLERS, "test.echo", _echo)
    answer = relay.send(fed["a"], target_node="prov-b", op="test.echo", claims={"say": "你好"})
    assert answer["ok"] is True and answer["echo"] == "你好" and answer["iss"] == "prov-b"
    assert decrypts, "B opened the envelope in its HSM"  # the counter sees real work: the checks below can fail


def _stub(target: str, creds: grpc.ChannelCredentials | None = None, name: str | None = None) -> Any:
    opts = [("grpc.ssl_target_name_override", name)] if name else []
    channel = grpc.secure_channel(target, creds, options=opts) if creds else grpc.insecure_channel(target)
    return pb_grpc.FederationServiceStub(channel)


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), error_from_rpc(err.value).reason


JUNK = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAA.AAAA.AAAA"


def test_deliver_on_the_plaintext_port_is_refused_before_any_hsm_operation(fed: dict[str, Any],
                                                                           decrypts: list[str]) -> None:
    stub = _stub(fed["ch"]["prov-b"].hutong_public_target)
    code, reason = _code(lambda: stub.Deliver(pb.DeliverRequest(envelope=JUNK), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "PEER_NOT_AUTHENTICATED")
    code, reason = _code(lambda: _stub(fed["ch"]["hub"].hutong_public_target).Relay(
        pb.RelayRequest(target_node="prov-b", envelope=JUNK), timeout=10))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "PEER_NOT_AUTHENTICATED")
    assert decrypts == []


def test_a_stranger_with_its_own_root_cannot_connect_to_the_hub_or_a_member(fed: dict[str, Any], decrypts: list[str],
                                                                            node_factory: Any) -> None:
    stranger: Node = node_factory("stranger")
    tls = transport.node_tls(stranger)
    for target_id, root in (("hub", fed["hub"].pki.certificate(pki.ROOT)),
                            ("prov-b", fed["b"].pki.certificate(pki.ROOT))):
        # The stranger trusts the real server (it could have read the trust list); the server does not trust it.
        creds = grpc.ssl_channel_credentials(transport._pem([root]), tls.key_pem, tls.cert_pem)
        stub = _stub(fed["ch"][target_id].hutong_target, creds, target_id)
        code, _ = _code(lambda stub=stub: stub.Relay(pb.RelayRequest(target_node="prov-b", envelope=JUNK),
                                                     timeout=10))
        assert code == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails: nothing reaches the servicer
        code, _ = _code(lambda stub=stub: stub.Deliver(pb.DeliverRequest(envelope=JUNK), timeout=10))
        assert code == grpc.StatusCode.UNAVAILABLE
    # Without a client certificate at all, the federation port refuses too.
    anon = grpc.ssl_channel_credentials(transport._pem([fed["b"].pki.certificate(pki.ROOT)]))
    code, _ = _code(lambda: _stub(fed["ch"]["prov-b"].hutong_target, anon, "prov-b").Deliver(
        pb.DeliverRequest(envelope=JUNK), timeout=10))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert decrypts == []


def test_a_removed_member_is_refused_by_the_hub_relay(fed: dict[str, Any], decrypts: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(relay.HANDLERS, "test.echo", _echo)
    hub.remove_member(fed["hub"], "prov-a")
    with pytest.raises(HutongError):
        relay.send(fed["a"], target_node="prov-b", op="test.echo", claims={"say": "x"})
    assert decrypts == []


def test_a_member_refuses_a_server_that_is_not_the_node_it_asked_for(fed: dict[str, Any]) -> None:
    b_entry = fed["a"].trust.member("prov-b")
    impostor = replace(b_entry, endpoints=[fed["ch"]["hub"].hutong_target])  # the hub answers for B: wrong root
    with pytest.raises(HutongError) as err:
        transport.fetch_crls(fed["a"], impostor)
    assert err.value.reason != "", err.value
    assert transport.fetch_crls(fed["a"], b_entry)  # the real B answers


def test_the_tls_key_file_is_private(fed: dict[str, Any]) -> None:
    path = fed["a"].config.data_dir / transport.TLS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    cert = transport.node_tls(fed["a"]).certificate
    cert.verify_directly_issued_by(fed["a"].pki.certificate(pki.ROOT))
    assert "prov-a" in transport._dns_names(cert)


def test_every_channel_between_nodes_is_made_in_the_transport_module() -> None:
    made = re.compile(r"\bgrpc\.(aio\.)?(insecure|secure)_channel\(")
    offenders = []
    for package in ("hutong", "identity_svc", "seal_svc", "cert_svc"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ("hutong/federation/transport.py", "hutong/demo/cluster.py"):  # demo: its health probe
                continue
            if made.search(path.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert offenders == []
