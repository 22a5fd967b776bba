"""AuditLogService over a real server: proofs an auditor checks offline; bad requests get a status and a reason."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from hutong.audit import AuditRecord
from hutong.node import Node
from hutong.status import error_from_rpc
from hutong.tlog import merkle
from hutong.tlog.models import LogCheckpoint
from hutong.tlog.note import VerifierKey, parse_note
from hutong.tlog.v1 import tlog_pb2 as pb
from hutong.tlog.v1 import tlog_pb2_grpc as pb_grpc


@pytest.fixture
def stub(node: Node, serve: Any) -> pb_grpc.AuditLogServiceStub:
    for i in range(5):
        node.audit.record(actor="tester", action="thing.do", target=f"t{i}")
    node.tlog.integrate_all()
    return pb_grpc.AuditLogServiceStub(serve(node))


def test_auditor_checks_proofs_offline(stub: pb_grpc.AuditLogServiceStub, node: Node) -> None:
    vkey = VerifierKey.decode(node.tlog.vkey())  # as published in the trust list
    newest = parse_note(stub.GetCheckpoint(pb.GetCheckpointRequest()).checkpoint)
    assert vkey.verifies(newest)
    size = newest.checkpoint.size
    p = stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=size - 2, tree_size=size))
    assert merkle.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, list(p.path), newest.checkpoint.root)
    with node.db.session(readonly=True) as s:
        earlier = s.scalar(select(func.min(LogCheckpoint.tree_size)))
    assert earlier is not None
    c = stub.GetConsistencyProof(pb.GetConsistencyProofRequest(first=earlier))
    old = parse_note(c.first_checkpoint)
    assert vkey.verifies(old)
    assert merkle.verify_consistency(c.first, c.second, old.checkpoint.root, newest.checkpoint.root, list(c.path))


@pytest.mark.parametrize(("name", "call", "code", "reason"), [
    ("unknown size", lambda s: s.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=0, tree_size=10**6)),
     grpc.StatusCode.NOT_FOUND, "TREE_SIZE_UNKNOWN"),
    ("leaf beyond the tree", lambda s: s.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=10**6)),
     grpc.StatusCode.INVALID_ARGUMENT, "LEAF_INDEX_OUT_OF_RANGE"),
    ("negative leaf", lambda s: s.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=-1)),
     grpc.StatusCode.INVALID_ARGUMENT, "LEAF_INDEX_OUT_OF_RANGE"),
    ("first above second", lambda s: s.GetConsistencyProof(pb.GetConsistencyProofRequest(first=10**6)),
     grpc.StatusCode.INVALID_ARGUMENT, "TREE_SIZES_INVALID"),
    ("unknown first", lambda s: s.GetConsistencyProof(pb.GetConsistencyProofRequest(first=1)),
     grpc.StatusCode.NOT_FOUND, "TREE_SIZE_UNKNOWN"),
    ("forged checkpoint to a hub that has no such member", lambda s: s.AddCheckpoint(pb.AddCheckpointRequest(
        checkpoint="hutong.node/x/audit\n1\n" + "A" * 43 + "=\n\n\u2014 hutong.node/x/audit AAAAAAAA\n")),
     grpc.StatusCode.NOT_FOUND, "LOG_ORIGIN_UNKNOWN"),
    ("malformed checkpoint", lambda s: s.AddCheckpoint(pb.AddCheckpointRequest(checkpoint="\x00garbage")),
     grpc.StatusCode.INVALID_ARGUMENT, "CHECKPOINT_MALFORMED"),
])
def test_bad_requests(stub: pb_grpc.AuditLogServiceStub, node: Node, name: str, call: Any, code: grpc.StatusCode,
                      reason: str) -> None:
    with node.db.session(readonly=True) as s:
        before = (s.scalar(select(func.count()).select_from(AuditRecord)),
                  s.scalar(select(func.count()).select_from(LogCheckpoint)))
    with pytest.raises(grpc.RpcError) as exc:
        call(stub)
    assert exc.value.code() == code, name
    assert error_from_rpc(exc.value).reason == reason, name
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        after = (s.scalar(select(func.count()).select_from(AuditRecord)),
                 s.scalar(select(func.count()).select_from(LogCheckpoint)))
    assert after == before, name


@pytest.mark.parametrize(("name", "note", "reason"), [
    ("unicode digit size", "o\n\u00b2\n" + "A" * 43 + "=\n\n\u2014 o AAAAAAAA\n", "CHECKPOINT_MALFORMED"),
    ("size beyond int64", "o\n" + "9" * 19 + "\n" + "A" * 43 + "=\n\n\u2014 o AAAAAAAA\n", "CHECKPOINT_MALFORMED"),
    ("size of 5000 digits", "o\n" + "9" * 5000 + "\n" + "A" * 43 + "=\n\n\u2014 o AAAAAAAA\n", "CHECKPOINT_MALFORMED"),
    ("root not 32 bytes", "o\n1\nAAAA\n\n\u2014 o AAAAAAAA\n", "CHECKPOINT_MALFORMED"),
    ("no em dash", "o\n1\n" + "A" * 43 + "=\n\n- o AAAAAAAA\n", "CHECKPOINT_MALFORMED"),
])
def test_malformed_checkpoints(stub: pb_grpc.AuditLogServiceStub, name: str, note: str, reason: str) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        stub.AddCheckpoint(pb.AddCheckpointRequest(checkpoint=note))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
    assert error_from_rpc(exc.value).reason == reason, name


@pytest.mark.parametrize("origin", ["", "x" * 201, "bad\x00origin", "line\nbreak"])
def test_bad_origins(stub: pb_grpc.AuditLogServiceStub, origin: str) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        stub.GetCosignedCheckpoint(pb.GetCosignedCheckpointRequest(origin=origin))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_from_rpc(exc.value).reason == "LOG_ORIGIN_INVALID"
