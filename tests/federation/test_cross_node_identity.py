"""Register once, recognised everywhere: a person registered at A signs in at a platform attached to B."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET
from hutong.common.v1.common_pb2 import LEVEL_OF_ASSURANCE_SUBSTANTIAL
from hutong.errors import HutongError
from hutong.federation import assertion, hub
from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.node import Node
from hutong.status import error_from_rpc
from hutong.verify.tokens import verify_token
from hutong_client.identity import IdentityClient
from identity_svc import platforms, registers
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity
from identity_svc.models import Person
from tests.federation.conftest import federate, install_trust_list

CITIZEN, NAME, PASSWORD = "11010519491231002X", "张三", "correct horse 1"


@dataclass
class Caller:
    """A platform's credentials on one node, optionally acting for a person (raw stub calls)."""

    channel: grpc.Channel
    client_id: str
    secret: str
    token: str = ""

    def call(self, method: str, request: Any) -> Any:
        md = [(CLIENT_ID, self.client_id), (CLIENT_SECRET, self.secret)]
        md += [(AUTHORIZATION, f"Bearer {self.token}")] if self.token else []
        try:
            return getattr(pb_grpc.IdentityServiceStub(self.channel), method)(request, metadata=md, timeout=30)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def sdk(self) -> IdentityClient:
        return IdentityClient(self.channel, client_id=self.client_id, client_secret=self.secret)


def _platform(node: Node, channel: grpc.Channel, client_id: str, **kw: Any) -> Caller:
    new = platforms.add_platform(Identity.of(node), client_id=client_id, name=client_id, **kw)
    return Caller(channel, new.info.client_id, new.client_secret)


def _assertion_for(person_at_a: Caller, audience: str) -> str:
    return str(person_at_a.call("CreateFederationAssertion",
                                pb.CreateFederationAssertionRequest(audience_node=audience)).assertion)


def _exchange(platform_at_b: Caller, token: str) -> pb.TokenSet:
    return platform_at_b.call("ExchangeFederationAssertion",
                              pb.ExchangeFederationAssertionRequest(assertion=token)).tokens


@pytest.fixture
def world(tmp_path: Path, hub_node: Node, province: Node, prov_b: Node, serve: Any) -> dict[str, Any]:
    federate(hub_node, [province, prov_b], tmp_path)
    with province.db.session() as s:
        registers.TableRegister(Identity.of(province)).add_person(s, CITIZEN, NAME)
    ch_a, ch_b = serve(province), serve(prov_b)
    portal_a = _platform(province, ch_a, "portal-a")
    portal_a.sdk().register_person(CITIZEN, NAME, PASSWORD)
    substantial = portal_a.sdk().as_person(portal_a.sdk().login(CITIZEN, PASSWORD).access_token)
    holder_key = ec.generate_private_key(ec.SECP256R1())  # the citizen's own key (USB-key practice)
    substantial.register_public_key(public_key_pem=holder_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    return {"a": province, "b": prov_b, "portal_a": portal_a, "key": holder_key, "ch_b": ch_b,
            "service_b": _platform(prov_b, ch_b, "service-b", required_acr="high"),
            "other_b": _platform(prov_b, ch_b, "other-b")}


def _login_high(w: dict[str, Any]) -> Caller:
    """Password + a challenge signed with the holder's key: level high."""
    portal: Caller = w["portal_a"]
    sdk = portal.sdk()
    ch = sdk.create_login_challenge(CITIZEN)
    signature = w["key"].sign(ch.to_sign, ec.ECDSA(hashes.SHA256()))
    return replace(portal, token=sdk.login(CITIZEN, PASSWORD, challenge_id=ch.challenge_id,
                                           signature=signature).access_token)


def _persons(node: Node) -> int:
    with node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def test_person_from_a_signs_in_at_b_without_registering(world: dict[str, Any]) -> None:
    person_a = _login_high(world)
    tokens = _exchange(world["service_b"], _assertion_for(person_a, "prov-b"))
    assert list(tokens.amr)[-1] == "fed" and "hwk" in tokens.amr
    jwks, issuer = world["service_b"].sdk().jwks()
    claims = verify_token(tokens.id_token, jwks, issuer=issuer, audience="service-b", kind="id")
    assert claims["acr"] == "high" and CITIZEN not in str(claims)
    # Again, and through another platform: still one account at B, pairwise subjects differ.
    again = _exchange(world["service_b"], _assertion_for(_login_high(world), "prov-b"))
    other = _exchange(world["other_b"], _assertion_for(_login_high(world), "prov-b"))
    assert again.subject == tokens.subject and other.subject != tokens.subject
    assert _persons(world["b"]) == 1


def test_level_is_never_raised_across_nodes(world: dict[str, Any]) -> None:
    portal: Caller = world["portal_a"]
    substantial = replace(portal, token=portal.sdk().login(CITIZEN, PASSWORD).access_token)
    with pytest.raises(HutongError) as err:
        _exchange(world["service_b"], _assertion_for(substantial, "prov-b"))
    assert err.value.reason == "STEP_UP_REQUIRED"
    tokens = _exchange(world["other_b"], _assertion_for(substantial, "prov-b"))
    assert tokens.acr == LEVEL_OF_ASSURANCE_SUBSTANTIAL


def test_replayed_misaddressed_and_expired_assertions_are_refused(world: dict[str, Any], monkeypatch: Any) -> None:
    person_a = _login_high(world)
    token = _assertion_for(person_a, "prov-b")
    _exchange(world["service_b"], token)
    with pytest.raises(HutongError) as err:
        _exchange(world["service_b"], token)
    assert err.value.reason == "ASSERTION_REPLAYED"
    with pytest.raises(HutongError) as err:
        _assertion_for(person_a, "nowhere")
    assert err.value.reason == "NODE_NOT_IN_TRUST_LIST"
    monkeypatch.setattr(assertion, "LIFETIME", timedelta(minutes=-5))
    stale = _assertion_for(person_a, "prov-b")
    with pytest.raises(HutongError) as err:
        _exchange(world["service_b"], stale)
    assert err.value.reason == "ASSERTION_EXPIRED"
    with pytest.raises(HutongError) as err:
        _exchange(world["service_b"], token[:-8] + "AAAAAAAA")
    assert err.value.reason in ("ASSERTION_INVALID", "ASSERTION_MALFORMED")


def test_b_refuses_a_after_a_is_removed_from_the_trust_list(world: dict[str, Any], hub_node: Node,
                                                              tmp_path: Path) -> None:
    token = _assertion_for(_login_high(world), "prov-b")
    hub.remove_member(hub_node, "prov-a")
    install_trust_list(hub_node, hub.publish(hub_node), [world["b"]], tmp_path)
    with pytest.raises(HutongError) as err:
        _exchange(world["service_b"], token)
    assert err.value.reason == "NODE_NOT_IN_TRUST_LIST"


def test_member_token_key_rollover_keeps_earlier_tokens_verifiable(world: dict[str, Any], hub_node: Node,
                                                                    tmp_path: Path) -> None:
    """A rotates its token key and republishes its descriptor: assertions and tokens signed before the
    rotation still verify (A's JWKS and the trust list carry the retired key), new ones use the new key."""
    before = _login_high(world)
    token_before = _assertion_for(before, "prov-b")
    id_token_before = before.sdk().login(CITIZEN, PASSWORD).id_token
    from hutong import rollover
    from hutong.errors import FailedPrecondition

    rollover.rotate(world["a"], "token-signing")  # prepare: the successor is published, not used
    with pytest.raises(FailedPrecondition) as refused:  # not announced by the trust list in force yet
        rollover.rotate(world["a"], "token-signing")
    assert refused.value.reason == "ROLLOVER_NOT_PUBLISHED"
    hub.add_member(hub_node, hub.describe_node(world["a"]))
    install_trust_list(hub_node, hub.publish(hub_node), [world["a"], world["b"]], tmp_path)
    rollover.rotate(world["a"], "token-signing")  # activate
    jwks, issuer = world["portal_a"].sdk().jwks(refresh=True)
    assert len(jwks["keys"]) == 2
    verify_token(id_token_before, jwks, issuer=issuer, audience="portal-a", kind="id")
    assert _exchange(world["service_b"], token_before).acr  # signed with the retired key, still accepted


def test_organisation_context_crosses_with_the_roles_in_force_at_home(world: dict[str, Any]) -> None:
    """The legal representative, acting for the company at A, is recognised at B acting for it too: B's token
    carries the organisation and exactly the roles A vouched for; a session without that context does not."""
    company, name = "91350100M000100Y43", "福州阿克米科技有限公司"
    with world["a"].db.session() as s:
        registers.TableRegister(Identity.of(world["a"])).add_organisation(s, company, name, CITIZEN)
    person_a = _login_high(world)
    person_a.sdk().as_person(person_a.token).register_organisation(company, name)
    org_token = person_a.sdk().as_person(person_a.token).switch_organisation(company).access_token
    tokens = _exchange(world["other_b"], _assertion_for(replace(person_a, token=org_token), "prov-b"))
    principal = TokenAuthenticator(world["b"]).authenticate({AUTHORIZATION: f"Bearer {tokens.access_token}"})
    assert principal.org_uscc == company and "legal_representative" in principal.roles
    assert principal.acr == "high"
    plain = _exchange(world["other_b"], _assertion_for(_login_high(world), "prov-b"))
    assert TokenAuthenticator(world["b"]).authenticate({AUTHORIZATION: f"Bearer {plain.access_token}"}).org_uscc \
        is None
