"""A relying platform registered with its mTLS client certificate calls without a secret; nobody else can
claim that identity, not even by sending the fingerprint as metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from hutong.auth import PEER_CERT_SHA256
from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.server import start_server
from hutong.status import error_from_rpc
from hutong_client import Hutong
from identity_svc import platforms
from identity_svc.core import Identity
from tests.identity.conftest import IDENTITY_CONFIG, LI, PASSWORD, PEOPLE
from tests.tls_fixtures import tls_files


def test_platform_authenticates_with_its_client_certificate(node_factory: Callable[..., Any], tmp_path: Path) -> None:
    f = tls_files(tmp_path)
    node = node_factory(config=IDENTITY_CONFIG + f'[server]\ntls_cert_file = "{f["server_cert"]}"\n'
                        f'tls_key_file = "{f["server_key"]}"\ntls_client_ca_file = "{f["ca"]}"\n')
    idn = Identity.of(node)
    with node.db.session() as s:
        from identity_svc.registers import TableRegister

        TableRegister(idn).add_person(s, LI, PEOPLE[LI])
    platforms.add_platform(idn, client_id="portal", name="Portal", client_cert_pem=f["client_cert"].read_bytes())
    server = start_server(node, "127.0.0.1:0", threads=4)
    target = f"127.0.0.1:{server.port}"
    tls = {"tls_ca": f["ca"], "tls_cert": f["client_cert"], "tls_key": f["client_key"]}
    try:
        with Hutong(target, **tls) as portal:  # no client id, no secret: the certificate is the credential
            portal.identity.register_person(LI, PEOPLE[LI], PASSWORD)
            assert portal.identity.login(LI, PASSWORD).access_token
        # Another certificate of the same CA is no platform; claiming the registered certificate's fingerprint
        # in metadata proves nothing: the server drops that header and uses what TLS verified.
        creds = grpc.ssl_channel_credentials(f["ca"].read_bytes(), f["other_key"].read_bytes(),
                                             f["other_cert"].read_bytes())
        fingerprint = platforms.cert_fingerprint(f["client_cert"].read_bytes())
        with grpc.secure_channel(target, creds) as channel:
            stub = pb_grpc.IdentityServiceStub(channel)
            for metadata in ([], [(PEER_CERT_SHA256, fingerprint)]):
                with pytest.raises(grpc.RpcError) as err:
                    stub.Login(pb.LoginRequest(id_number=LI, password=PASSWORD), metadata=metadata, timeout=10)
                assert error_from_rpc(err.value).reason == "CLIENT_AUTHENTICATION_FAILED"
    finally:
        server.stop(grace=0)
