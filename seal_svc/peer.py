"""seal_svc's side of ``hutong.peers.SealPeer``: what cert may ask of seal (its renditions sealed and checked).

Injected into ``node.peers`` when the node is wired (``hutong.wiring``). Sealing goes through the in-process
API, so grants, usage accounting and audit apply exactly as for an RPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pyhanko.pdf_utils.writer import PdfFileWriter

from hutong.auth import Principal
from hutong.node import Node
from hutong.verify.pdf import verify_pdf
from hutong.verify.pdfreport import VerificationReport
from seal_svc.sealing import Placement, Sealer, SealOptions, seal_built
from seal_svc.seals import SealService
from seal_svc.settings import load_settings
from seal_svc.trust import local_trust


@dataclass(frozen=True)
class SealPeer:
    node: Node

    def seal_built(self, *, seal_id: str, writer: PdfFileWriter, principal: Principal,
                   box: tuple[float, float, float, float], reason: str, location: str) -> bytes:
        x, y, w, h = box
        options = SealOptions(placement=Placement(page=1, x=x, y=y, width=w, height=h), reason=reason,
                              location=location)
        return seal_built(self.node, seal_id=seal_id, writer=writer, principal=principal, options=options,
                          sealer=self._sealer)

    @cached_property
    def _sealer(self) -> Sealer:
        """Built on first use and kept for the node's life (the wiring makes one peer per node): it holds the seal
        keys' HSM signers, so renditions do not rebuild them."""
        return Sealer(SealService(self.node))

    def verify_pdf(self, pdf: bytes) -> VerificationReport:
        settings = load_settings(self.node)
        return verify_pdf(pdf, local_trust(self.node), limit=settings.max_upload_bytes, temp_dir=settings.temp_dir)
