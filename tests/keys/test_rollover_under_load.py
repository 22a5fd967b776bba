"""Every supported node key role rolls over on a running ``serve --workers 2`` node under continuous load
(login, refresh, sealing, issuance, verification) with no failed call; everything made before, during and
after verifies at the node and offline with the SDK. In the every-role case the node is a member of a federation:
each successor is announced through the hub's trust list before it is activated (the node refuses otherwise), and
at the end another member verifies everything the node sealed and issued, before and after, through the list.

The load checks the rule that makes a rollover safe: each new ID token must verify against the JWKS the
platform fetched *before* asking for it -- a successor is published before anything is signed with it.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from bench.pdfgen import make_pdf
from hutong import pki
from hutong.cert.v1 import cert_pb2, cert_pb2_grpc
from hutong.common.v1 import common_pb2
from hutong.demo.cluster import free_port
from hutong.federation import hub
from hutong.federation.trustlist import MemberEntry
from hutong.node import Node
from hutong.seal.v1 import seal_pb2
from hutong.verify.pdf import Verdict
from hutong.verify.tokens import verify_token
from hutong_client import Hutong, OfflineVerifier
from tests.clients.sdk_world import ACME, LI, PASSWORD, REGULATOR, ZHANG, licence_fields
from tests.federation.conftest import install_trust_list
from tests.keys.conftest import UNDER_LOAD, LoadThreads, Served, build_node, hutong, wait_until
from tests.keys.test_rollover_federation import FAST_CRLS, _verify_at

# The root last: its rollover replaces every key it certifies once more (tokens, seals, licences, timestamps then
# chain to the new root), so what was made under each earlier generation must still verify at the end.
# The data-protection key: prepare and activate by the officer, then the serving node re-encrypts by itself (checked
# at the end: nothing left under the first key, which may then be destroyed).
# The blind-index key: prepare and activate by the officer, then the serving node re-indexes by itself (checked at
# the end: every index column walked).
ROLES = ("token-signing", "seal-ca", "issuer-ca", "tsa", "federation-enc", "trust-list", "data-key", "blind-index",
         "root-ca")
# Per load thread, the load is bounded in count and time even if something hangs; the count is generous so that a
# fast machine does not use it up before every role has rolled over (the loops stop when the test is done).
PLACE = seal_pb2.Placement(page=1, x=400, y=60, width=100, height=100)


@dataclass
class Load(LoadThreads):
    """Background callers; every failure is kept (the test wants none), every artefact too."""

    served: Served
    seal_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    id_tokens: list[str] = field(default_factory=list)
    sealed: list[bytes] = field(default_factory=list)
    licences: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def tokens(self, h: Hutong) -> None:
        jwks, issuer = h.identity.jwks(refresh=True)  # what a platform holds when it asks for a token
        tokens = h.identity.login(LI, PASSWORD)
        verify_token(tokens.id_token, jwks, issuer=issuer, audience="portal", kind="id")
        refreshed = h.identity.refresh(tokens.refresh_token)
        assert h.identity.introspect(refreshed.access_token).active
        self.id_tokens += [t for t in (tokens.id_token, refreshed.id_token) if t]  # a refresh may carry none

    def seal(self, h: Hutong) -> None:
        out = io.BytesIO()
        h.seal.sign(make_pdf(pages=1), out, self.seal_id, placement=PLACE, level=seal_pb2.PADES_LEVEL_B_T)
        assert h.seal.verify(out.getvalue()).verdict == common_pb2.VERDICT_VALID
        self.sealed.append(out.getvalue())

    def issue(self, h: Hutong) -> None:
        cert = h.cert.issue(self.served.secrets["licence_type"], ACME[0], ACME[1], licence_fields())
        assert h.cert.verify(jws_token=cert.jws).verdict == common_pb2.VERDICT_VALID
        self.licences.append(cert.jws)

    def progress(self, calls: int = 2) -> None:
        """Wait until every load thread finished ``calls`` more iterations (or the load failed)."""
        start = dict(self.done)
        assert all(t.is_alive() for t in self.threads), "the load's budget ran out before the test was done"
        wait_until(lambda: bool(self.failures) or all(self.done.get(n, 0) >= start.get(n, 0) + calls
                                                for n in ("tokens", "seal", "issue")), "the load to progress")

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def _prepare_seal(served: Served) -> str:
    with Hutong(served.target, client_id="portal", client_secret=served.secrets["portal_secret"]) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(ACME[0], ACME[1])
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
        seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_CONTRACT)
        company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM)
        return str(seal.seal_id)


@dataclass
class Federation:
    """An in-process hub and a second member around the served node; the node fetches the hub's list itself."""

    hub: Node
    member: Node
    data: Path
    tmp: Path

    @staticmethod
    def config(hub_target: str, hub_root: Path) -> str:
        port = free_port()  # the node's mutual-TLS port, where the other member fetches its CRLs and status lists
        return (f'\n[federation]\nhub = "{hub_target}"\nhub_root_file = "{hub_root}"\nlisten = "127.0.0.1:{port}"\n'
                f'endpoints = ["127.0.0.1:{port}"]\nrefresh_seconds = 1\ncrl_refresh_seconds = 0\n')

    def publish(self) -> None:
        """The node's descriptor as it is now (from its own CLI), the other member's, in the next list."""
        raw = json.loads(hutong("federation", "describe", "--data-dir", str(self.data)).stdout)
        hub.add_member(self.hub, MemberEntry.from_dict(raw))
        hub.add_member(self.hub, hub.describe_node(self.member))
        install_trust_list(self.hub, hub.publish(self.hub), [self.member], self.tmp)


def _rotate(data: Path, role: str, fed: Federation | None) -> None:
    """One step of ``hsm rotate``. Federated, the list is published after each step; the node refuses to activate
    a successor until its own copy of the list (fetched every second) announces it, so that refusal is waited out."""
    deadline = time.monotonic() + 120
    while True:
        proc = hutong("hsm", "rotate", "--data-dir", str(data), "--label", f"node.{role}", check=False)
        if proc.returncode == 0:
            break
        assert fed is not None and "ROLLOVER_NOT_PUBLISHED" in proc.stderr, proc.stderr
        assert time.monotonic() < deadline, "the node did not fetch the list announcing its successor"
        time.sleep(0.5)
    if fed is not None:
        fed.publish()


def _registry(data: Path) -> list[dict[str, Any]]:
    return list(json.loads(hutong("node", "keys", "--data-dir", str(data), "--json").stdout))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("roles, federated", [
    pytest.param(("token-signing", "seal-ca"), False, id="token-and-seal-ca"),
    pytest.param(ROLES, True, id="every-role",
                 marks=[pytest.mark.slow, pytest.mark.xdist_group(UNDER_LOAD)]),
])
def test_roles_roll_over_under_load_without_a_failed_call(
        roles: tuple[str, ...], federated: bool, tmp_path: Path, served_factory: Callable[..., Served],
        request: pytest.FixtureRequest) -> None:
    started = time.monotonic()
    data = tmp_path / "node"
    secrets = build_node(data)
    fed: Federation | None = None
    if federated:  # the node joins: its configuration names the hub; both members listed before it starts
        node_factory, serve = request.getfixturevalue("node_factory"), request.getfixturevalue("serve")
        fed = Federation(node_factory("hub"), node_factory("prov-m", config=FAST_CRLS), data, tmp_path)
        root = tmp_path / "hub-root.pem"
        root.write_bytes(fed.hub.pki.certificate(pki.ROOT).public_bytes(serialization.Encoding.PEM))
        with (data / "hutong.toml").open("a", encoding="utf-8") as toml:
            toml.write(Federation.config(serve(fed.hub).hutong_target, root))
        fed.publish()
    served = served_factory(data, workers=2)
    served.secrets = secrets
    load = Load(served, _prepare_seal(served))
    load.run("tokens", load.tokens, "portal")
    load.run("seal", load.seal, "portal")
    load.run("issue", load.issue, "amr-platform")
    before = {r["role"]: r["label"] for r in _registry(data) if r["state"] == "active"}
    try:
        load.progress()
        for i, role in enumerate(roles):
            if i == 0:
                dry = hutong("hsm", "rotate", "--data-dir", str(data), "--label", f"node.{role}", "--dry-run")
                assert "dry run, nothing changed: would prepare" in dry.stdout
                assert not [r for r in _registry(data) if r["state"] == "pending"]
            for _step in range(2):  # prepare (published, not used), activate (used)
                _rotate(data, role, fed)
                load.progress()  # calls go on
        if "data-key" in roles:  # the node re-encrypts by itself, under the load
            deadline = time.monotonic() + 300
            while "re-encryption pending" in hutong("node", "keys", "--data-dir", str(data)).stdout:
                assert time.monotonic() < deadline, "the node did not finish re-encrypting by itself"
                time.sleep(1.0)
            hutong("hsm", "destroy", "--data-dir", str(data), "--key", "node.data-key", "--yes")  # nothing needs it
            load.progress()
        if "blind-index" in roles:  # the node re-indexes by itself, under the load (the register's rows wait)
            deadline = time.monotonic() + 300
            while "re-indexing pending" in (keys := hutong("node", "keys", "--data-dir", str(data)).stdout) \
                    and not re.search(r"(\d+) of \1 index columns walked", keys):  # walked (what waits: the register)
                assert time.monotonic() < deadline, "the node did not re-index by itself"
                time.sleep(1.0)
            load.progress()
    finally:
        load.finish()
    assert load.failures == [], load.failures[:5]
    # New seal and issuer certificates come from the new CAs.
    new_seal = _prepare_new_seal(served)
    with load.client("portal") as portal:
        out = io.BytesIO()
        portal.seal.sign(make_pdf(pages=1), out, new_seal, placement=PLACE, level=seal_pb2.PADES_LEVEL_B_T)
        load.sealed.append(out.getvalue())

    registry = _registry(data)
    for role in roles:
        states = {r["label"]: r["state"] for r in registry if r["role"] == role}
        # one active key; the first one and any in between retired (the root's rollover replaced the others too)
        assert sorted(set(states.values())) == ["active", "retired"], (role, states)
        assert list(states.values()).count("active") == 1 and states[before[role]] == "retired"

    # Everything made before, during and after verifies: at the node and offline with the SDK.
    with Hutong(served.target, client_id="portal", client_secret=secrets["portal_secret"]) as portal:
        jwks, issuer = portal.identity.jwks(refresh=True)
        if "token-signing" in roles:  # made with the old key and with each new one
            generations = 1 + roles.count("token-signing") + roles.count("root-ca")
            assert len({verify_token_kid(t) for t in load.id_tokens}) == generations
        # Every token's signature against the JWKS published now (the retired keys are still in it). On a slow
        # machine the whole test outlasts the first tokens' lifetime: their expiry is not what is checked here.
        outlasted = int(time.monotonic() - started) + 60
        for token in load.id_tokens:
            verify_token(token, jwks, issuer=issuer, audience="portal", kind="id", leeway=outlasted)
        offline = portal.seal.offline_verifier()
        for pdf in load.sealed[:3] + load.sealed[-3:]:
            assert portal.seal.verify(pdf).verdict == common_pb2.VERDICT_VALID
            assert offline.verify(pdf).verdict.value == "valid"
        bundle = cert_pb2.GetTrustBundleResponse.FromString(portal.cert.trust_bundle().SerializeToString())
        verifier = OfflineVerifier.from_bundle(bundle, fetch=portal.cert.status_list)
        for licence in load.licences[:3] + load.licences[-3:]:
            assert portal.cert.verify(jws_token=licence).verdict == common_pb2.VERDICT_VALID
            assert verifier.verify(licence).verdict == "valid"
    if fed is not None:  # at the other member, through the trust list: seals and licences, before and after
        fed.publish()
        member_certs = cert_pb2_grpc.CertServiceStub(request.getfixturevalue("serve")(fed.member))
        for pdf in load.sealed[:3] + load.sealed[-3:]:
            assert _verify_at(fed.member, pdf).verdict == Verdict.VALID
        for licence in load.licences[:3] + load.licences[-3:]:
            answer = member_certs.Verify(cert_pb2.VerifyRequest(jws=licence), timeout=60)
            assert answer.verdict == common_pb2.VERDICT_VALID, answer
    served.stop()
    audit = hutong("audit", "verify", "--data-dir", str(data))
    assert "audit log intact" in audit.stdout


def verify_token_kid(token: str) -> str:
    import base64

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _prepare_new_seal(served: Served) -> str:
    """A seal made after the seal CA rollover (its certificate chains to the new seal CA) and a new issuer."""
    s = served.secrets
    with Hutong(served.target, client_id="ops", client_secret=s["ops_secret"]) as ops:
        ops.cert.register_issuer("91110000600037341L", "北京某某局", [s["licence_type"]], platform_client_id="portal")
    with Hutong(served.target, client_id="portal", client_secret=s["portal_secret"]) as portal:
        company = portal.as_person(portal.identity.session(
            portal.as_person(portal.login(ZHANG, PASSWORD)).identity.switch_organisation(ACME[0])))
        seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_FINANCE)
        company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM)
        return str(seal.seal_id)


_ = REGULATOR
