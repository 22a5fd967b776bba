"""The ``[edge]`` section of ``hutong.toml``: where the HTTP edge listens and how it names itself.

The edge shares the node's TLS configuration (``[server] tls_cert_file`` / ``tls_key_file``): one
certificate for gRPC and HTTP. ``public_base_url`` is what phones reach (printed in QR codes and in
certificates' OCSP/CRL URLs); behind a reverse proxy it differs from ``listen``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from hutong.config import NodeConfig, settings_of
from hutong.edge.clients import parse_networks
from hutong.errors import ConfigError

OFF = "off"


@dataclass(frozen=True)
class EdgeSettings:
    # HOST:PORT, "off" to run no HTTP edge, or empty: the gRPC listen address with the port + 1000
    # (7443 -> 8443; port 0 stays 0), so nodes side by side on one host never collide.
    listen: str = ""
    public_base_url: str = ""  # e.g. "https://verify.example.gov.cn"; empty = derived from listen
    max_body_bytes: int = 0  # JSON (Connect) requests; 0 = [server] max_message_bytes
    max_upload_bytes: int = 0  # PDF uploads on the verification page; 0 = [server] max_upload_bytes
    cache_seconds: int = 300  # Cache-Control max-age of public GETs (trust list, JWKS, CRLs, status lists)
    # Reverse proxies whose X-Forwarded-For names the real caller (addresses or CIDRs, comma-separated);
    # empty: the socket peer is the caller (``hutong.edge.clients``).
    trusted_proxies: str = ""

    @property
    def enabled(self) -> bool:
        return self.listen != OFF


def edge_settings(config: NodeConfig, **overrides: Any) -> EdgeSettings:
    s = settings_of(config, EdgeSettings, "edge", **overrides)
    if s.enabled and s.listen:
        host, _, port = s.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ConfigError("CONFIG_INVALID", f"[edge] listen must be HOST:PORT or \"off\", got {s.listen!r}")
    if s.public_base_url and not s.public_base_url.startswith(("https://", "http://")):
        raise ConfigError("CONFIG_INVALID", "[edge] public_base_url must start with https:// (or http:// for tests)")
    try:
        parse_networks(s.trusted_proxies)
    except ValueError:
        raise ConfigError("CONFIG_INVALID", "[edge] trusted_proxies must be addresses or CIDR networks, "
                                            "comma-separated") from None
    if s.max_body_bytes < 0 or s.max_upload_bytes < 0 or s.cache_seconds < 0:
        raise ConfigError("CONFIG_INVALID", "[edge] sizes and cache_seconds must not be negative")
    if not s.max_upload_bytes:
        s = replace(s, max_upload_bytes=config.server.max_upload_bytes)
    if not s.max_body_bytes:
        s = replace(s, max_body_bytes=config.server.max_message_bytes)
    return s


def listen_address(settings: EdgeSettings, grpc_listen: str) -> str:
    """Where the edge binds: ``[edge] listen``, or derived from the gRPC listen address."""
    if settings.listen:
        return settings.listen
    host, _, port = grpc_listen.rpartition(":")
    return f"{host}:{int(port) + 1000 if int(port) else 0}"


def base_url(config: NodeConfig, settings: EdgeSettings | None = None, *, port: int | None = None) -> str:
    """The public base URL without a trailing slash: configured, or derived from where the edge listens."""
    s = settings or edge_settings(config)
    if s.public_base_url:
        return s.public_base_url.rstrip("/")
    host, _, configured = listen_address(s, config.server.listen).rpartition(":")
    scheme = "https" if config.server.tls_cert_file else "http"
    return f"{scheme}://{host}:{port or configured}"


def verify_url(base: str, qr_token: str) -> str:
    """What a licence's QR code carries: the public verification page with the token in the fragment
    (browsers never send the fragment to the server)."""
    return f"{base.rstrip('/')}/v#{qr_token}"


def seal_revocation_extensions(config: NodeConfig, crl_name: str = "seal-ca") -> list[x509.Extension[
        x509.ExtensionType]]:
    """What new seal certificates carry so that validators find their status online: the OCSP
    responder (AIA) and the CRL of the seal CA key that issues them (``crl_name``, see
    ``hutong.pki.crl_name``: after a rollover each key has its own) on this node's edge. None when
    the edge is off and no public base URL is configured."""
    s = edge_settings(config)
    if not (s.enabled or s.public_base_url):
        return []
    base = base_url(config, s)
    ocsp = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp"))
    crl = x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(f"{base}/crl/{crl_name}.crl")],
                                 relative_name=None, reasons=None, crl_issuer=None)
    return [x509.Extension(x509.AuthorityInformationAccess.oid, False, x509.AuthorityInformationAccess([ocsp])),
            x509.Extension(x509.CRLDistributionPoints.oid, False, x509.CRLDistributionPoints([crl]))]
