"""One sealing reads the seal row once and reuses its HSM signer (issue 11: load once, pass the value).

Counted on the real engine (SQLAlchemy's cursor event) and the real token (``hsm.keys.OBSERVER`` sees every
token operation), over a real gRPC SignPdf; and the moments between the read and the charge, where the seal
or its grant may change, still end in the right refusal with nothing charged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

import hsm.keys
from bench.pdfgen import make_pdf_file
from hutong.errors import FailedPrecondition, PermissionDenied, ResourceExhausted
from hutong.seal.v1 import seal_pb2
from seal_svc.models import SealGrantRow
from tests.seal.conftest import USCC_A, SealEnv, SealRpc, admin_of, staff

CORNER = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)
_SEAL_TABLE = re.compile(r"\bFROM\s+seals\b", re.IGNORECASE)


@contextmanager
def seal_selects(env: SealEnv) -> Iterator[list[str]]:
    """The SELECT statements that read the ``seals`` table while the block runs."""
    seen: list[str] = []
    engine = env.node.db.engine  # type: ignore[attr-defined]

    def on_execute(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and _SEAL_TABLE.search(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _uses(env: SealEnv, seal_id: str) -> int:
    with env.node.db.session() as s:  # type: ignore[attr-defined]
        return sum(g.uses for g in s.scalars(select(SealGrantRow).where(SealGrantRow.seal_id == seal_id)))


@pytest.mark.parametrize("level", [seal_pb2.PADES_LEVEL_B_B, seal_pb2.PADES_LEVEL_B_T])
def test_sign_pdf_reads_the_seal_row_once_and_signs_with_a_kept_signer(
        rpc: SealRpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: int) -> None:
    seal = rpc.seal_for()
    user = rpc.client(rpc.staff)
    src = make_pdf_file(tmp_path / "doc.pdf", pages=1)
    user.sign_file(src, tmp_path / "first.pdf", seal.seal_id, placement=CORNER, level=level)  # type: ignore[attr-defined]

    operations: list[str] = []
    monkeypatch.setattr(hsm.keys, "OBSERVER", lambda op, seconds, ok: operations.append(op))
    with seal_selects(rpc.env) as selects:
        result = user.sign_file(src, tmp_path / "second.pdf", seal.seal_id, placement=CORNER,  # type: ignore[attr-defined]
                                level=level)
    assert result.output_size > 0 and _uses(rpc.env, seal.seal_id) == 2
    assert len(selects) == 1, selects
    # The second sealing only signs: no key search, no attribute reads (B-T: the seal, then the timestamp).
    assert operations == ["signing"] * (1 if level == seal_pb2.PADES_LEVEL_B_B else 2)


def test_a_seal_suspended_between_check_and_charge_is_refused_uncharged(env: SealEnv) -> None:
    info = env.seal_for()
    use = env.service.authorise(staff(), info.seal_id)
    env.service.suspend_seal(admin_of(USCC_A), info.seal_id, "lost")
    with pytest.raises(FailedPrecondition) as e, env.node.db.session() as s:  # type: ignore[attr-defined]
        env.service.record_use(s, staff(), info.seal_id, {"document_sha256": "00"}, use=use)
    assert e.value.reason == "SEAL_SUSPENDED" and _uses(env, info.seal_id) == 0


def test_a_grant_revoked_or_used_up_meanwhile_is_refused_uncharged(env: SealEnv) -> None:
    info = env.seal_for(max_uses=1)
    first, second = env.service.authorise(staff(), info.seal_id), env.service.authorise(staff(), info.seal_id)
    with env.node.db.session() as s:  # type: ignore[attr-defined]
        env.service.record_use(s, staff(), info.seal_id, {"document_sha256": "00"}, use=first)
    with pytest.raises(ResourceExhausted) as e, env.node.db.session() as s:  # type: ignore[attr-defined]
        env.service.record_use(s, staff(), info.seal_id, {"document_sha256": "01"}, use=second)
    assert e.value.reason == "GRANT_EXHAUSTED" and _uses(env, info.seal_id) == 1

    other = env.seal_for()
    use = env.service.authorise(staff(), other.seal_id)
    env.service.revoke_grant(admin_of(USCC_A), use.grant_id)
    with pytest.raises(PermissionDenied) as e2, env.node.db.session() as s:  # type: ignore[attr-defined]
        env.service.record_use(s, staff(), other.seal_id, {"document_sha256": "00"}, use=use)
    assert e2.value.reason == "NOT_GRANTED" and _uses(env, other.seal_id) == 0


def test_a_grant_that_expired_meanwhile_is_refused_uncharged(env: SealEnv) -> None:
    info = env.seal_for(not_after=datetime.now(UTC) + timedelta(hours=1))
    use = env.service.authorise(staff(), info.seal_id)
    with env.node.db.session() as s:  # type: ignore[attr-defined]
        s.get(SealGrantRow, use.grant_id).not_after = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
    with pytest.raises(PermissionDenied) as e, env.node.db.session() as s:  # type: ignore[attr-defined]
        env.service.record_use(s, staff(), info.seal_id, {"document_sha256": "00"}, use=use)
    assert e.value.reason == "GRANT_EXPIRED" and _uses(env, info.seal_id) == 0


def _use_events(env: SealEnv, seal_id: str) -> list[str]:
    from hutong.audit import AuditRecord

    with env.node.db.session() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(AuditRecord.details).where(AuditRecord.action == "seal.use",
                                                                 AuditRecord.target == seal_id)))


def test_a_use_recorded_on_its_own_charges_and_audits_once_and_a_refused_one_neither(env: SealEnv) -> None:
    """``record_use_now`` (a sealing without an idempotency key: the charge and ``seal.use`` in one prepared
    transaction): charged and recorded once; a use whose grant is used up, or whose seal was suspended
    meanwhile, is refused with the full check's reason, nothing charged and nothing recorded."""
    info = env.seal_for(max_uses=1)
    first, second = env.service.authorise(staff(), info.seal_id), env.service.authorise(staff(), info.seal_id)
    env.service.record_use_now(staff(), info.seal_id, {"document_sha256": "00"}, use=first)
    [details] = _use_events(env, info.seal_id)
    assert '"grant": "' + first.grant_id + '"' in details and '"document_sha256": "00"' in details
    with pytest.raises(ResourceExhausted) as e:
        env.service.record_use_now(staff(), info.seal_id, {"document_sha256": "01"}, use=second)
    assert e.value.reason == "GRANT_EXHAUSTED" and _uses(env, info.seal_id) == 1
    assert len(_use_events(env, info.seal_id)) == 1

    other = env.seal_for()
    use = env.service.authorise(staff(), other.seal_id)
    env.service.suspend_seal(admin_of(USCC_A), other.seal_id, "lost")
    with pytest.raises(FailedPrecondition) as e2:
        env.service.record_use_now(staff(), other.seal_id, {"document_sha256": "00"}, use=use)
    assert e2.value.reason == "SEAL_SUSPENDED" and _uses(env, other.seal_id) == 0
    assert _use_events(env, other.seal_id) == []
    env.node.tlog.integrate_all()  # type: ignore[attr-defined]
    assert env.node.audit.verify().ok  # type: ignore[attr-defined]
