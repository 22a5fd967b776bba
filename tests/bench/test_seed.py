"""The bench's repository seeding (``bench.seed``, used by the lookup figure at 10^4..10^6 certificates) stores
real certificates: every seeded row is the issued certificate's forms protected with the node's data key, opens
with the node's own ``records.view`` (``NodePki.unprotect``) to exactly that certificate, and its other columns
read back through the ORM as an issued row's do -- on SQLite (``executemany``) and PostgreSQL (``COPY``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
from sqlalchemy import select

from bench.seed import SEED_LIST, Repository, identifier
from cert_svc import catalogue, issuance, issuers, records
from cert_svc.models import CertificateRow
from cert_svc.records import Holder
from tests.cert.conftest import COMPANY_USCC, ISSUER_USCC, licence_fields
from tests.identity_fixtures import IDENTITY_CONFIG, Identities


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_seeded_rows_are_the_issued_certificate_protected_per_row(
        node_factory: Callable[..., object], backend: str) -> None:
    node = node_factory(backend=backend, config=IDENTITY_CONFIG)
    people = Identities(node)
    issuers.register(node, people.operator().principal, uscc=ISSUER_USCC, name="湖南省市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE], platform_client_id="amr-platform")
    cert = issuance.issue(node, people.platform("amr-platform").principal, issuance.IssueRequest(
        catalogue.BUSINESS_LICENCE, Holder("", COMPANY_USCC, "甲公司"), licence_fields()))
    repo = Repository(node.config.data_dir, catalogue.BUSINESS_LICENCE, ISSUER_USCC, cert.jws, cert.qr)
    repo.grow_to(250, chunk=100)
    repo.grow_to(330, chunk=100)  # grows on from where it stopped
    repo.grow_to(300)  # already larger: nothing to do
    with node.db.session() as s:
        rows = s.scalars(select(CertificateRow).where(CertificateRow.status_list_id == SEED_LIST)
                         .order_by(CertificateRow.status_index)).all()
        issued = records.find(s, cert.identifier)
    assert [r.status_index for r in rows] == list(range(330))
    blobs = {r.protected_forms for r in rows}
    assert len(blobs) == 330  # a fresh IV per row: no two rows share a ciphertext
    holder_index = node.pki.blind_index(ISSUER_USCC)
    for n, row in enumerate(rows):
        assert row.identifier == identifier(catalogue.BUSINESS_LICENCE, ISSUER_USCC, n)
        assert row.series == row.identifier.rsplit(".", 2)[0] and row.version == 1
        assert (row.type_code, row.issuer_uscc, row.holder_kind, row.holder_index, row.status) == (
            issued.type_code, issued.issuer_uscc, "organisation", holder_index, "valid")
        assert row.valid_from == date.today() and row.valid_until is None
        assert isinstance(row.issued_at, datetime) and isinstance(row.status_changed_at, datetime)
    for row in rows[::41] + [rows[-1]]:
        view = records.view(node, row)  # decrypted by the node with the identifier as associated data
        assert (view.identifier, view.jws, view.qr) == (row.identifier, cert.jws, cert.qr)
        assert view.fields == cert.fields
