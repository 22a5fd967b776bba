"""seal_svc: organisations' electronic seals (keys in the HSM), sealing and verifying PDFs.

In-process API for other services (no gRPC): ``seal_svc.service.SealService`` and
``seal_svc.sealing.seal_pdf`` / ``hutong.verify.pdf.verify_pdf``.
"""

from __future__ import annotations

from typing import Any

from hutong import peers


def _peer(node: Any) -> Any:
    from seal_svc.peer import SealPeer  # on first use: the package itself stays light to import

    return SealPeer(node)


peers.provide("seal", _peer)  # what cert may ask of seal (hutong.peers.SealPeer)
