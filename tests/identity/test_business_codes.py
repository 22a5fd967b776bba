"""Individual-business codes (USCC prefix 92) are personal data: after registering such a business, acting
for it, sealing with its seal and issuing it a licence, the database (read with the sqlite3 tool and as raw
bytes) and the logs never carry the code; lookups by it still work; other codes stay in clear; codes stored
in clear before the rule are re-protected at start, once."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from bench.pdfgen import make_pdf
from cert_svc import catalogue, issuance, issuers
from cert_svc.records import Holder
from hutong import business_codes
from hutong.auth import Principal
from hutong.identifiers import uscc_check_character
from hutong.node import Node, open_node
from identity_svc import orgs
from seal_svc.sealing import Placement, SealOptions, seal_pdf
from seal_svc.seals import SealService, SealType
from tests.cert.conftest import licence_fields
from tests.identity_fixtures import IDENTITY_CONFIG, Identities, citizen_id

INDIVIDUAL = "92350100MA2Y3K4P5" + uscc_check_character("92350100MA2Y3K4P5")
COMPANY = "91350100M000100Y43"  # a company's code: public, stays in clear
REGULATOR = "11430000006122244L"


def _clear_anywhere(node: Node, code: str) -> list[str]:
    """Where ``code`` shows in the node's SQLite database: the sqlite3 tool's dump, and the raw files."""
    db = Path(str(node.db.engine.url.database))
    found = []
    if shutil.which("sqlite3"):
        dump = subprocess.run(["sqlite3", str(db), ".dump"], capture_output=True, text=True, check=True).stdout
        found += [line[:80] for line in dump.splitlines() if code in line]
    for f in db.parent.glob(db.name + "*"):  # the database, its -wal and -shm files
        if code.encode() in f.read_bytes():
            found.append(f.name)
    return found


@pytest.fixture
def world(node_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> tuple[Node, Identities]:
    caplog.set_level(logging.DEBUG)
    node: Node = node_factory(backend="sqlite", config=IDENTITY_CONFIG)
    return node, Identities(node)


def test_individual_business_code_never_stored_or_logged_in_clear(world: tuple[Node, Identities],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    node, people = world
    owner = people.organisation(INDIVIDUAL, "福州市鼓楼区张三小吃店", citizen_id(1))
    company = people.organisation(COMPANY, "福建省某某科技有限公司", citizen_id(2))
    assert owner.principal.org_uscc == INDIVIDUAL  # the token carries the code: the person's own business
    staff = people.member(owner, citizen_id(3))
    # lookups by the code still work: roles, grants, the person's organisations
    assert orgs.LEGAL_REPRESENTATIVE in owner.principal.roles and "staff" in staff.principal.roles
    grants, _ = orgs.list_grants(people.idn, owner.subject, uscc=INDIVIDUAL, offset=0, limit=10)
    assert [g.uscc for g in grants] == [INDIVIDUAL]
    assert [o.uscc for o in orgs.my_organisations(people.idn, owner.subject)] == [INDIVIDUAL]
    # a seal of the business, granted to the staff member, used on a PDF
    seals = SealService(node)
    seal = seals.create_seal(owner.principal, org_uscc=INDIVIDUAL, org_name="福州市鼓楼区张三小吃店",
                             seal_type=SealType.OFFICIAL)
    seals.grant(owner.principal, seal.seal_id, grantee_kind="person", grantee=staff.subject)
    sealed = seal_pdf(node, seal_id=seal.seal_id, pdf=make_pdf(), principal=staff.principal, service=seals,
                      options=SealOptions(placement=Placement(page=1, x=400, y=60, width=120, height=120)))
    assert sealed.startswith(b"%PDF")
    assert [s.seal_id for s in seals.list_seals(owner.principal, org_uscc=INDIVIDUAL)[0]] == [seal.seal_id]
    # a business licence issued to it
    operator = people.operator().principal
    issuers.register(node, operator, uscc=REGULATOR, name="福州市市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE], platform_client_id="amr-platform")
    issued = issuance.issue(node, Principal(kind="platform", subject="amr-platform", platform="amr-platform"),
                            issuance.IssueRequest(type_code=catalogue.BUSINESS_LICENCE,
                                                  holder=Holder(kind="organisation", id=INDIVIDUAL,
                                                                name="福州市鼓楼区张三小吃店"),
                                                  fields=licence_fields(name="福州市鼓楼区张三小吃店")))
    assert issued.identifier
    node.db.engine.dispose()  # checkpoint nothing away: the -wal file is read as it is, too
    assert _clear_anywhere(node, INDIVIDUAL) == []
    assert _clear_anywhere(node, COMPANY), "other codes stay in clear (they are public)"
    tokens = Path(os.environ["SOFTHSM2_CONF"]).parent / "tokens"  # the seal's certificate beside its key
    assert not [f.name for f in tokens.rglob("*") if f.is_file() and INDIVIDUAL.encode() in f.read_bytes()]
    assert company.principal.org_uscc == COMPANY
    assert INDIVIDUAL not in caplog.text
    # what is stored: the protected form, the same for every row of the business (equality lookups)
    with node.db.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT org_uscc FROM seals UNION SELECT org_uscc FROM identity_org_grants "
                                       "UNION SELECT uscc FROM identity_orgs WHERE uscc <> :c"),
                                  {"c": COMPANY}).scalars())
    assert len(stored) == 1 and next(iter(stored)).startswith(business_codes.MARK)
    # the seal's certificate names the business (organizationIdentifier): stored encrypted, read back whole
    with node.db.engine.connect() as conn:
        pem = conn.execute(text("SELECT cert_pem FROM seals WHERE id = :i"), {"i": seal.seal_id}).scalar_one()
    assert pem.startswith(business_codes.MARK) and "CERTIFICATE" not in pem
    shown = seals.list_seals(owner.principal, org_uscc=INDIVIDUAL)[0][0].certificate
    assert INDIVIDUAL in shown.subject.rfc4514_string()


def test_codes_stored_in_clear_before_are_reprotected_once(world: tuple[Node, Identities]) -> None:
    node, people = world
    rep = people.organisation(INDIVIDUAL, "福州市鼓楼区张三小吃店", citizen_id(1))
    people.member(rep, citizen_id(3))
    seal = SealService(node).create_seal(rep.principal, org_uscc=INDIVIDUAL, org_name="福州市鼓楼区张三小吃店",
                                         seal_type=SealType.OFFICIAL)
    clear_pem = seal.certificate.public_bytes(serialization.Encoding.PEM).decode()
    protected = business_codes.protect(node.pki, INDIVIDUAL)
    data_dir = Path(node.config.data_dir)
    node.close()
    raw = sqlite3.connect(data_dir / "hutong.db")  # as an older version left them: the code in clear everywhere
    with raw:
        for table, col in (("identity_orgs", "uscc"), ("identity_org_grants", "org_uscc"),
                           ("identity_register_orgs", "uscc"), ("identity_sessions", "org_uscc")):
            raw.execute(f"UPDATE {table} SET {col} = ? WHERE {col} = ?", (INDIVIDUAL, protected))
        raw.execute("UPDATE seals SET org_uscc = ?, cert_pem = ?", (INDIVIDUAL, clear_pem))
    assert raw.execute("SELECT count(*) FROM identity_org_grants WHERE org_uscc = ?", (INDIVIDUAL,)).fetchone()[0]
    raw.close()
    again = open_node(data_dir, migrate=True)  # what `hutong serve` does at start
    try:
        assert _clear_anywhere(again, INDIVIDUAL) == []
        assert business_codes.reprotect(again.db.engine, again.pki) == 0  # idempotent: nothing left to do
        with again.db.engine.connect() as conn:
            assert conn.execute(text("SELECT cert_pem FROM seals")).scalar_one().startswith(business_codes.MARK)
        listed = SealService(again).list_seals(rep.principal, org_uscc=INDIVIDUAL)[0]
        assert [s.certificate for s in listed] == [seal.certificate]
        idn = Identities(again).idn
        grants, _ = orgs.list_grants(idn, rep.subject, uscc=INDIVIDUAL, offset=0, limit=10)
        assert [g.uscc for g in grants] == [INDIVIDUAL]
        with again.db.session() as s:
            assert orgs.roles_in_force(idn, s, INDIVIDUAL, rep.subject, idn.now())
    finally:
        again.close()


def test_audit_records_mask_the_code(world: tuple[Node, Identities]) -> None:
    node, people = world
    people.organisation(INDIVIDUAL, "福州市鼓楼区张三小吃店", citizen_id(1))
    with node.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT actor || ' ' || target || ' ' || details FROM audit_events")).scalars().all()
    assert not any(INDIVIDUAL in r for r in rows)
    assert any(business_codes.mask_codes(INDIVIDUAL) in r for r in rows)
    assert business_codes.mask_codes(f"org:{COMPANY}") == f"org:{COMPANY}"


def test_reprotect_on_postgresql_moves_referred_keys(node_factory: Callable[..., Any]) -> None:
    """The same on PostgreSQL, where the organisation's key is referred to by its grants (foreign key)."""
    node: Node = node_factory(backend="postgresql", config=IDENTITY_CONFIG)
    people = Identities(node)
    rep = people.organisation(INDIVIDUAL, "福州市鼓楼区张三小吃店", citizen_id(1))
    people.member(rep, citizen_id(3))
    protected = business_codes.protect(node.pki, INDIVIDUAL)
    with node.db.engine.begin() as conn:  # as an older version left them (foreign keys off for the rewrite)
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table, col in (("identity_orgs", "uscc"), ("identity_org_grants", "org_uscc"),
                           ("identity_register_orgs", "uscc"), ("identity_sessions", "org_uscc")):
            conn.execute(text(f"UPDATE {table} SET {col} = :c WHERE {col} = :p"), {"c": INDIVIDUAL, "p": protected})
    count = "SELECT count(*) FROM identity_orgs o JOIN identity_org_grants g ON g.org_uscc = o.uscc WHERE o.uscc = :c"
    with node.db.engine.connect() as conn:
        assert conn.execute(text(count), {"c": INDIVIDUAL}).scalar() == 1
    node.check()  # what `hutong serve` does at start, once before its workers
    with node.db.engine.connect() as conn:
        assert conn.execute(text(count), {"c": INDIVIDUAL}).scalar() == 0
        assert conn.execute(text(count), {"c": protected}).scalar() == 1
    assert business_codes.reprotect(node.db.engine, node.pki) == 0
    grants, _ = orgs.list_grants(people.idn, rep.subject, uscc=INDIVIDUAL, offset=0, limit=10)
    assert [g.uscc for g in grants] == [INDIVIDUAL]


def test_remembered_answers_naming_an_individual_business_are_stored_protected(
        world: tuple[Node, Identities]) -> None:
    """A retried call's remembered answer (idempotency result) that names a 92-code is personal data too."""
    from hutong import idempotency

    node, _ = world
    answer = b"\x0a\x12" + INDIVIDUAL.encode() + b"\x10\x01" + COMPANY.encode()
    digest = idempotency.request_digest("issue", INDIVIDUAL)
    held = idempotency.claim(node.db, actor="platform:p1", operation="IssueBatch", key="k-92", request_sha256=digest)
    with node.db.session() as s:
        idempotency.save(s, held, answer, done=True)
    again = idempotency.claim(node.db, actor="platform:p1", operation="IssueBatch", key="k-92",
                              request_sha256=digest)
    assert again.done and again.result == answer
    assert _clear_anywhere(node, INDIVIDUAL) == []
    plain = idempotency.claim(node.db, actor="platform:p1", operation="IssueBatch", key="k-91",
                              request_sha256=digest)
    with node.db.session() as s:
        idempotency.save(s, plain, COMPANY.encode(), done=True)
    assert _clear_anywhere(node, COMPANY)  # answers without a 92-code stay as they were: no HSM call for them
