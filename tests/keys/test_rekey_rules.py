"""Data-protection key rollover in process: prepare, activate, re-encrypt in batches (stopped and resumed),
every record readable and found throughout, each re-encrypted exactly once, what is refused and audited.
Individual-business codes (deterministic, primary and foreign keys) move too: looked up by code before, during
(stopped after every batch) and after; then the first data key is released and destroyed, and everything
still reads. On SQLite, and on PostgreSQL with ``--db postgresql``.

The stored values are read as raw rows (SQL, not the models) and decrypted with the HSM's own AES-GCM under
the key the rollover made, so a record the job missed or garbled fails here whatever ``pki`` believes."""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from cert_svc import catalogue, issuance, issuers, records
from cert_svc.models import CertificateRow
from cert_svc.records import Holder
from hsm.errors import HsmError
from hutong import backup, business_codes, pki, rekey, rollover
from hutong.audit import AuditRecord
from hutong.auth import Principal
from hutong.cli import main
from hutong.errors import HutongError
from hutong.idempotency import IdempotencyRecord
from hutong.identifiers import uscc_check_character
from hutong.node import Node
from identity_svc import orgs, registers
from identity_svc.core import Identity
from identity_svc.models import Organisation
from identity_svc.persons import citizen_id_of, find_person, name_of
from seal_svc.seals import SealService, SealType
from tests.cert.conftest import licence_fields
from tests.identity_fixtures import IDENTITY_CONFIG, Caller, Identities, citizen_id
from tests.keys import codes

INDIVIDUAL = "92350100MA2Y3K4P5" + uscc_check_character("92350100MA2Y3K4P5")
SECOND = "92350100MA2Y3K4Q5" + uscc_check_character("92350100MA2Y3K4Q5")  # registered during the overlap
REGULATOR = "11430000006122244L"
PEOPLE = 7


@dataclass
class World:
    node: Node
    people: Identities
    owner: Caller  # the individual business's owner, acting for it
    identifier: str  # the licence issued to the business
    staff: Caller  # granted administrator in the business (a foreign key to its code)


def _reason(fn: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(HutongError) as err:
        fn(*args, **kwargs)
    return err.value.reason


@pytest.fixture
def world(node_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> World:
    """People, an individual business with a seal (certificate stored encrypted), a licence (protected forms)
    and a remembered answer naming the business's code (stored protected whole)."""
    caplog.set_level(logging.INFO)
    node: Node = node_factory(config=IDENTITY_CONFIG)
    people = Identities(node)
    owner = people.organisation(INDIVIDUAL, "福州市鼓楼区张三小吃店", citizen_id(1))
    for n in range(2, PEOPLE + 1):
        people.person(citizen_id(n))
    staff = people.member(owner, citizen_id(2), orgs.ADMINISTRATOR)  # a grant: a foreign key to the business's
    # (protected) code; the licence below binds another legal representative, the administrator stays
    SealService(node).create_seal(owner.principal, org_uscc=INDIVIDUAL, org_name="福州市鼓楼区张三小吃店",
                                  seal_type=SealType.OFFICIAL)
    issuers.register(node, people.operator().principal, uscc=REGULATOR, name="福州市市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE], platform_client_id="amr-platform")
    issued = issuance.issue(node, Principal(kind="platform", subject="amr-platform", platform="amr-platform"),
                            issuance.IssueRequest(type_code=catalogue.BUSINESS_LICENCE,
                                                  holder=Holder(kind="organisation", id=INDIVIDUAL,
                                                                name="福州市鼓楼区张三小吃店"),
                                                  fields=licence_fields(name="福州市鼓楼区张三小吃店")))
    with node.db.session() as s:
        s.add(IdempotencyRecord(id="r" * 64, operation="test", request_sha256="0" * 64, done=True,
                                result=f"answer for {INDIVIDUAL}".encode(), created_at=0.0, touched_at=0.0))
    return World(node, people, owner, issued.identifier, staff)


def _stored(node: Node) -> dict[tuple[str, str], tuple[str, bytes, bytes]]:
    """Every protected blob as stored: (target, primary key) -> (key label, the HSM's blob, associated data)."""
    found = {}
    with node.db.engine.connect() as conn:
        for t in rekey.targets():
            cols = ", ".join(dict.fromkeys((t.key, t.column, *t.needs)))
            for row in conn.execute(text(f"SELECT {cols} FROM {t.table}")):
                values = dict(row._mapping)
                blob = t.decode(values[t.column])
                if blob is not None:
                    label, inner = node.pki.data_key_of(blob)
                    found[(t.name, str(values[t.key]))] = (label, inner, t.aad(values))
    return found


def _actions(node: Node) -> list[str]:
    with node.db.session(readonly=True) as s:
        return [r.action for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]


def _check_everything_readable(w: World) -> None:
    """Every record decrypts and is found: people by ID number, the business by its 92-code."""
    node = w.node
    idn = Identity.of(node)
    with node.db.session(readonly=True) as s:
        for n in range(1, PEOPLE + 1):
            person = find_person(idn, s, citizen_id(n))  # found by its blind index
            assert person is not None and citizen_id_of(idn, person) == citizen_id(n) and name_of(idn, person)
        record = s.get(IdempotencyRecord, "r" * 64)
        assert record is not None and record.result == f"answer for {INDIVIDUAL}".encode()
        row = s.get(CertificateRow, w.identifier)
        assert row is not None
        forms = json.loads(node.pki.unprotect(row.protected_forms, aad=records.aad(w.identifier)))
        assert INDIVIDUAL in forms["jws"] or forms["jws"].count(".") == 2
    seals, _ = SealService(node).list_seals(w.owner.principal, org_uscc=INDIVIDUAL)
    assert seals and INDIVIDUAL in seals[0].certificate.subject.rfc4514_string()  # found by the 92-code, read
    idn = Identity.of(node)
    with node.db.session(readonly=True) as s:
        org = business_codes.get(s, Organisation, INDIVIDUAL)  # the primary key: the code's protected form
        assert org is not None and org.uscc == INDIVIDUAL
        assert orgs.roles_in_force(idn, s, INDIVIDUAL, w.staff.subject, idn.now()) == (orgs.ADMINISTRATOR,)
    assert registers.TableRegister(idn).organisation_matches(INDIVIDUAL, "福州市鼓楼区张三小吃店")
    assert INDIVIDUAL in {o.uscc for o in orgs.my_organisations(idn, w.staff.subject)}  # grants join the business


def test_data_key_rollover_reencrypts_every_record_once_and_resumes(world: World) -> None:
    node, people = world.node, world.people
    first = pki.key_label(pki.DATA_KEY)
    before = _stored(node)
    targets = {t for t, _ in before}
    assert {"identity_persons.id_sealed", "identity_persons.name_sealed", "certificates.sealed_forms",
            "idempotency_keys.result", "seals.cert_pem"} <= targets, targets
    assert {label for label, _, _ in before.values()} == {first}
    codes_before = codes.stored_codes(node)
    assert codes.labels(codes_before) == {first}
    assert {"identity_orgs.uscc", "identity_org_grants.org_uscc", "identity_register_orgs.uscc",
            "seals.org_uscc"} <= {c for c, n in codes_before.items() if n}

    dry = rollover.rotate(node, "node.data-key", dry_run=True)
    assert dry.step == "prepare" and "AES-256 secret" in dry.actions[0]
    assert node.pki.registry.snapshot().pending(pki.DATA_KEY) is None  # nothing done
    assert _reason(rollover.rotate, node, pki.DATA_KEY, "reencrypt") == "REKEY_NOT_NEEDED"
    new = rollover.rotate(node, "node.data-key").label
    assert node.keys.get_secret_key(new, required=True)
    assert node.pki.label(pki.DATA_KEY) == first  # pending: not used yet
    activated = rollover.rotate(node, pki.DATA_KEY)
    assert activated.step == "activate" and activated.retired == first and activated.needed_until is None

    # Overlap: old records read with the old key, new ones are written with the new key and name it.
    _check_everything_readable(world)
    people.person(citizen_id(PEOPLE + 1))
    during = _stored(node)
    assert {label for label, _, _ in during.values()} == {first, new}
    made_new = {k for k, (label, _, _) in during.items() if label == new}
    assert made_new and all(t.startswith("identity_persons.") for t, _ in made_new)
    # A new business is stored under the new key; a grant in the old one names it as stored (the old key);
    # registering the old one again is refused (found under the old key), not a second row.
    people.organisation(SECOND, "福州市鼓楼区李四小吃店", citizen_id(3))
    people.member(world.staff, citizen_id(4))
    assert _reason(orgs.register_organisation, Identity.of(node), world.owner.subject, uscc=INDIVIDUAL,
                   name="福州市鼓楼区张三小吃店") == "ORGANISATION_ALREADY_REGISTERED"
    codes_during = codes.stored_codes(node)
    assert codes_during["identity_orgs.uscc"] == {first: 1, new: 1}
    assert codes_during["identity_org_grants.org_uscc"] == {first: 2}
    old_codes = sum(n.get(first, 0) for c, n in codes_during.items() if c != "identity_org_grants.org_uscc")
    # Destroying a key still needed is refused with its reason, at the CLI too.
    snap = node.pki.registry.snapshot()
    for label in (first, new):
        assert _reason(rollover.check_destroy, snap, label) == "NODE_KEY_STILL_NEEDED"

    # Re-encryption stopped after one batch of one row (as a crash after a commit would), then resumed.
    assert rollover.plan(node, pki.DATA_KEY).step == "reencrypt"
    partial = rekey.reencrypt(node, batch=1, max_batches=1)
    assert not partial.finished and partial.rows_done == 1
    assert "1 records re-encrypted" in rollover.rotate(node, pki.DATA_KEY, dry_run=True).actions[0]
    _check_everything_readable(world)
    # Stopped after every further batch of two: everything found by code and read at each stop, codes partly
    # moved at some (a primary key and the rows referring to it always together).
    mixed = False
    while not rekey.reencrypt(node, batch=2, max_batches=1).finished:
        _check_everything_readable(world)
        now = codes.stored_codes(node)
        mixed |= len(codes.labels(now)) > 1 and now["identity_orgs.uscc"].get(new, 0) > 1
        assert now["identity_org_grants.org_uscc"] in ({first: 2}, {new: 2}), now
    assert mixed  # some stop saw the business moved while other codes were not yet

    after = _stored(node)
    assert set(after) == set(during)  # no row lost, none added
    for (target, key), (label, inner, aad) in after.items():
        assert label == new, (target, key)
        node.keys.decrypt(new, inner, aad=aad, required=True)  # the HSM's own AES-GCM under the new key
        with pytest.raises(HsmError):
            node.keys.decrypt(first, inner, aad=aad, required=True)
    with node.db.session(readonly=True) as s:
        progress = {p.target: p.rows_done for p in s.scalars(select(rekey.RekeyProgress))}
    old_rows = sum(1 for label, _, _ in during.values() if label == first)
    assert sum(progress.values()) == old_rows + old_codes  # each record re-encrypted exactly once
    codes_after = codes.stored_codes(node)
    assert codes.labels(codes_after) == {new}
    assert codes_after["identity_orgs.uscc"] == {new: 2} and codes_after["identity_org_grants.org_uscc"] == {new: 2}
    _check_everything_readable(world)
    assert rekey.status(node) is None
    assert _reason(rollover.rotate, node, pki.DATA_KEY, "reencrypt") == "REKEY_NOT_NEEDED"
    actions = [a for a in _actions(node) if a.startswith(("pki.rollover", "pki.rekey"))]
    assert actions[:3] == ["pki.rollover.prepare", "pki.rollover.activate", "pki.rekey.start"]
    assert actions[-1] == "pki.rekey.finish" and actions.count("pki.rekey.progress") == len(rekey.all_targets())

    # Nothing is left under the first key: released, and destroyed; everything reads without it.
    snap = node.pki.registry.snapshot()
    rollover.check_destroy(snap, first)
    node.keys.destroy_key(first)
    _check_everything_readable(world)
    assert backup.verify(node.config.data_dir).ok

    # A second rollover releases the key of the first one once its records moved on: then it may go.
    second = rollover.rotate(node, pki.DATA_KEY).label
    rollover.rotate(node, pki.DATA_KEY)
    snap = node.pki.registry.snapshot()
    assert "not yet re-encrypted" in (rekey.why_kept(snap, new) or "")
    rollover.rotate(node, pki.DATA_KEY)
    snap = node.pki.registry.snapshot()
    rollover.check_destroy(snap, new)  # released: no longer needed
    assert snap.entry(new) is not None and not snap.entry(new).still_needed()  # type: ignore[union-attr]
    assert {label for label, _, _ in _stored(node).values()} == {second}
    _check_everything_readable(world)
    assert backup.verify(node.config.data_dir).ok
    # node verify names a record still under a released key (as if a column had been missed).
    person = next(k for t, k in _stored(node) if t == "identity_persons.name_sealed")
    with node.db.engine.begin() as conn:
        conn.execute(text("UPDATE identity_persons SET name_sealed = :v WHERE id = :k"),
                     {"v": node.pki.protect_with(new, "张三".encode(), aad=f"name|{person}".encode()), "k": person})
    report = backup.verify(node.config.data_dir)
    assert not report.ok and any(f"name data key {new}, which the registry no longer keeps" in p
                                 for p in report.problems), report.problems


def test_data_key_cli_steps_and_refusals(world: World,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    node = world.node
    data = str(node.config.data_dir)
    rotate = ["hsm", "rotate", "--data-dir", data, "--label", "node.data-key"]
    assert main([*rotate, "--step", "reencrypt"]) == 2
    assert "REKEY_NOT_NEEDED" in capsys.readouterr().err
    assert main(rotate) == 0 and "done: prepare" in capsys.readouterr().out
    assert main(rotate) == 0
    out = capsys.readouterr().out
    assert "done: activate" in out and "step reencrypt" in out
    assert main([*rotate, "--dry-run"]) == 0
    assert "would reencrypt" in capsys.readouterr().out
    assert main(["hsm", "destroy", "--data-dir", data, "--key", pki.key_label(pki.DATA_KEY), "--yes"]) == 2
    assert "NODE_KEY_STILL_NEEDED" in capsys.readouterr().err
    for pace in (["--batch-size", "0"], ["--batch-size", "-3"], ["--pause", "-1"]):
        assert main([*rotate, *pace]) == 2
        assert "REKEY_PACE_INVALID" in capsys.readouterr().err
    # The CLI changed the key registry through a node of its own; this node's registry sees such a change within
    # keyring.REFRESH_SECONDS (a fast machine ran the steps above in less), so it is told to read it now.
    node.pki.registry.invalidate()
    assert rekey.status(node) is not None  # refused before anything was done
    # Another runner (a serving worker, another officer) holds the node's re-encryption lock: refused.
    with open(node.config.data_dir / "rekey.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(rotate) == 2
        assert "REKEY_RUNNING" in capsys.readouterr().err
    assert main([*rotate, "--batch-size", "3", "--pause", "0"]) == 0
    assert "done: reencrypt" in capsys.readouterr().out
    assert rekey.status(node) is None
    _check_everything_readable(world)


def test_every_protected_attribute_is_declared_for_reencryption() -> None:
    """``*_protected`` / ``protected_*`` attributes (the naming rule for pki.protect output) are all found by
    the rollover: a column it missed would keep blobs of a key later released and destroyed."""
    from hutong.db import Base

    found = {t.name for t in rekey.targets()}
    attributes = [(m.local_table.name, p.key, p.columns[0].name) for m in Base.registry.mappers
                  for p in m.column_attrs if p.key.endswith("_protected") or p.key.startswith("protected_")]
    assert len(attributes) >= 4  # the rule is in use (people's ID number, name, TOTP secret; licences' forms)
    missing = [f"{table}.{key}" for table, key, column in attributes if f"{table}.{column}" not in found]
    assert missing == []
