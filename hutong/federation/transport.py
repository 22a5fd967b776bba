"""Every channel between nodes is made here: mutually authenticated TLS, pinned through the trust list.

One module owns node-to-node and node-to-hub transport, so there is one place to read what a node trusts
on the wire: the trust-list fetch (refresher and ``hutong federation refresh``), the relay (member -> hub
``Relay``, hub -> member ``Deliver``), and the fetchers of other members' CRLs and status lists.

Identity on the wire
  Each node has a TLS certificate issued by its own root CA (the root's key stays in the HSM) naming the
  node id as a DNS subjectAltName (plus the hosts it listens on). A client connecting to member X trusts
  only X's root as published in the trust list and expects the name X; to the hub, only the hub's root
  (configured out of band). A server accepts a client only if its certificate chains to the root of a node
  it knows (the trust list's members and hub; on the hub, its own member registry), and ``peer_node``
  names which node that is -- the hub's ``Relay`` and a member's ``Deliver`` accept nothing else, before
  any HSM operation is spent on the envelope.

The one exception to "private keys never leave the HSM"
  gRPC's Python server and client take the TLS private key as PEM bytes; they cannot use a PKCS#11 key.
  So the TLS key pair is generated in software for this one purpose, stored in ``secrets/federation-tls.pem``
  (mode 0600, in the 0700 secrets directory), and certified by the node root in the HSM for one year;
  it is re-issued automatically when near expiry or when the root changes. It
  authenticates the channel only: every assertion, trust list, token, seal and certificate is still signed
  by a key in the HSM, so a stolen TLS key lets a thief connect as the node -- not speak for it.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from hutong import pki
from hutong.cert.v1 import cert_pb2, cert_pb2_grpc
from hutong.errors import FailedPrecondition, HutongError, NotFound, PermissionDenied, Unauthenticated
from hutong.federation.registry import members
from hutong.federation.settings import federation_settings
from hutong.federation.trustlist import MemberEntry, verify_trust_list
from hutong.federation.v1 import federation_pb2 as pb
from hutong.federation.v1 import federation_pb2_grpc as pb_grpc
from hutong.node import Node
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.status import error_from_rpc

TLS_FILE = Path("secrets") / "federation-tls.pem"
RENEW_BEFORE = timedelta(days=30)
TIMEOUT = 15.0

TLS_PROFILE = pki.Profile(
    ca=False, key_usage={**pki._NO_USAGE, "digital_signature": True},
    eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
)

_lock = threading.Lock()
_cache: dict[Path, NodeTls] = {}


@dataclass(frozen=True)
class NodeTls:
    """This node's TLS key (PEM, software, 0600) and certificate (issued by the node root)."""

    key_pem: bytes
    cert_pem: bytes
    certificate: x509.Certificate


# -- this node's TLS identity ----------------------------------------------------------------------

def _hosts(node: Node) -> list[str]:
    """Hosts this node is reached at (its listen addresses and published endpoints), for the SAN."""
    cfg = federation_settings(node.config)
    addrs = [node.config.server.listen, cfg.listen, *cfg.endpoints]
    hosts = {a.rpartition(":")[0].strip("[]") for a in addrs if ":" in a}
    return sorted(h for h in hosts | {"127.0.0.1", "localhost"} if h)


def _san(node: Node) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(node.id)]
    for host in _hosts(node):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _usable(cert: x509.Certificate, root: x509.Certificate, node_id: str) -> bool:
    now = datetime.now(UTC)
    if cert.not_valid_after_utc - RENEW_BEFORE < now or node_id not in _dns_names(cert):
        return False
    try:
        cert.verify_directly_issued_by(root)
    except Exception:  # noqa: BLE001 - the root was rotated (or the file is someone else's): re-issue
        return False
    return True


def node_tls(node: Node) -> NodeTls:
    """This node's TLS key and certificate, made on first use and renewed when near expiry."""
    path = node.config.data_dir / TLS_FILE
    root = node.pki.certificate(pki.ROOT)
    with _lock:
        held = _cache.get(path)
        if held is None and path.exists():
            blob = path.read_bytes()
            cert = x509.load_pem_x509_certificate(blob)
            held = NodeTls(key_pem=_key_part(blob), cert_pem=cert.public_bytes(serialization.Encoding.PEM),
                           certificate=cert)
        if held is None or not _usable(held.certificate, root, node.id):
            held = _issue(node, path)
        _cache[path] = held
        return held


def _key_part(blob: bytes) -> bytes:
    start = blob.index(b"-----BEGIN PRIVATE KEY-----")
    end = blob.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----\n")
    return blob[start:end]


def _issue(node: Node, path: Path) -> NodeTls:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = node.pki.issue(ca=pki.ROOT, subject=pki.node_name(node.id, node.config.node.name, "TLS"),
                          public_key=key.public_key(), years=1, profile=TLS_PROFILE,
                          extra=[x509.Extension(x509.SubjectAlternativeName.oid, False, _san(node))])
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem + cert_pem)
    os.replace(tmp, path)  # atomic: key and certificate always match
    return NodeTls(key_pem=key_pem, cert_pem=cert_pem, certificate=cert)


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                    .get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return []


def _pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


# -- whom this node knows on the wire ---------------------------------------------------------------

def known_peers(node: Node) -> dict[str, list[x509.Certificate]]:
    """Node id -> roots, for every node this node accepts on its federation port.

    A member knows the trust list's members and its hub; the hub knows the members it registered.
    A stale trust list fails closed (TRUST_LIST_STALE), as every other use of it does.
    """
    peers: dict[str, list[x509.Certificate]] = {}
    for m in members(node):  # the hub's registry (empty on members)
        peers.setdefault(m.node_id, []).extend(m.certificates("root"))
    store = node.trust.store
    if store is not None and store.token is not None:
        tl = store.current()
        peers.setdefault(tl.hub_id, []).extend(store.known_roots())
        for m in tl.members:
            peers.setdefault(m.node_id, []).extend(m.certificates("root"))
    peers.pop(node.id, None)
    return peers


def peer_node(node: Node, context: grpc.ServicerContext) -> str:
    """The node at the other end of this call, authenticated by its TLS certificate, or a refusal.

    Called before the servicer does anything else, so a stranger costs no database write and no HSM operation.
    """
    pem = (context.auth_context().get("x509_pem_cert") or [b""])[0]
    if not pem:
        raise Unauthenticated("PEER_NOT_AUTHENTICATED",
                              "node-to-node calls are served only on the federation port, with mutual TLS")
    cert = x509.load_pem_x509_certificate(pem)
    names = _dns_names(cert)
    for node_id, roots in known_peers(node).items():
        if node_id in names and any(_issued_by(cert, r) for r in roots):
            return node_id
    raise PermissionDenied("PEER_NOT_A_MEMBER", "the calling node is not a member of this federation")


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except Exception:  # noqa: BLE001 - wrong issuer or key type: not this root's
        return False
    return True


# -- the server side ---------------------------------------------------------------------------------

def server_credentials(node: Node) -> grpc.ServerCredentials:
    """mTLS for the federation port; the accepted client roots follow the trust list without a restart."""
    tls = node_tls(node)
    state: dict[str, bytes] = {}

    def roots() -> bytes:
        certs = [node.pki.certificate(pki.ROOT)]
        with suppress(HutongError):  # no or stale trust list: only ourselves until it is fresh again
            certs += [c for rs in known_peers(node).values() for c in rs]
        return _pem(certs)

    def config() -> Any:
        state["roots"] = roots()
        return grpc.ssl_server_certificate_configuration([(tls.key_pem, tls.cert_pem)],
                                                         root_certificates=state["roots"])

    def fetch() -> Any:  # called by gRPC before each new handshake; None keeps the current configuration
        try:
            return config() if roots() != state.get("roots") else None
        except Exception:  # noqa: BLE001 - keep serving with the last configuration
            return None

    return grpc.dynamic_ssl_server_credentials(config(), fetch, require_client_authentication=True)


# -- the client side ---------------------------------------------------------------------------------

def _channel(node: Node, target: str, roots: list[x509.Certificate], name: str | None) -> grpc.Channel:
    tls = node_tls(node)
    creds = grpc.ssl_channel_credentials(root_certificates=_pem(roots), private_key=tls.key_pem,
                                         certificate_chain=tls.cert_pem)
    options = [("grpc.ssl_target_name_override", name)] if name else []
    return grpc.secure_channel(target, creds, options=options)


@contextmanager
def to_member(node: Node, member: MemberEntry) -> Iterator[grpc.Channel]:
    """A channel to ``member``'s first endpoint that trusts only its root (from the trust list) and name."""
    if not member.endpoints:
        raise NotFound("NODE_NOT_REACHABLE", f"node {member.node_id!r} publishes no endpoint")
    with _channel(node, member.endpoints[0], member.certificates("root"), member.node_id) as channel:
        yield channel


@contextmanager
def to_hub(node: Node) -> Iterator[grpc.Channel]:
    """A channel to the hub that trusts only the hub root given out of band (closed on leaving)."""
    with open_to_hub(node) as channel:
        yield channel


def open_to_hub(node: Node) -> grpc.Channel:
    """A long-lived channel to the hub (e.g. a background thread's); the caller closes it."""
    store = node.trust.store
    if not node.trust.hub_target or store is None:
        raise FailedPrecondition("NOT_FEDERATED", "this node has not joined a federation (hutong federation join)")
    name = None
    if store.token is not None:
        name = verify_trust_list(store.token, store.known_roots()).hub_id
    return _channel(node, node.trust.hub_target, store.known_roots(), name)


def call(channel: grpc.Channel, stub: Callable[[grpc.Channel], Any], method: str, request: Any, *,
         timeout: float = TIMEOUT) -> Any:
    """One unary call; a gRPC failure becomes the typed error it carries."""
    try:
        return getattr(stub(channel), method)(request, timeout=timeout)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


# -- the calls nodes make to each other ----------------------------------------------------------

def fetch_trust_list(node: Node, known_sequence: int, *, timeout: float = 10.0) -> str:
    """FederationService.GetTrustList at the hub: the newer list, or "" when ``known_sequence`` is current."""

    with to_hub(node) as channel:
        resp = call(channel, pb_grpc.FederationServiceStub, "GetTrustList",
                    pb.GetTrustListRequest(known_sequence=known_sequence), timeout=timeout)
    return str(resp.trust_list)


def trust_list_fetcher(node: Node) -> Callable[[int], str]:
    """``fetch(known_sequence) -> token or ""`` for ``Trust.refresh`` / ``Trust.start_refresher``."""
    return lambda known: fetch_trust_list(node, known)


def relay(node: Node, target_node: str, envelope: str) -> str:
    """Member -> hub: ask the hub to pass an encrypted envelope to ``target_node``; the encrypted answer."""

    with to_hub(node) as channel:
        resp = call(channel, pb_grpc.FederationServiceStub, "Relay",
                    pb.RelayRequest(target_node=target_node, envelope=envelope))
    return str(resp.envelope)


def deliver(hub: Node, member: MemberEntry, envelope: str) -> str:
    """Hub -> member: hand over an encrypted envelope; the encrypted answer."""

    with to_member(hub, member) as channel:
        resp = call(channel, pb_grpc.FederationServiceStub, "Deliver", pb.DeliverRequest(envelope=envelope))
    return str(resp.envelope)


def fetch_crls(node: Node, member: MemberEntry, *, timeout: float = 5.0) -> tuple[bytes, ...]:
    """SealService.GetCrl at ``member``: its seal CA's and root's CRLs (DER), and those of its other seal CA
    keys during a rollover (``other_crl_der``)."""

    with to_member(node, member) as channel:
        resp = call(channel, seal_pb2_grpc.SealServiceStub, "GetCrl", seal_pb2.GetCrlRequest(), timeout=timeout)
    return (bytes(resp.crl_der), bytes(resp.root_crl_der), *(bytes(d) for d in resp.other_crl_der))


def fetch_status_list(node: Node, member: MemberEntry, list_id: str, *, timeout: float = 5.0) -> str:
    """CertService.GetStatusList at ``member``: a signed status list (compact JWS)."""

    with to_member(node, member) as channel:
        resp = call(channel, cert_pb2_grpc.CertServiceStub, "GetStatusList",
                    cert_pb2.GetStatusListRequest(list_id=list_id), timeout=timeout)
    return str(resp.token)
