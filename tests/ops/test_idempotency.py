"""Idempotency keys (metadata ``idempotency-key``): a repeated ``seal sign`` or ``issue-batch`` returns the first
result; the grant is charged once, no certificate is issued twice; a key is never reused for another request."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cert_svc import issuance
from cert_svc.models import CertificateRow
from hutong import idempotency
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, InvalidArgument
from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong
from tests.clients.sdk_world import ACME, PASSWORD, ZHANG, World, licence_fields

PLACE = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)
REGULATOR = Principal(kind="platform", subject="amr-platform", platform="amr-platform")


def _company_seal(world: World) -> tuple[str, str]:
    with Hutong(world.target, **world.portal) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
            person.identity.register_organisation(ACME[0], ACME[1])
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
        seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_CONTRACT)
        grant = company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM, max_uses=3)
    return seal.seal_id, grant.grant_id


def _grant_uses(world: World, seal_id: str, grant_id: str) -> int:
    with Hutong(world.target, **world.portal) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
        return next(g.uses for g in company.seal.list_grants(seal_id) if g.grant_id == grant_id)


def test_sealing_twice_with_a_key_seals_once(world: World, tmp_path: Path) -> None:
    from bench.pdfgen import make_pdf_file

    seal_id, grant_id = _company_seal(world)
    src = make_pdf_file(tmp_path / "contract.pdf")
    key = str(uuid.uuid4())
    with Hutong(world.target, **world.portal) as portal:
        options: dict[str, Any] = {"placement": PLACE, "level": seal_pb2.PADES_LEVEL_B_B, "idempotency_key": key}
        first = portal.seal.sign_file(src, tmp_path / "a.pdf", seal_id, **options)
        again = portal.seal.sign_file(src, tmp_path / "b.pdf", seal_id, **options)
        assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
        assert first.output_sha256 == again.output_sha256 and first.field_name == again.field_name
        assert _grant_uses(world, seal_id, grant_id) == 1  # charged once
        other = make_pdf_file(tmp_path / "other.pdf", pages=3)
        with pytest.raises(FailedPrecondition) as reused:
            portal.seal.sign_file(other, tmp_path / "c.pdf", seal_id, placement=PLACE, idempotency_key=key)
        assert reused.value.reason == "IDEMPOTENCY_KEY_REUSED" and not (tmp_path / "c.pdf").exists()
        with pytest.raises(InvalidArgument) as bad:
            portal.seal.sign_file(src, tmp_path / "d.pdf", seal_id, placement=PLACE,
                                  idempotency_key="no spaces allowed")
        assert bad.value.reason == "IDEMPOTENCY_KEY_INVALID"
        # Without a key every call seals (and charges) again.
        portal.seal.sign_file(src, tmp_path / "e.pdf", seal_id, placement=PLACE, level=seal_pb2.PADES_LEVEL_B_B)
        assert _grant_uses(world, seal_id, grant_id) == 2


def _csv(rows: int, name: str) -> bytes:
    fields = licence_fields(name=name)
    lines = ["holder_id,holder_name," + ",".join(fields)]
    lines += [f"{ACME[0]},{ACME[1]}," + ",".join(fields.values()) for _ in range(rows)]
    lines.append("91110000600037341N,坏," + ",".join(fields.values()))  # refused: bad check character
    return ("\n".join(lines) + "\n").encode()


def _count(world: World) -> int:
    with world.node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(CertificateRow)) or 0)


def _outcomes(responses: Any) -> tuple[list[tuple[int, str, str]], Any]:
    rows, summary = [], None
    for r in responses:
        rows += [(x.row, x.identifier, x.reason) for x in r.results]
        if r.HasField("summary"):
            summary = r.summary
    return rows, summary


def test_issue_batch_twice_with_a_key_issues_once(world: World) -> None:
    key = str(uuid.uuid4())
    data = _csv(3, "幂等测试有限公司")
    with Hutong(world.target, **world.regulator) as h:
        before = _count(world)
        first, s1 = _outcomes(h.cert.issue_batch(world.licence_type, data, idempotency_key=key))
        assert _count(world) == before + 3
        again, s2 = _outcomes(h.cert.issue_batch(world.licence_type, data, idempotency_key=key))
        assert sorted(again) == sorted(first) and _count(world) == before + 3
        assert (s1.rows, s1.issued, s1.failed) == (s2.rows, s2.issued, s2.failed) == (4, 3, 1)
        with pytest.raises(FailedPrecondition) as reused:
            list(h.cert.issue_batch(world.licence_type, _csv(1, "别的公司"), idempotency_key=key))
        assert reused.value.reason == "IDEMPOTENCY_KEY_REUSED"


def test_the_cli_passes_the_key(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from hutong.cli import main

    monkeypatch.setenv("HUTONG_CLIENT_SECRET", world.regulator_secret)
    csv = tmp_path / "batch.csv"
    csv.write_bytes(_csv(2, "命令行幂等有限公司"))
    argv = ["cert", "issue-batch", world.licence_type, str(csv), "--json", "--target", world.target,
            "--client-id", "amr-platform", "--idempotency-key", "cli-run-1"]
    before = _count(world)
    capsys.readouterr()
    assert main(argv) == 1  # one row refused
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out) == first and _count(world) == before + 2


def test_a_batch_cut_off_midway_resumes_after_its_committed_rows(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issuance, "CHUNK", 2)
    text = _csv(5, "续传测试有限公司").decode()
    rows = list(issuance.csv_rows(text, world.licence_type))
    digest = idempotency.request_digest(world.licence_type, text)
    before = _count(world)
    run = issuance.issue_batch_once(world.node, REGULATOR, world.licence_type, rows, key="resume-1",
                                    request_sha256=digest)
    first_chunk = next(run)
    run.close()  # the connection broke after the first chunk was committed
    assert _count(world) == before + 2 and [o.row for o in first_chunk] == [1, 2]
    with pytest.raises(FailedPrecondition) as busy:  # still fresh: the first call might be running
        list(issuance.issue_batch_once(world.node, REGULATOR, world.licence_type, rows, key="resume-1",
                                       request_sha256=digest))
    assert busy.value.reason == "IDEMPOTENCY_KEY_IN_USE"
    monkeypatch.setattr(idempotency, "STALE_AFTER", 0.0)  # the first call's process is gone
    resumed = [o for chunk in issuance.issue_batch_once(world.node, REGULATOR, world.licence_type, rows,
                                                        key="resume-1", request_sha256=digest) for o in chunk]
    assert sorted(o.row for o in resumed) == [1, 2, 3, 4, 5, 6]
    assert [o.identifier for o in resumed if o.row <= 2] == [o.identifier for o in first_chunk]
    assert _count(world) == before + 5  # rows 1-2 were not issued again
    assert [o.error.reason for o in resumed if o.error] == ["CHECK_CHARACTER_MISMATCH"]
