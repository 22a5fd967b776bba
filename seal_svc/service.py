"""Wiring: ``add_to_server`` for the node's gRPC server, and the in-process entry points.

In-process API (stable; no gRPC), for cert_svc and other services in the same process::

    from seal_svc.service import SealService, Sealer, SealOptions, Placement, PadesLevel, seal_pdf
    seals = SealService(node)
    seal = seals.create_seal(admin, org_uscc=..., org_name=..., seal_type=SealType.OFFICIAL)
    seals.grant(admin, seal.seal_id, grantee_kind="platform", grantee="dept-platform")
    sealed = seal_pdf(node, seal_id=seal.seal_id, pdf=pdf_bytes,
                      principal=service_principal("cert_svc", on_behalf_of="dept-platform"),
                      options=SealOptions(placement=Placement(page=1, x=400, y=60, width=120, height=120)))

``admin`` is a principal allowed to manage the organisation's seals (its administrator in the
organisation's context, or the operator platform: ``Principal.is_operator``). A service principal
(``hutong.auth.service_principal``) exists only in-process and uses the grants of the platform it
acts for.
"""

from __future__ import annotations

import grpc

from hutong.auth import Authenticator, service_principal
from hutong.node import Node
from hutong.peers import default_authenticator
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.verify.pdf import Verdict, VerificationReport, verify_pdf
from hutong.verify.trust import TrustMaterial, TrustSource, combine
from seal_svc.sealing import Certification, PadesLevel, Placement, SealedDocument, Sealer, SealOptions, seal_pdf
from seal_svc.seals import GrantInfo, SealInfo, SealService, SealStatus, SealType
from seal_svc.servicer import SealServicer
from seal_svc.trust import local_trust

__all__ = [
    "Certification", "GrantInfo", "PadesLevel", "Placement", "SealInfo", "SealOptions", "SealService", "SealStatus",
    "SealType", "SealedDocument", "Sealer", "TrustMaterial", "TrustSource", "VerificationReport", "Verdict",
    "add_to_server", "combine", "local_trust", "seal_pdf", "service_principal", "verify_pdf",
]

GRPC_SERVICE = seal_pb2.DESCRIPTOR.services_by_name["SealService"].full_name


def add_to_server(server: grpc.Server, node: Node, *, authenticator: Authenticator | None = None,
                  trust: TrustSource | None = None) -> list[str]:
    seals = SealService(node)
    servicer = SealServicer(seals, Sealer(seals, trust), authenticator or default_authenticator(node))
    seal_pb2_grpc.add_SealServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    return [GRPC_SERVICE]
