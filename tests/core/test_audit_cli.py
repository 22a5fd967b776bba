"""`hutong audit verify|prove|checkpoint` on a real node: intact, proofs verified, one edited record named."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from hutong.audit import AuditRecord
from hutong.cli import main
from tests.audit_helpers import event_at


def test_audit_verify_names_the_edited_record(node, capsys) -> None:  # type: ignore[no-untyped-def]
    data_dir = str(node.config.data_dir)
    assert main(["audit", "checkpoint", "--data-dir", data_dir]) == 0
    assert "sequenced" in capsys.readouterr().out
    assert main(["audit", "verify", "--data-dir", data_dir]) == 0
    assert "intact" in capsys.readouterr().out
    with node.db.session() as s:
        s.execute(update(AuditRecord).where(event_at(2)).values(actor="mallory"))
    assert main(["audit", "verify", "--data-dir", data_dir]) == 1
    assert "BROKEN at record 2" in capsys.readouterr().out


def test_audit_prove_inclusion_and_consistency(node, capsys) -> None:  # type: ignore[no-untyped-def]
    data_dir = str(node.config.data_dir)
    node.tlog.integrate_all()
    node.audit.record(actor="tester", action="thing.do")
    with node.db.session(readonly=True) as s:
        seq = s.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1))
    assert main(["audit", "prove", "--data-dir", data_dir, "--event", str(seq)]) == 2  # not sequenced yet
    assert "AUDIT_EVENT_PENDING" in capsys.readouterr().err
    node.tlog.integrate_all()
    assert main(["audit", "prove", "--data-dir", data_dir, "--event", str(seq)]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert proof["verified"] and proof["leaf_index"] == proof["tree_size"] - 1
    assert main(["audit", "prove", "--data-dir", data_dir, "--from", "1"]) == 2  # no checkpoint of size 1
    assert "TREE_SIZE_UNKNOWN" in capsys.readouterr().err
    first = proof["tree_size"] - 1
    assert main(["audit", "prove", "--data-dir", data_dir, "--from", str(first)]) == 0
    consistency = json.loads(capsys.readouterr().out)
    assert consistency["verified"] and consistency["second"] == proof["tree_size"]


def test_officer_commands_on_a_node_are_audited(node, capsys) -> None:  # type: ignore[no-untyped-def]
    data_dir = str(node.config.data_dir)
    assert main(["hsm", "keygen", "--data-dir", data_dir, "--label", "officer-test", "--algorithm", "ec-p256"]) == 0
    assert main(["hsm", "list", "--data-dir", data_dir, "--json"]) == 0
    assert "officer-test" in capsys.readouterr().out
    with node.db.session(readonly=True) as s:
        actions = [(r.action, r.target, r.outcome) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    assert ("hsm.keygen", "officer-test", "ok") in actions
    assert main(["audit", "checkpoint", "--data-dir", data_dir]) == 0
    assert main(["audit", "verify", "--data-dir", data_dir]) == 0


def test_audit_verify_with_a_log_key_held_elsewhere(node, node_factory, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An auditor checks against the key they hold: another node's key makes every checkpoint fail."""
    data_dir = str(node.config.data_dir)
    node.tlog.integrate_all()
    right, wrong = tmp_path / "right.vkey", tmp_path / "wrong.vkey"
    right.write_text(node.tlog.vkey())
    wrong.write_text(node_factory().tlog.vkey())
    assert main(["audit", "verify", "--data-dir", data_dir, "--log-key", str(right)]) == 0
    assert "checked with the given log key" in capsys.readouterr().out
    assert main(["audit", "verify", "--data-dir", data_dir, "--log-key", str(wrong)]) == 1
    assert "signature does not verify" in capsys.readouterr().out
