"""Registers identity_svc's gRPC services on a server."""

from __future__ import annotations

import grpc

from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
from hutong.node import Node
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity
from identity_svc.servicer import IdentityServicer, OrganisationServicer


def add_to_server(server: grpc.Server, node: Node) -> list[str]:
    idn = Identity.of(node)
    authn = TokenAuthenticator(idn)
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(idn, authn), server)
    identity_pb2_grpc.add_OrganisationServiceServicer_to_server(OrganisationServicer(idn, authn), server)
    services = identity_pb2.DESCRIPTOR.services_by_name
    return [services["IdentityService"].full_name, services["OrganisationService"].full_name]
