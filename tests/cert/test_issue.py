"""Issuing over gRPC: the JWS verifies with an independent library, identifiers carry the right check
character, and every bad input gets its own status and reason with nothing stored."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey

from cert_svc import catalogue
from hutong import identifiers
from hutong.cert.v1 import cert_pb2 as pb
from hutong.errors import HutongError
from hutong.status import error_from_rpc

from .conftest import COMPANY_USCC, ISSUER_USCC, PERSON_ID, Env, diploma_fields, licence_fields


def issue(env: Env, who: list[tuple[str, str]] | None = None, **kw: object) -> pb.Certificate:
    """Issue (default: a business licence of COMPANY_USCC, by the market regulator's platform)."""
    req = pb.IssueCertificateRequest(
        type_code=str(kw.pop("type_code", catalogue.BUSINESS_LICENCE)),
        holder=pb.Holder(id=str(kw.pop("holder_id", COMPANY_USCC)), name="福建省某某科技有限公司"),
        fields=kw.pop("fields", licence_fields()), **kw)  # type: ignore[arg-type]
    return env.stub.IssueCertificate(req, metadata=who or env.issuer).certificate


def reason_of(call: object) -> tuple[grpc.StatusCode, str]:
    """Status and reason of a failing stub call (grpc.RpcError) or SDK call (typed HutongError)."""
    with pytest.raises((grpc.RpcError, HutongError)) as info:
        call()  # type: ignore[operator]
    err = info.value if isinstance(info.value, HutongError) else error_from_rpc(info.value)  # type: ignore[arg-type]
    return getattr(grpc.StatusCode, err.kind.value), err.reason


def test_design_identifier_example() -> None:
    cid = identifiers.parse_certificate_id("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U")
    assert (cid.type_code, cid.serial, cid.check) == ("11100000000013338W011", "20230000403", "U")


def test_default_catalogue(env: Env) -> None:
    types = env.stub.ListTypes(pb.ListTypesRequest(), metadata=env.bob).types
    wanted = {"营业执照", "居民身份证电子证照", "机动车驾驶证电子证照", "学历证书", "食品经营许可证"}
    assert {t.name for t in types} >= wanted
    for t in types:
        identifiers.parse_uscc(t.code[:18])


def test_issued_jws_verifies_with_joserfc_and_identifier_checks(env: Env) -> None:
    cert = issue(env)
    cid = identifiers.parse_certificate_id(cert.identifier)  # check character right
    assert (cid.type_code, cid.issuer_uscc, cid.version) == (catalogue.BUSINESS_LICENCE, ISSUER_USCC, "001")
    # x5c makes the header larger than joserfc's default 512-byte guard
    registry = jose_jws.JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 8192
    header = jose_jws.extract_compact(cert.jws.encode(), registry=registry).protected
    assert header["alg"] == "ES256" and header["kid"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    key = ECKey.import_key(leaf.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    token = jose_jws.deserialize_compact(cert.jws, key, registry=registry)
    assert b'"jti":"' + cert.identifier.encode() in token.payload
    head, payload, sig = cert.jws.split(".")
    tampered = head + "." + payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB") + "." + sig
    with pytest.raises(Exception):  # noqa: B017 - joserfc's BadSignatureError or a decode error
        jose_jws.deserialize_compact(tampered, key, registry=registry)
    code, reason = reason_of(lambda: env.stub.Verify(pb.VerifyRequest(jws=tampered)))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "JWS_INVALID")
    verdict = env.stub.Verify(pb.VerifyRequest(jws=cert.jws))
    assert verdict.verdict == 1, verdict.findings
    assert env.stub.Verify(pb.VerifyRequest(qr=cert.qr)).verdict == 1
    by_id = env.stub.Verify(pb.VerifyRequest(identifier=cert.identifier))
    assert by_id.verdict == 1 and by_id.certificate.issuer_uscc == ISSUER_USCC


def test_person_in_department_context_issues(env: Env) -> None:
    assert issue(env, env.issuer_person).issuer_uscc == ISSUER_USCC


@pytest.mark.parametrize(("kw", "who", "code", "reason"), [
    ({"type_code": "11100000000013338W999"}, "issuer", "INVALID_ARGUMENT", "CERT_TYPE_UNKNOWN"),
    ({"fields": licence_fields(established_on="2020-13-01")}, "issuer", "INVALID_ARGUMENT", "FIELD_INVALID"),
    ({"fields": licence_fields(colour="red")}, "issuer", "INVALID_ARGUMENT", "FIELD_INVALID"),
    ({"fields": {k: v for k, v in licence_fields().items() if k != "name"}}, "issuer", "INVALID_ARGUMENT",
     "FIELD_INVALID"),
    ({"holder_id": "91350100M000100Y44"}, "issuer", "INVALID_ARGUMENT", "CHECK_CHARACTER_MISMATCH"),
    ({"type_code": catalogue.DIPLOMA, "holder_id": "11010519491231002Y", "fields": diploma_fields()}, "other_issuer",
     "INVALID_ARGUMENT", "CITIZEN_ID_INVALID_FORMAT"),
    ({"type_code": catalogue.DIPLOMA, "holder_id": PERSON_ID, "fields": diploma_fields()}, "issuer",
     "PERMISSION_DENIED", "ISSUER_NOT_AUTHORISED"),
    ({}, "bob", "PERMISSION_DENIED", "NOT_AN_ISSUER"),
    ({"valid_until": "2001-01-01"}, "issuer", "INVALID_ARGUMENT", "VALIDITY_INVALID"),
    ({"predecessor": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V"}, "issuer",
     "INVALID_ARGUMENT", "CHECK_CHARACTER_MISMATCH"),
    ({"predecessor": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"}, "issuer",
     "FAILED_PRECONDITION", "PREDECESSOR_NOT_FOUND"),
])
def test_bad_issue_input(env: Env, kw: dict[str, object], who: str, code: str, reason: str) -> None:
    before = env.count()
    assert reason_of(lambda: issue(env, getattr(env, who), **kw)) == (getattr(grpc.StatusCode, code), reason)
    assert env.count() == before


@pytest.mark.parametrize(("identifier", "reason"), [
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V", "CHECK_CHARACTER_MISMATCH"),
    ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023.001.U", "CERT_ID_INVALID_FORMAT"),
    ("2.16.840.1", "CERT_ID_INVALID_FORMAT"),
])
def test_malformed_identifiers(env: Env, identifier: str, reason: str) -> None:
    got = reason_of(lambda: env.stub.GetCertificate(pb.GetCertificateRequest(identifier=identifier),
                                                     metadata=env.issuer))
    assert got == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert reason_of(lambda: env.stub.Verify(pb.VerifyRequest(identifier=identifier)))[1] == reason


def test_batch_reports_each_row(env: Env) -> None:
    from hutong_client.cert import CertClient

    fields = licence_fields()
    header = "holder_id,holder_name," + ",".join(fields)
    good = ",".join(fields.values())
    csv = "\n".join([
        header,
        f"{COMPANY_USCC},甲公司,{good}",
        f"91350100M000100Y44,乙公司,{good}",  # wrong check character
        f"91110000600037341L,丙公司,{good.replace('2020-01-01', 'yesterday')}",
        "91110000600037341L,丁公司",  # too few columns
        f"121200004013590816,戊单位,{good}",
    ]).encode()
    before = env.count()
    responses = list(CertClient(env.channel, metadata=env.issuer).issue_batch(catalogue.BUSINESS_LICENCE, csv))
    rows = {r.row: r for resp in responses for r in resp.results}
    assert responses[-1].summary.rows == 5 and responses[-1].summary.issued == 2
    assert [rows[n].reason for n in range(1, 6)] == ["", "CHECK_CHARACTER_MISMATCH", "FIELD_INVALID",
                                                     "BATCH_INVALID", ""]
    assert rows[1].identifier and rows[5].identifier
    assert env.count() == before + 2


def test_a_row_refused_while_written_leaves_the_others_issued(env: Env) -> None:
    """A batch's rows are written together; when that joint write refuses (here a status listener refusing one
    row, as the legal-person binding may), it is undone and the rows are written one by one: the refused row
    leaves no certificate, audit event or binding, the others are issued with theirs."""
    from sqlalchemy import func, select

    from cert_svc import lifecycle
    from hutong.audit import AuditRecord
    from hutong.errors import InvalidArgument
    from hutong_client.cert import CertClient

    def refuse_yi(changes: Sequence[lifecycle.StatusChange]) -> None:
        if any(c.holder.name == "乙公司" for c in changes):
            raise InvalidArgument("FIELD_INVALID", "refused by a listener")

    def events(action: str) -> int:
        with env.node.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action))
                       or 0)

    fields = licence_fields()
    csv = "\n".join(["holder_id,holder_name," + ",".join(fields)] + [
        f"{uscc},{name},{','.join(fields.values())}"
        for uscc, name in ((COMPANY_USCC, "甲公司"), ("91110000600037341L", "乙公司"), ("121200004013590816", "丙单位"))
    ]).encode()
    before, issued_before, bound_before = env.count(), events("cert.issue"), events("identity.org.bind")
    lifecycle.listeners.append(refuse_yi)
    try:
        responses = list(CertClient(env.channel, metadata=env.issuer).issue_batch(catalogue.BUSINESS_LICENCE, csv))
    finally:
        lifecycle.listeners.remove(refuse_yi)
    rows = {r.row: r for resp in responses for r in resp.results}
    assert [rows[n].reason for n in (1, 2, 3)] == ["", "FIELD_INVALID", ""]
    assert rows[1].identifier and rows[3].identifier and not rows[2].identifier
    assert responses[-1].summary.issued == 2 and responses[-1].summary.failed == 1
    assert env.count() == before + 2
    assert events("cert.issue") == issued_before + 2 and events("identity.org.bind") == bound_before + 2
    for n in (1, 3):
        assert env.stub.GetCertificate(pb.GetCertificateRequest(identifier=rows[n].identifier),
                                       metadata=env.issuer).certificate.identifier == rows[n].identifier


def test_concurrent_batches_keep_status_slots_unique(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch signs its rows before it stores them (only their status slots reserved first, in a short
    transaction), so two batches of one issuer may reserve the same random slot; the one storing second gives
    such rows a fresh slot and signs them again. Forced with a status list of 64 entries and two batches of 24
    that both reserve before either signs (held at a barrier): two random draws of 24 from 64 miss each other
    with a chance of 1 in 4 million. Every slot is stored once, each certificate's signed slot is the one stored,
    and more slots were counted than certificates stored (reservations lost to clashes, so the clash path ran)."""
    import json
    import threading
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cert_svc import issuance, statuslist
    from cert_svc.models import CertificateRow, StatusListRow
    from cert_svc.records import Holder
    from hutong.node import Node

    list_id = f"{ISSUER_USCC}-0"  # first in list order: both batches draw from it (48 of 64 before it is full)
    reserved = threading.Barrier(2)
    reserve = statuslist.reserve

    def reserve_then_wait(node: Node, issuer_uscc: str, count: int) -> list[tuple[str, int]]:
        refs = reserve(node, issuer_uscc, count)
        reserved.wait(timeout=30)
        return refs

    monkeypatch.setattr(statuslist, "reserve", reserve_then_wait)
    with env.node.db.session() as s:
        s.add(StatusListRow(list_id=list_id, issuer_uscc=ISSUER_USCC, size=64, used=0, changed_at=datetime.now(UTC)))
    principal = env.people.platform("amr-platform").principal
    start = threading.Barrier(2)
    outcomes: list[issuance.RowOutcome] = []

    def batch() -> None:
        rows: list[issuance.BatchRow] = [
            (n, issuance.IssueRequest(catalogue.BUSINESS_LICENCE, Holder("", COMPANY_USCC, "甲公司"), licence_fields()))
            for n in range(1, 25)]
        start.wait(timeout=30)
        for chunk in issuance.issue_batch(env.node, principal, catalogue.BUSINESS_LICENCE, rows):
            outcomes.extend(chunk)

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 48 and all(o.error is None for o in outcomes), [o.error for o in outcomes if o.error]
    with env.node.db.session() as s:
        stored = {ident: (lid, idx) for ident, lid, idx in s.execute(
            select(CertificateRow.identifier, CertificateRow.status_list_id, CertificateRow.status_index)
            .where(CertificateRow.identifier.in_([o.identifier for o in outcomes])))}
        used = s.get(StatusListRow, list_id).used  # type: ignore[union-attr]
    assert len(stored) == 48 and len(set(stored.values())) == 48, (used, stored)  # no slot twice
    assert used > sum(1 for lid, _ in stored.values() if lid == list_id), (used, stored)
    for o in outcomes:
        assert o.issued is not None
        payload = o.issued.forms[0].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        signed = claims["status"]["status_list"]
        assert (signed["uri"], signed["idx"]) == stored[o.identifier]
