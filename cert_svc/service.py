"""Registers cert_svc's gRPC service on a server."""

from __future__ import annotations

import grpc

from cert_svc import federation
from cert_svc.consent import identity_holder_resolver
from cert_svc.facade import CertService
from cert_svc.servicer import CertServicer
from hutong.auth import Authenticator
from hutong.cert.v1 import cert_pb2, cert_pb2_grpc
from hutong.node import Node
from hutong.peers import default_authenticator


def add_to_server(server: grpc.Server, node: Node, *, authenticator: Authenticator | None = None) -> list[str]:
    federation.register()  # serve other members' requests arriving through the hub
    certs = CertService(node, identity_holder_resolver(node))
    servicer = CertServicer(certs, authenticator or default_authenticator(node))
    cert_pb2_grpc.add_CertServiceServicer_to_server(servicer, server)
    return [cert_pb2.DESCRIPTOR.services_by_name["CertService"].full_name]
