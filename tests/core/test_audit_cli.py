"""`hutong audit verify` on a real node: intact, then one edited record is named."""

from __future__ import annotations

from sqlalchemy import update

from hutong.audit import AuditRecord
from hutong.cli import main


def test_audit_verify_names_the_edited_record(node, capsys) -> None:  # type: ignore[no-untyped-def]
    data_dir = str(node.config.data_dir)
    assert main(["audit", "verify", "--data-dir", data_dir]) == 0
    assert "intact" in capsys.readouterr().out
    with node.db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(actor="mallory"))
    assert main(["audit", "verify", "--data-dir", data_dir]) == 1
    assert "BROKEN at record 2" in capsys.readouterr().out
