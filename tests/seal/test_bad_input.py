"""Every bad input over the real RPC: its own status and reason, no output, nothing stored changed."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from pyhanko.pdf_utils.crypt import StandardSecurityHandler
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from sqlalchemy import func, select

from bench.pdfgen import make_pdf
from hutong.audit import AuditRecord
from hutong.errors import HutongError
from hutong.seal.v1 import seal_pb2
from seal_svc.models import SealCrlRow, SealGrantRow, SealRow
from tests.seal.conftest import ORG_A, USCC_A, USCC_B, SealRpc, admin_of, seal_rpc

CORNER = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)


def _encrypted_pdf() -> bytes:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(make_pdf())))
    writer.security_handler = StandardSecurityHandler.build_from_pw("owner-secret", "user-secret")
    writer._assign_security_handler(writer.security_handler)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stored_state(node: object) -> tuple[object, ...]:
    with node.db.session() as s:  # type: ignore[attr-defined]
        audit = s.scalar(select(func.count()).select_from(AuditRecord))
        grants = tuple(s.execute(select(SealGrantRow.id, SealGrantRow.uses).order_by(SealGrantRow.id)))
        seals = tuple(s.execute(select(SealRow.id, SealRow.status).order_by(SealRow.id)))
        crls = tuple(s.execute(select(SealCrlRow.ca, SealCrlRow.number)))
    return audit, grants, seals, crls


def _sign(client: object, seal_id: str, data: bytes, tmp: Path, **header: object) -> Path:
    src, dest = tmp / "in.pdf", tmp / "out.pdf"
    src.write_bytes(data)
    kwargs = {"placement": CORNER, **header}
    client.sign_file(src, dest, seal_id, **kwargs)  # type: ignore[attr-defined]
    return dest


def _expect(code: grpc.StatusCode, reason: str, action: Callable[[], object], rpc: SealRpc, tmp: Path) -> None:
    before = _stored_state(rpc.env.node)
    with pytest.raises(HutongError) as e:
        action()
    assert (e.value.kind.value, e.value.reason) == (code.name, reason)
    assert not (tmp / "out.pdf").exists() and not list(tmp.glob(".out.pdf.*"))  # no partial output
    assert _stored_state(rpc.env.node) == before
    spool_dir = rpc.env.sealer.settings.temp_dir
    assert not os.path.isdir(spool_dir) or os.listdir(spool_dir) == []  # spooled uploads are gone too


@pytest.fixture
def ready(rpc: SealRpc) -> tuple[SealRpc, str, object]:
    seal = rpc.seal_for()
    return rpc, seal.seal_id, rpc.client(rpc.staff)


CASES: list[tuple[str, grpc.StatusCode, str, Callable[[], bytes], dict[str, object]]] = [
    ("not a pdf", grpc.StatusCode.INVALID_ARGUMENT, "NOT_A_PDF", lambda: b"hello, this is not a PDF" * 100, {}),
    ("truncated", grpc.StatusCode.INVALID_ARGUMENT, "PDF_MALFORMED", lambda: make_pdf()[: len(make_pdf()) // 2], {}),
    ("garbled xref", grpc.StatusCode.INVALID_ARGUMENT, "PDF_MALFORMED",
     lambda: make_pdf().replace(b"xref", b"xxxx").replace(b"/Root", b"/Rxxx"), {}),
    ("encrypted", grpc.StatusCode.INVALID_ARGUMENT, "PDF_ENCRYPTED", _encrypted_pdf, {}),
    ("page out of range", grpc.StatusCode.INVALID_ARGUMENT, "PAGE_OUT_OF_RANGE", make_pdf,
     {"placement": seal_pb2.Placement(page=9, x=10, y=10, width=100, height=100)}),
    ("position out of range", grpc.StatusCode.INVALID_ARGUMENT, "POSITION_OUT_OF_RANGE", make_pdf,
     {"placement": seal_pb2.Placement(page=1, x=550, y=10, width=100, height=100)}),
    ("unknown field", grpc.StatusCode.INVALID_ARGUMENT, "FIELD_NOT_FOUND", make_pdf,
     {"placement": None, "field_name": "nope"}),
]


@pytest.mark.parametrize(("name", "code", "reason", "make", "header"), CASES, ids=[c[0] for c in CASES])
def test_bad_documents(ready: tuple[SealRpc, str, object], tmp_path: Path, name: str, code: grpc.StatusCode,
                       reason: str, make: Callable[[], bytes], header: dict[str, object]) -> None:
    rpc, seal_id, client = ready
    data = make()
    _expect(code, reason, lambda: _sign(client, seal_id, data, tmp_path, **header), rpc, tmp_path)


def test_bad_seals_and_grants(rpc: SealRpc, tmp_path: Path) -> None:
    env, admin = rpc.env, admin_of(USCC_A)
    pdf = make_pdf()
    client = rpc.client(rpc.staff)
    cases: list[tuple[grpc.StatusCode, str, str]] = [(grpc.StatusCode.NOT_FOUND, "SEAL_NOT_FOUND", "seal-0000")]
    suspended = rpc.seal_for()
    env.service.suspend_seal(admin, suspended.seal_id)
    cases.append((grpc.StatusCode.FAILED_PRECONDITION, "SEAL_SUSPENDED", suspended.seal_id))
    revoked = rpc.seal_for()
    env.service.revoke_seal(admin, revoked.seal_id)
    cases.append((grpc.StatusCode.FAILED_PRECONDITION, "SEAL_REVOKED", revoked.seal_id))
    ungranted = env.service.create_seal(admin, org_uscc=USCC_A, org_name=ORG_A, seal_type=rpc.seal_for().type)
    cases.append((grpc.StatusCode.PERMISSION_DENIED, "NOT_GRANTED", ungranted.seal_id))
    expired = rpc.seal_for(not_after=datetime.now(UTC) - timedelta(minutes=1))
    cases.append((grpc.StatusCode.PERMISSION_DENIED, "GRANT_EXPIRED", expired.seal_id))
    exhausted = rpc.seal_for(max_uses=1)
    _sign(client, exhausted.seal_id, pdf, tmp_path).unlink()  # uses the only use
    cases.append((grpc.StatusCode.RESOURCE_EXHAUSTED, "GRANT_EXHAUSTED", exhausted.seal_id))
    for code, reason, seal_id in cases:
        _expect(code, reason, lambda seal_id=seal_id: _sign(client, seal_id, pdf, tmp_path), rpc, tmp_path)


def test_person_uses_a_seal_only_in_its_organisation_context(rpc: SealRpc, tmp_path: Path) -> None:
    """The grantee's own token (no organisation) or a token for another organisation: refused."""
    from tests.seal.conftest import REPRESENTATIVE_A, STAFF_A

    seal = rpc.seal_for()
    elsewhere = rpc.people.member(rpc.people.organisation(USCC_B, "乙公司", REPRESENTATIVE_A), STAFF_A)
    assert elsewhere.subject == rpc.staff.subject  # the grantee, acting for another organisation
    for who in (rpc.people.person(STAFF_A), elsewhere):
        _expect(grpc.StatusCode.PERMISSION_DENIED, "ORG_CONTEXT_REQUIRED",
                lambda who=who: _sign(rpc.client(who), seal.seal_id, make_pdf(), tmp_path), rpc, tmp_path)
    assert _sign(rpc.client(rpc.staff), seal.seal_id, make_pdf(), tmp_path).exists()


def test_no_token_and_bad_token(ready: tuple[SealRpc, str, object], tmp_path: Path) -> None:
    rpc, seal_id, _ = ready
    from hutong_client.seal import SealClient

    for client, reason in ((SealClient(rpc.channel), "TOKEN_MISSING"),  # type: ignore[arg-type]
                           (SealClient(rpc.channel, token="forged"), "TOKEN_INVALID")):  # type: ignore[arg-type]
        _expect(grpc.StatusCode.UNAUTHENTICATED, reason,
                lambda client=client: _sign(client, seal_id, make_pdf(), tmp_path), rpc, tmp_path)


def test_oversized_upload(node_factory: Callable[..., object], tmp_path: Path) -> None:
    from seal_svc.sealing import Sealer
    from seal_svc.seals import SealService
    from tests.identity_fixtures import IDENTITY_CONFIG
    from tests.seal.conftest import SealEnv

    node = node_factory(config="[seal]\nmax_upload_bytes = 300000\n" + IDENTITY_CONFIG)
    service = SealService(node)  # type: ignore[arg-type]
    env = SealEnv(node=node, service=service, sealer=Sealer(service))
    with seal_rpc(env) as rpc:
        seal = rpc.seal_for()
        client = rpc.client(rpc.staff)
        big = make_pdf(filler_bytes=400_000)
        # Declared size: refused before any upload; undeclared (raw stream): refused while receiving.
        _expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "UPLOAD_TOO_LARGE",
                lambda: _sign(client, seal.seal_id, big, tmp_path), rpc, tmp_path)
        header = seal_pb2.SignPdfHeader(seal_id=seal.seal_id, placement=CORNER)
        _expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "UPLOAD_TOO_LARGE",
                lambda: client.sign_stream(io.BytesIO(big), io.BytesIO(), header), rpc, tmp_path)  # type: ignore[attr-defined]
        _expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "UPLOAD_TOO_LARGE",
                lambda: client.verify_stream(io.BytesIO(big)), rpc, tmp_path)  # type: ignore[attr-defined]
        assert _sign(client, seal.seal_id, make_pdf(), tmp_path).exists()  # under the limit: fine


def test_header_must_come_first(ready: tuple[SealRpc, str, object]) -> None:
    rpc, _, client = ready
    from hutong.common.v1 import common_pb2

    stub = client._stub  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as e:
        list(stub.SignPdf(iter([seal_pb2.SignPdfRequest(chunk=common_pb2.Chunk(data=b"%PDF-"))]),
                          metadata=client._metadata))  # type: ignore[attr-defined]
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
