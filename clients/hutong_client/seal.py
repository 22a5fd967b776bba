"""Python SDK for the seal service: manage seals and grants, seal and verify PDFs streamed from disk.

    client = SealClient(channel, token=access_token)
    result = client.sign_file("contract.pdf", "contract-sealed.pdf", seal_id,
                              placement=seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120))
    report = client.verify_file("contract-sealed.pdf")

Failures raise the typed ``hutong.errors`` exception the node reported (reason kept). Files are
streamed in 1 MiB chunks both ways; a sealed file only appears at its destination once it is
complete and its SHA-256 matches what the node announced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import grpc

from hutong.common.v1 import common_pb2
from hutong.errors import Internal
from hutong.rpc import error_from_rpc
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc

CHUNK = 1024 * 1024
T = TypeVar("T")


def _file_chunks(f: BinaryIO) -> Iterator[bytes]:
    while block := f.read(CHUNK):
        yield block


class SealClient:
    def __init__(self, channel: grpc.Channel, *, token: str | None = None, client_id: str = "",
                 client_secret: str = "", timeout: float = 600.0) -> None:
        """Authenticate as a person (access ``token``) and/or a platform (client id + secret)."""
        self._stub = seal_pb2_grpc.SealServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        if client_id:
            self._metadata += [("x-hutong-client-id", client_id), ("x-hutong-client-secret", client_secret)]
        self._timeout = timeout

    def _call(self, fn: Callable[..., T], request: Any) -> T:
        try:
            return fn(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    # -- seals and grants ------------------------------------------------------------------
    def create_seal(self, *, org_uscc: str, org_name: str = "",
                    type: seal_pb2.SealType = seal_pb2.SEAL_TYPE_OFFICIAL,  # noqa: A002
                    name: str = "", image_png: bytes = b"") -> seal_pb2.Seal:
        req = seal_pb2.CreateSealRequest(org_uscc=org_uscc, org_name=org_name, type=type, name=name,
                                         image_png=image_png)
        return self._call(self._stub.CreateSeal, req).seal

    def get_seal(self, seal_id: str) -> seal_pb2.Seal:
        return self._call(self._stub.GetSeal, seal_pb2.GetSealRequest(seal_id=seal_id)).seal

    def list_seals(self, org_uscc: str = "") -> list[seal_pb2.Seal]:
        seals: list[seal_pb2.Seal] = []
        token = ""
        while True:
            resp = self._call(self._stub.ListSeals, seal_pb2.ListSealsRequest(
                org_uscc=org_uscc, page=common_pb2.PageRequest(page_size=500, page_token=token)))
            seals.extend(resp.seals)
            token = resp.page.next_page_token
            if not token:
                return seals

    def suspend_seal(self, seal_id: str, reason: str = "") -> seal_pb2.Seal:
        return self._call(self._stub.SuspendSeal, seal_pb2.SuspendSealRequest(seal_id=seal_id, reason=reason)).seal

    def reactivate_seal(self, seal_id: str) -> seal_pb2.Seal:
        return self._call(self._stub.ReactivateSeal, seal_pb2.ReactivateSealRequest(seal_id=seal_id)).seal

    def revoke_seal(self, seal_id: str, reason: str = "") -> seal_pb2.Seal:
        return self._call(self._stub.RevokeSeal, seal_pb2.RevokeSealRequest(seal_id=seal_id, reason=reason)).seal

    def grant(self, seal_id: str, *, grantee: str, kind: seal_pb2.GranteeKind = seal_pb2.GRANTEE_KIND_PERSON,
              max_uses: int = 0, not_before: Any = None, not_after: Any = None) -> seal_pb2.Grant:
        req = seal_pb2.GrantSealRequest(seal_id=seal_id, grantee_kind=kind, grantee=grantee, max_uses=max_uses)
        if not_before is not None:
            req.not_before.FromDatetime(not_before)
        if not_after is not None:
            req.not_after.FromDatetime(not_after)
        return self._call(self._stub.GrantSeal, req).grant

    def list_grants(self, seal_id: str) -> list[seal_pb2.Grant]:
        return list(self._call(self._stub.ListGrants, seal_pb2.ListGrantsRequest(seal_id=seal_id)).grants)

    def revoke_grant(self, grant_id: str) -> seal_pb2.Grant:
        return self._call(self._stub.RevokeGrant, seal_pb2.RevokeGrantRequest(grant_id=grant_id)).grant

    def get_crl(self) -> seal_pb2.GetCrlResponse:
        return self._call(self._stub.GetCrl, seal_pb2.GetCrlRequest())

    # -- sealing -----------------------------------------------------------------------------
    def sign_stream(self, source: BinaryIO, sink: BinaryIO, header: seal_pb2.SignPdfHeader) -> seal_pb2.SignPdfResult:
        """Seal what ``source`` holds into ``sink``; checks size and SHA-256 of what came back."""

        def requests() -> Iterator[seal_pb2.SignPdfRequest]:
            yield seal_pb2.SignPdfRequest(header=header)
            for block in _file_chunks(source):
                yield seal_pb2.SignPdfRequest(chunk=common_pb2.Chunk(data=block))

        result: seal_pb2.SignPdfResult | None = None
        digest, size = hashlib.sha256(), 0
        try:
            for msg in self._stub.SignPdf(requests(), metadata=self._metadata, timeout=self._timeout):
                if msg.WhichOneof("msg") == "result":
                    result = msg.result
                else:
                    digest.update(msg.chunk.data)
                    size += len(msg.chunk.data)
                    sink.write(msg.chunk.data)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        if result is None or size != result.output_size or digest.hexdigest() != result.output_sha256:
            raise Internal("INCOMPLETE_RESPONSE", "the sealed document did not arrive complete")
        return result

    def sign_file(self, src: str | os.PathLike[str], dest: str | os.PathLike[str], seal_id: str, *,
                  placement: seal_pb2.Placement | None = None, field_name: str = "", reason: str = "",
                  location: str = "", level: seal_pb2.PadesLevel = seal_pb2.PADES_LEVEL_B_T,
                  certification: seal_pb2.Certification = seal_pb2.CERTIFICATION_UNSPECIFIED,
                  ) -> seal_pb2.SignPdfResult:
        src, dest = Path(src), Path(dest)
        header = seal_pb2.SignPdfHeader(seal_id=seal_id, reason=reason, location=location, level=level,
                                        certification=certification, document_size=src.stat().st_size)
        if placement is not None:
            header.placement.CopyFrom(placement)
        else:
            header.field_name = field_name
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with src.open("rb") as source, os.fdopen(fd, "wb") as sink:
                result = self.sign_stream(source, sink, header)
            os.replace(tmp, dest)  # only a complete, checked document ever appears at dest
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return result

    # -- verifying ---------------------------------------------------------------------------
    def verify_stream(self, source: BinaryIO, size: int = 0) -> seal_pb2.VerifyPdfResponse:
        def requests() -> Iterator[seal_pb2.VerifyPdfRequest]:
            yield seal_pb2.VerifyPdfRequest(header=seal_pb2.VerifyPdfHeader(document_size=size))
            for block in _file_chunks(source):
                yield seal_pb2.VerifyPdfRequest(chunk=common_pb2.Chunk(data=block))

        return self._call(self._stub.VerifyPdf, requests())

    def verify_file(self, path: str | os.PathLike[str]) -> seal_pb2.VerifyPdfResponse:
        p = Path(path)
        with p.open("rb") as f:
            return self.verify_stream(f, p.stat().st_size)

    def verify_bytes(self, data: bytes) -> seal_pb2.VerifyPdfResponse:
        import io

        return self.verify_stream(io.BytesIO(data), len(data))
