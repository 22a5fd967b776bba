"""seal_svc: organisations' electronic seals (keys in the HSM), sealing and verifying PDFs.

In-process API for other services (no gRPC): ``seal_svc.service.SealService`` and
``seal_svc.sealing.seal_pdf`` / ``hutong.verify.pdf.verify_pdf``.
"""
