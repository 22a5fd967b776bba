"""AuditLogService: checkpoints and proofs for auditors; on the hub, the witness. Converts, calls, converts back."""

from __future__ import annotations

import logging
import threading

import grpc

from hutong.federation import transport
from hutong.node import Node
from hutong.status import error_from_rpc
from hutong.tlog import proofs, witness
from hutong.tlog.v1 import tlog_pb2 as pb
from hutong.tlog.v1 import tlog_pb2_grpc as pb_grpc

log = logging.getLogger("hutong.tlog")
WITNESS_INTERVAL = 60.0  # seconds between publications to the hub


class AuditLogServicer(pb_grpc.AuditLogServiceServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    def GetCheckpoint(self, request: pb.GetCheckpointRequest,
                      context: grpc.ServicerContext) -> pb.GetCheckpointResponse:
        return pb.GetCheckpointResponse(checkpoint=proofs.latest_note(self.node.db))

    def GetInclusionProof(self, request: pb.GetInclusionProofRequest,
                          context: grpc.ServicerContext) -> pb.GetInclusionProofResponse:
        p = proofs.inclusion(self.node.db, request.leaf_index, request.tree_size)
        return pb.GetInclusionProofResponse(leaf_index=p.leaf_index, tree_size=p.tree_size, leaf_hash=p.leaf_hash,
                                            path=p.path, checkpoint=p.checkpoint)

    def GetConsistencyProof(self, request: pb.GetConsistencyProofRequest,
                            context: grpc.ServicerContext) -> pb.GetConsistencyProofResponse:
        c = proofs.consistency(self.node.db, request.first, request.second)
        return pb.GetConsistencyProofResponse(first=c.first, second=c.second, path=c.path,
                                              first_checkpoint=c.first_checkpoint,
                                              second_checkpoint=c.second_checkpoint)

    def AddCheckpoint(self, request: pb.AddCheckpointRequest,
                      context: grpc.ServicerContext) -> pb.AddCheckpointResponse:
        note = witness.add_checkpoint(self.node, request.checkpoint, request.old_size,
                                      list(request.consistency_proof))
        return pb.AddCheckpointResponse(cosigned_checkpoint=note)

    def GetCosignedCheckpoint(self, request: pb.GetCosignedCheckpointRequest,
                              context: grpc.ServicerContext) -> pb.GetCosignedCheckpointResponse:
        return pb.GetCosignedCheckpointResponse(cosigned_checkpoint=witness.cosigned(self.node, request.origin))


class GrpcWitness:
    """``witness.Witness`` over AuditLogService on the hub."""

    def __init__(self, channel: grpc.Channel, *, timeout: float = 10.0) -> None:
        self.stub = pb_grpc.AuditLogServiceStub(channel)
        self.timeout = timeout

    def cosigned(self, origin: str) -> str:
        try:
            resp = self.stub.GetCosignedCheckpoint(pb.GetCosignedCheckpointRequest(origin=origin), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return str(resp.cosigned_checkpoint)

    def add(self, checkpoint: str, old_size: int, proof: list[bytes]) -> str:
        try:
            resp = self.stub.AddCheckpoint(pb.AddCheckpointRequest(checkpoint=checkpoint, old_size=old_size,
                                                                   consistency_proof=proof), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return str(resp.cosigned_checkpoint)


def start_witnessing(node: Node, *, interval: float = WITNESS_INTERVAL) -> threading.Event | None:
    """Members have the hub cosign their newest checkpoint and fetch the other members' cosigned ones, now and then.

    A thread; set the returned event to stop it."""
    if not (node.trust.federated and node.trust.hub_target):
        return None
    stop = threading.Event()

    channel = transport.open_to_hub(node)

    def run() -> None:
        hub = GrpcWitness(channel)
        while not stop.wait(interval):
            try:
                witness.publish(node, hub)
                tl = node.trust.trust_list()
                for member in tl.members if tl else ():
                    if member.node_id != node.id and member.log_key:
                        witness.fetch(node, hub, member.node_id)  # others' cosigned checkpoints, kept as evidence
            except Exception:  # the hub is away or refuses: logged, tried again next time
                log.exception("witnessing the audit logs through the hub failed")
        channel.close()

    threading.Thread(target=run, name="audit-witnessing", daemon=True).start()
    return stop


def add_to_server(server: grpc.Server, node: Node) -> list[str]:
    pb_grpc.add_AuditLogServiceServicer_to_server(AuditLogServicer(node), server)
    return [pb.DESCRIPTOR.services_by_name["AuditLogService"].full_name]
