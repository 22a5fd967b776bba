"""The rules of a staged rollover, in process: what each step does, what is refused and why, what is audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hutong import pki, rollover
from hutong.audit import AuditRecord
from hutong.cli import main
from hutong.errors import HutongError
from hutong.node import Node
from identity_svc.signing import TokenSigner, token_jwks


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(HutongError) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.reason


def _actions(node: Node) -> list[str]:
    with node.db.session(readonly=True) as s:
        return [r.action for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]


def test_token_key_is_published_before_it_signs_and_kept_after(node: Node) -> None:
    signer = TokenSigner(node)
    old_kid = signer.public_jwk["kid"]
    dry = rollover.rotate(node, "node.token-signing", dry_run=True)
    assert dry.step == "prepare" and node.pki.registry.snapshot().pending(pki.TOKEN) is None  # nothing done

    prepared = rollover.rotate(node, "token-signing")
    assert prepared.step == "prepare" and prepared.label.startswith("node.token-signing.")
    kids = [k["kid"] for k in token_jwks(node)["keys"]]
    assert len(kids) == 2 and kids[0] == old_kid  # the successor is published ...
    assert signer.public_jwk["kid"] == old_kid  # ... but not used yet
    assert _reason(rollover.rotate, node, pki.TOKEN, "prepare") == "ROLLOVER_IN_PROGRESS"

    activated = rollover.rotate(node, pki.TOKEN)
    assert activated.step == "activate" and activated.retired == pki.key_label(pki.TOKEN)
    assert signer.public_jwk["kid"] == kids[1]  # the same signer object switched, as every worker does
    assert activated.needed_until is not None and activated.needed_until > datetime.now(UTC) + timedelta(minutes=5)
    assert [k["kid"] for k in token_jwks(node)["keys"]] == [kids[1], old_kid]  # the retired key still verifies
    assert _reason(rollover.rotate, node, pki.TOKEN, "activate") == "ROLLOVER_NOT_PREPARED"
    assert [a for a in _actions(node) if a.startswith("pki.rollover")] == ["pki.rollover.prepare",
                                                                             "pki.rollover.activate"]
    # Once the last token it signed has expired, the retired key is no longer published.
    later = datetime.now(UTC) + timedelta(days=1)
    assert [e.label for e in node.pki.registry.snapshot().published(pki.TOKEN, later)] == [activated.label]


def test_unknown_roles_are_refused(node: Node) -> None:
    assert _reason(rollover.rotate, node, "node.something") == "NODE_KEY_ROLE_UNKNOWN"
    assert _reason(rollover.rotate, node, "blind") == "NODE_KEY_ROLE_UNKNOWN"


def test_officers_cli_keeps_needed_keys_and_refuses_raw_swaps(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(node.config.data_dir)
    assert main(["hsm", "rotate", "--data-dir", data, "--label", "node.seal-ca", "--dry-run"]) == 0
    assert "dry run, nothing changed: would prepare" in capsys.readouterr().out
    assert main(["hsm", "rotate", "--data-dir", data, "--label", "node.seal-ca"]) == 0
    assert main(["hsm", "rotate", "--data-dir", data, "--label", "node.seal-ca"]) == 0
    capsys.readouterr()
    for label in ("node.seal-ca", pki.key_label(pki.TOKEN)):  # retired but still verifying; active
        assert main(["hsm", "destroy", "--data-dir", data, "--key", label, "--yes"]) == 2
        assert "error: NODE_KEY_STILL_NEEDED: " in capsys.readouterr().err
    assert node.keys.get_key("node.seal-ca").label == "node.seal-ca"  # still there
    assert main(["hsm", "rotate", "--label", "node.tsa", "--token", node.keys.config.token_label]) == 2
    assert "error: NODE_KEY_NEEDS_NODE: " in capsys.readouterr().err
    registry = json.loads((capsys.readouterr(), main(["node", "keys", "--data-dir", data, "--json"]),
                           capsys.readouterr().out)[2])
    assert sorted(r["state"] for r in registry if r["role"] == "seal-ca") == ["active", "retired"]
    actions = _actions(node)
    # refusals audited too (the one without --data-dir names no node: its record goes to stderr)
    assert actions.count("hsm.rotate") == 3 and actions.count("hsm.destroy") == 2


def test_verify_names_a_missing_key(node: Node, tmp_path: Path) -> None:
    from hutong import backup

    assert backup.verify(Path(node.config.data_dir)).ok
    rollover.rotate(node, pki.ISSUER_CA)
    pending = node.pki.registry.snapshot().pending(pki.ISSUER_CA)
    assert pending is not None
    node.keys.destroy_key(pending.label)  # behind the registry's back
    report = backup.verify(Path(node.config.data_dir))
    assert not report.ok and any(pending.label in p for p in report.problems), report.problems


def test_token_key_rolls_over_from_the_cli_with_identity_lifetimes(node: Node,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The officer's command wires the node, so the retired token key is kept as long as identity's tokens live;
    a node opened without identity cannot say that and is refused with a reason."""
    from hutong.node import open_node

    data = str(node.config.data_dir)
    bare = open_node(Path(data))  # no peers: nobody says how long tokens live
    try:
        rollover.rotate(bare, pki.TOKEN)  # prepare needs no lifetime
        assert _reason(rollover.rotate, bare, pki.TOKEN) == "TOKEN_LIFETIME_UNKNOWN"
    finally:
        bare.close()
    capsys.readouterr()
    assert main(["hsm", "rotate", "--data-dir", data, "--label", "node.token-signing", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["step"] == "activate" and done["retired"] == pki.key_label(pki.TOKEN) and done["next"] is None
    retired = next(e for e in node.pki.registry.snapshot().published(pki.TOKEN, datetime.now(UTC))
                   if e.label == pki.key_label(pki.TOKEN))
    assert retired.needed_until is not None
    assert retired.needed_until > datetime.now(UTC) + timedelta(seconds=600)  # identity's default token life
