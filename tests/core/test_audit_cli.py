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


def test_officer_commands_on_a_node_are_audited(node, capsys) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    data_dir = str(node.config.data_dir)
    assert main(["hsm", "keygen", "--data-dir", data_dir, "--label", "officer-test", "--algorithm", "ec-p256"]) == 0
    assert main(["hsm", "list", "--data-dir", data_dir, "--json"]) == 0
    assert "officer-test" in capsys.readouterr().out
    with node.db.session(readonly=True) as s:
        actions = [(r.action, r.target, r.outcome) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    assert ("hsm.keygen", "officer-test", "ok") in actions
    assert main(["audit", "verify", "--data-dir", data_dir]) == 0
