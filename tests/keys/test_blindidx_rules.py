"""Blind-index key rollover in process: prepare, activate, re-index in batches (stopped and resumed), every look-up
by citizen ID, holder, consent, representative and access log working during the overlap and after, no number
registered twice across keys, what waits for its value to be presented, what is refused and audited.

Stored indexes are read as raw rows (SQL, not the models) and recomputed independently: the HSM's own HMAC under
the key the rollover made, over the original value, so an index the job missed or garbled fails here."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from cert_svc import catalogue, issuance, issuers
from cert_svc.consent import identity_holder_resolver
from cert_svc.facade import CertService
from cert_svc.records import Holder
from hutong import backup, pki, reindex, rekey, rekey_task, rollover
from hutong.audit import AuditRecord
from hutong.auth import Principal
from hutong.cli import main
from hutong.errors import HutongError
from hutong.identifiers import uscc_check_character
from hutong.node import Node
from identity_svc import orgs, persons, registers
from identity_svc.core import Identity
from tests.cert.conftest import diploma_fields, licence_fields
from tests.identity_fixtures import IDENTITY_CONFIG, Caller, Identities, citizen_id

ORG = "91350100MA2Y3K4P5" + uscc_check_character("91350100MA2Y3K4P5")
REGULATOR = "11430000006122244L"
SCHOOL = "91110000600037341L"
PEOPLE = 5
PLATFORM = Principal(kind="platform", subject="portal", platform="portal")


@dataclass
class World:
    node: Node
    people: Identities
    certs: CertService
    holder: Caller  # person 2: holds a diploma, consented to the portal, who read it (access log)
    rep: Caller  # person 1, the organisation's legal representative, acting for it
    diploma: str
    licence: str
    consent_id: str


def _reason(fn: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(HutongError) as err:
        fn(*args, **kwargs)
    return err.value.reason


@pytest.fixture
def world(node_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> World:
    caplog.set_level(logging.INFO)
    node: Node = node_factory(config=IDENTITY_CONFIG)
    people = Identities(node)
    rep = people.organisation(ORG, "福州某某科技有限公司", citizen_id(1))
    for n in range(2, PEOPLE + 1):
        people.person(citizen_id(n))
    operator = people.operator().principal
    issuers.register(node, operator, uscc=REGULATOR, name="福州市市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE], platform_client_id="amr-platform")
    issuers.register(node, operator, uscc=SCHOOL, name="某教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="edu-platform")
    name = "福州某某科技有限公司"
    licence = issuance.issue(node, Principal(kind="platform", subject="amr-platform", platform="amr-platform"),
                             issuance.IssueRequest(type_code=catalogue.BUSINESS_LICENCE,
                                                   holder=Holder(kind="organisation", id=ORG, name=name),
                                                   fields=licence_fields(name=name,
                                                                         legal_representative_id=citizen_id(1))))
    diploma = issuance.issue(node, Principal(kind="platform", subject="edu-platform", platform="edu-platform"),
                             issuance.IssueRequest(type_code=catalogue.DIPLOMA,
                                                   holder=Holder(kind="person", id=citizen_id(2), name="张三"),
                                                   fields=diploma_fields()))
    certs = CertService(node, identity_holder_resolver(node))
    holder = people.person(citizen_id(2))
    granted = certs.grant_consent(holder.principal, platform="portal", identifiers=[diploma.identifier],
                                  purpose="job application", expires_at=datetime.now(UTC) + timedelta(days=1))
    certs.get(PLATFORM, diploma.identifier, "job application")  # recorded in the holder's access log
    return World(node, people, certs, holder, rep, diploma.identifier, licence.identifier, granted.consent_id)


def _stored(node: Node) -> dict[tuple[str, str], str]:
    """Every stored blind index: (column, row key) -> value (raw SQL)."""
    found = {}
    with node.db.engine.connect() as conn:
        for col in reindex.columns():
            t = col.target
            for key, value in conn.execute(text(f"SELECT {t.key}, {t.column} FROM {t.table}")):
                found[(t.name, str(key))] = str(value)
    return found


def _rows(stored: dict[tuple[str, str], str]) -> dict[str, int | set[str]]:
    """Rows per column: their keys, or their count where the key is the index itself (it changes)."""
    found: dict[str, int | set[str]] = {}
    for column, key in stored:
        if column.startswith(("identity_register_people.", "identity_home_nodes.")):
            found[column] = int(found.get(column, 0)) + 1  # type: ignore[arg-type]
        else:
            found.setdefault(column, set()).add(key)  # type: ignore[union-attr]
    return found


def _hmac(node: Node, label: str, value: str) -> str:
    """An index computed here, from the HSM's HMAC and the documented format (not pki.blind_index)."""
    mac = node.keys.hmac_sha256(label, value.encode(), required=True).hex()
    if label == pki.key_label(pki.BLIND_INDEX):
        return mac
    return "k" + hashlib.sha256(label.encode()).hexdigest()[:7] + mac[:56]


def _actions(node: Node) -> list[str]:
    with node.db.session(readonly=True) as s:
        return [r.action for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]


def _check_lookups(w: World) -> None:
    """Everything found by blind index: people by ID number (and the register), the holder's certificates,
    consents and access log, the platform's reads within consent, the representative's organisation."""
    idn = Identity.of(w.node)
    with w.node.db.session(readonly=True) as s:
        for n in range(1, PEOPLE + 1):
            person = persons.find_person(idn, s, citizen_id(n))
            assert person is not None and persons.citizen_id_of(idn, person) == citizen_id(n)
    holder = w.people.person(citizen_id(2))  # logs in (password) again
    assert [v.identifier for v in w.certs.list_certificates(holder.principal, "", 0, 10)[0]] == [w.diploma]
    assert [c.consent_id for c in w.certs.list_consents(holder.principal)] == [w.consent_id]
    assert w.certs.get(PLATFORM, w.diploma, "job application").identifier == w.diploma
    listed = w.certs.reader.list_for_platform(PLATFORM, Holder(kind="person", id=citizen_id(2)), "job application")
    assert [v.identifier for v in listed] == [w.diploma]
    log = w.certs.access_log(holder.principal, 0, 50)[0]
    assert log and {a.identifier for a in log} == {w.diploma}
    rep = w.people.acting_for(w.people.person(citizen_id(1)), ORG)  # a legal representative's roles
    assert orgs.LEGAL_REPRESENTATIVE in rep.principal.roles
    assert w.licence in {v.identifier for v in w.certs.list_certificates(rep.principal, "", 0, 10)[0]}
    with w.node.db.session(readonly=True) as s:
        assert orgs.roles_in_force(idn, s, ORG, w.people.person(citizen_id(1)).subject, idn.now())


def test_blind_index_rollover_finds_everything_reindexes_once_and_releases(world: World) -> None:
    node, people = world.node, world.people
    idn = Identity.of(node)
    first = pki.key_label(pki.BLIND_INDEX)
    before = _stored(node)
    columns = {c for c, _ in before}
    assert {"identity_persons.id_index", "certificates.holder_index", "cert_consents.holder_index",
            "cert_access_log.holder_index", "identity_orgs.representative_index",
            "identity_register_people.id_index", "identity_register_people.match_index"} <= columns, columns
    assert all(len(v) == 64 and not v.startswith("k") for v in before.values())
    subject_before = people.person(citizen_id(3)).principal.subject  # the pairwise subject a platform keeps

    dry = rollover.rotate(node, "node.blind-index", dry_run=True)
    assert dry.step == "prepare" and "HMAC-SHA256 secret" in dry.actions[0]
    assert node.pki.registry.snapshot().pending(pki.BLIND_INDEX) is None  # nothing done
    assert _reason(rollover.rotate, node, pki.BLIND_INDEX, "reindex") == "REINDEX_NOT_NEEDED"
    new = rollover.rotate(node, "node.blind-index").label
    assert node.keys.get_secret_key(new, required=True)
    # Pending: indexes still made with the first key, look-ups already match both (a worker may be ahead).
    assert node.pki.blind_index(citizen_id(1)) == _hmac(node, first, citizen_id(1))
    assert node.pki.blind_indexes(citizen_id(1)) == (_hmac(node, first, citizen_id(1)),
                                                    _hmac(node, new, citizen_id(1)))
    _check_lookups(world)
    activated = rollover.rotate(node, pki.BLIND_INDEX)
    assert activated.step == "activate" and activated.retired == first and activated.needed_until is None
    assert any("step reindex" in a for a in activated.actions)

    # Overlap: old rows found, new rows stored under the new key, no number registered twice.
    _check_lookups(world)
    people.person(citizen_id(PEOPLE + 1))
    portal = people._platform("portal", ())
    assert _reason(persons.register_person, idn, portal.info, id_number=citizen_id(3),
                   name=f"测试{citizen_id(3)[-4:]}", password="Another-passw0rd!") == "PERSON_ALREADY_REGISTERED"
    assert people.person(citizen_id(3)).principal.subject == subject_before  # platforms see the same subject
    during = _stored(node)
    made_new = {k for k, v in during.items() if v.startswith("k")}
    assert ("identity_persons.id_index", people._people[citizen_id(PEOPLE + 1)]) in made_new
    # the register row of the number presented again (matched at that registration) moved to the new key
    assert during[("identity_register_people.id_index", _hmac(node, new, citizen_id(3)))]
    # Destroying the old key is refused while indexes are under it, with the count.
    snap = node.pki.registry.snapshot()
    assert _reason(rollover.check_destroy, snap, first, db=node.db) == "NODE_KEY_STILL_NEEDED"  # the first key
    old_rows = sum(1 for v in during.values() if not v.startswith("k"))
    assert reindex.waiting_on(node.db, snap, first) == old_rows

    # Re-indexing stopped after one batch of one row (as a crash after a commit would), then resumed.
    assert rollover.plan(node, pki.BLIND_INDEX).step == "reindex"
    before_job = _stored(node)
    partial = reindex.reindex(node, batch=1, max_batches=1)
    assert partial.rows_done <= 1 and partial.retired == [first]
    _check_lookups(world)  # the platform's reads record accesses under the consent's (old) index: job work too
    old_keys = {k for k, v in before_job.items() if not pki.made_by(v, new)} | {
        k for k, v in _stored(node).items() if k not in before_job and not pki.made_by(v, new)}
    done = rollover.rotate(node, pki.BLIND_INDEX, batch=2)
    assert done.step == "reindex" and any("still wait" in a for a in done.actions)

    after = _stored(node)
    rows_after, rows_during = _rows(after), _rows(during)
    log = "cert_access_log.holder_index"  # the platform's reads meanwhile added records (new key)
    assert rows_during.pop(log) <= rows_after.pop(log)  # type: ignore[operator]
    assert rows_after == rows_during  # no row lost, none added
    waiting = {k for k, v in after.items() if not pki.made_by(v, new)}
    # What the node holds no original of waits: the register's number-and-name match indexes.
    assert waiting and {c for c, _ in waiting} == {"identity_register_people.match_index"}, waiting
    with node.db.session(readonly=True) as s:
        progress = {p.target: p.rows_done for p in s.scalars(select(rekey.RekeyProgress).where(
            rekey.RekeyProgress.key_label == new))}
    assert sum(progress.values()) == len(old_keys) - len(waiting)  # each index recomputed exactly once
    for n in range(1, PEOPLE + 2):  # recomputed independently: the HSM's HMAC over the number
        assert _hmac(node, new, citizen_id(n)) in after.values()
    assert after[("certificates.holder_index", world.licence)] == _hmac(node, new, ORG)
    assert after[("certificates.holder_index", world.diploma)] == _hmac(node, new, citizen_id(2))
    assert after[("cert_consents.holder_index", world.consent_id)] == _hmac(node, new, citizen_id(2))
    assert after[("identity_orgs.representative_index", ORG)] == _hmac(node, new, citizen_id(1))
    status = reindex.status(node)
    assert status is not None and status.waiting == len(waiting) and f"{len(waiting)} stored" in status.describe()
    _check_lookups(world)

    # The register's rows are re-indexed when presented (matched again) or re-imported; then the key is released.
    reg = registers.TableRegister(idn)
    assert reg.person_matches(citizen_id(1), f"测试{citizen_id(1)[-4:]}")
    with node.db.session() as s:  # the register re-imported
        for n in range(2, PEOPLE + 2):
            reg.add_person(s, citizen_id(n), f"测试{citizen_id(n)[-4:]}")
    assert all(pki.made_by(v, new) for v in _stored(node).values())
    assert reg.person_matches(citizen_id(4), "测试" + citizen_id(4)[-4:])
    assert not reg.person_matches(citizen_id(4), "别人")
    finished = rollover.rotate(node, pki.BLIND_INDEX)
    assert finished.step == "reindex" and any(f"{first} released" in a for a in finished.actions)
    assert reindex.status(node) is None
    assert node.pki.blind_index_labels() == [new]  # one HMAC per look-up again
    _check_lookups(world)
    assert people.person(citizen_id(3)).principal.subject == subject_before
    assert _reason(rollover.rotate, node, pki.BLIND_INDEX, "reindex") == "REINDEX_NOT_NEEDED"
    snap = node.pki.registry.snapshot()
    assert _reason(rollover.check_destroy, snap, first, db=node.db) == "NODE_KEY_STILL_NEEDED"  # pseudonyms
    actions = [a for a in _actions(node) if a.startswith(("pki.rollover", "pki.reindex"))]
    assert actions[:3] == ["pki.rollover.prepare", "pki.rollover.activate", "pki.reindex.start"]
    assert actions.count("pki.reindex.progress") == len(reindex.columns())
    assert actions.count("pki.reindex.finish") == 2 and actions[-1] == "pki.reindex.finish"

    # A second rollover: the key of the first is refused while indexes are under it, with their count, then goes.
    second = rollover.rotate(node, pki.BLIND_INDEX).label
    rollover.rotate(node, pki.BLIND_INDEX)
    people.person(citizen_id(PEOPLE + 2))
    snap = node.pki.registry.snapshot()
    under = reindex.waiting_on(node.db, snap, new)
    assert under > 0
    with pytest.raises(HutongError) as err:
        rollover.check_destroy(snap, new, db=node.db)
    assert err.value.reason == "BLIND_INDEX_STILL_IN_USE" and f"{under} stored blind indexes" in err.value.message
    _check_lookups(world)
    waits = rollover.rotate(node, pki.BLIND_INDEX)  # the register's match indexes wait again
    assert any("still wait" in a for a in waits.actions) and reindex.status(node) is not None
    with node.db.session() as s:  # the register re-imported
        for n in range(1, PEOPLE + 3):
            reg.add_person(s, citizen_id(n), f"测试{citizen_id(n)[-4:]}")
    last = rollover.rotate(node, pki.BLIND_INDEX)
    assert any(f"{new} released" in a for a in last.actions), last.actions
    snap = node.pki.registry.snapshot()
    rollover.check_destroy(snap, new, db=node.db)  # nothing under it any more: it may go
    assert all(pki.made_by(v, second) for v in _stored(node).values())
    _check_lookups(world)
    assert backup.verify(node.config.data_dir).ok
    # node verify names an index still under a released key (as if a column had been missed).
    with node.db.engine.begin() as conn:
        conn.execute(text("UPDATE cert_consents SET holder_index = :v WHERE consent_id = :k"),
                     {"v": _hmac(node, new, citizen_id(2)), "k": world.consent_id})
    report = backup.verify(node.config.data_dir)
    assert not report.ok and any(f"1 stored blind indexes were made by {new}, which the registry no longer keeps"
                                 in p for p in report.problems), report.problems


def test_blind_index_cli_steps_and_refusals(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    node = world.node
    data = str(node.config.data_dir)
    rotate = ["hsm", "rotate", "--data-dir", data, "--label", "node.blind-index"]
    assert main([*rotate, "--step", "reindex"]) == 2
    assert "REINDEX_NOT_NEEDED" in capsys.readouterr().err
    assert main(["hsm", "rotate", "--data-dir", data, "--label", "node.data-key", "--step", "reindex"]) == 2
    assert "REINDEX_NOT_NEEDED" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse: not a step
        main([*rotate, "--step", "rehash"])
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert main([*rotate, "--dry-run"]) == 0 and "would prepare" in capsys.readouterr().out
    assert main(rotate) == 0 and "done: prepare" in capsys.readouterr().out
    assert main(rotate) == 0
    out = capsys.readouterr().out
    assert "done: activate" in out and "step reindex" in out
    assert main([*rotate, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would reindex" in out and "still under an older key" in out
    assert main(["node", "keys", "--data-dir", data]) == 0
    assert "blind-index re-indexing pending" in capsys.readouterr().out
    first = pki.key_label(pki.BLIND_INDEX)
    assert main(["hsm", "destroy", "--data-dir", data, "--key", first, "--yes"]) == 2
    assert "NODE_KEY_STILL_NEEDED" in capsys.readouterr().err
    for pace in (["--batch-size", "0"], ["--batch-size", "20000"], ["--pause", "-1"]):
        assert main([*rotate, *pace]) == 2
        assert "REKEY_PACE_INVALID" in capsys.readouterr().err
    assert reindex.status(node) is not None and reindex.status(node).rows_done == 0  # type: ignore[union-attr]
    assert main([*rotate, "--batch-size", "3", "--pause", "0"]) == 0
    assert "done: reindex" in capsys.readouterr().out
    _check_lookups(world)


def test_the_node_reindexes_by_itself_one_runner_at_a_time(world: World) -> None:
    """The server's background look (``rekey_task.run_once``) walks every index column after the activation, as
    the node (audited), not while another runner holds the lock, and not again once walked; the officer's step
    still releases the old key once what waited was presented (here: nothing outside the register waits)."""
    node = world.node
    task = rekey_task.RekeySettings(batch=2, pause=0)
    assert not rekey_task.run_once(node, task) and not reindex.walk_pending(node)  # nothing to do
    rollover.rotate(node, pki.BLIND_INDEX)  # prepare: nothing to re-index yet
    assert not reindex.walk_pending(node) and not rekey_task.run_once(node, task)
    rollover.rotate(node, pki.BLIND_INDEX)  # activate
    assert reindex.walk_pending(node)
    with rekey.one_runner(node):  # another process (an officer, another worker) runs a job: the look waits
        assert not rekey_task.run_once(node, task)
        assert _reason(reindex.reindex, node) == rekey.REKEY_RUNNING
    assert reindex.status(node) is not None and reindex.status(node).rows_done == 0  # type: ignore[union-attr]
    assert rekey_task.run_once(node, task)
    assert not reindex.walk_pending(node)
    st = reindex.status(node)
    assert st is not None and st.waiting > 0  # the register's match indexes: no original here
    new = st.key_label
    still = {c for (c, _), v in _stored(node).items() if not pki.made_by(v, new)}
    assert still and all(c.startswith("identity_register_people.") for c in still), still
    _check_lookups(world)
    actions = _actions(node)
    assert not rekey_task.run_once(node, task) and _actions(node) == actions  # walked: the looks do nothing more
    with node.db.session(readonly=True) as s:
        actors = {r.actor for r in s.scalars(select(AuditRecord).where(AuditRecord.action.like("pki.reindex.%")))}
    assert actors == {"node"} and actions.count("pki.reindex.start") == 1


def test_every_index_column_is_declared_for_reindexing() -> None:
    """``*_index`` string columns of the services (the naming rule for blind indexes) are all found by the
    re-indexing, but the short-lived ones (login challenges live minutes; failed-login counters reset)."""
    from hutong.db import Base, load_models

    load_models()
    declared = {c.target.name for c in reindex.columns()}
    short_lived = {"identity_login_challenges.id_index"}
    named = {f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns
             if c.name.endswith("_index") and c.type.python_type is str}
    assert named - short_lived <= declared, named - short_lived - declared
