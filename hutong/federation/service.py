"""FederationService: serve the trust list and this node's descriptor; fetch the list from the hub."""

from __future__ import annotations

import json
from dataclasses import asdict

import grpc

from hutong.errors import NotFound
from hutong.federation import hub, relay, transport
from hutong.federation.member import Trust
from hutong.federation.trustlist import TrustList
from hutong.federation.v1 import federation_pb2 as pb
from hutong.federation.v1 import federation_pb2_grpc as pb_grpc
from hutong.node import Node
from hutong.verify.jose import decode_payload


class FederationServicer(pb_grpc.FederationServiceServicer):
    def __init__(self, node: Node, trust: Trust) -> None:
        self.node = node
        self.trust = trust

    def _held(self) -> str:
        try:
            return hub.latest(self.node)  # the hub serves what it published
        except NotFound:
            token = self.trust.store.token if self.trust.store else None
            if token is None:
                raise
            return token

    def GetTrustList(self, request: pb.GetTrustListRequest, context: grpc.ServicerContext) -> pb.GetTrustListResponse:
        token = self._held()
        seq = TrustList.from_claims(json.loads(_payload(token))).sequence
        return pb.GetTrustListResponse(trust_list=token if seq > request.known_sequence else "", sequence=seq)

    def DescribeNode(self, request: pb.DescribeNodeRequest, context: grpc.ServicerContext) -> pb.DescribeNodeResponse:
        entry = hub.describe_node(self.node)
        return pb.DescribeNodeResponse(descriptor_json=json.dumps(asdict(entry), ensure_ascii=False))

    def Relay(self, request: pb.RelayRequest, context: grpc.ServicerContext) -> pb.RelayResponse:
        peer = transport.peer_node(self.node, context)  # before anything else: strangers cost nothing
        return pb.RelayResponse(envelope=relay.relay(self.node, peer=peer, target_node=request.target_node,
                                                     envelope=request.envelope))

    def Deliver(self, request: pb.DeliverRequest, context: grpc.ServicerContext) -> pb.DeliverResponse:
        peer = transport.peer_node(self.node, context)  # before the HSM decrypts anything
        return pb.DeliverResponse(envelope=relay.deliver(self.node, request.envelope, peer=peer))


def _payload(token: str) -> bytes:
    return decode_payload(token)


def add_to_server(server: grpc.Server, node: Node, trust: Trust) -> list[str]:
    pb_grpc.add_FederationServiceServicer_to_server(FederationServicer(node, trust), server)
    return [pb.DESCRIPTOR.services_by_name["FederationService"].full_name]
