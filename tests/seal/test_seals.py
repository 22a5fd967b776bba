"""Seals and grants in the domain layer: HSM key, certificate subject, lifecycle, grants, CRL, audit."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from PIL import Image
from sqlalchemy import func, select

from hutong import pki
from hutong.audit import AuditRecord
from hutong.auth import OPERATOR_SCOPE, Principal, service_principal
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from seal_svc.crl import current_crl
from seal_svc.seals import SealStatus, SealType
from tests.seal.conftest import ORG_A, USCC_A, USCC_B, SealEnv, admin_of, staff


def _audit_actions(env: SealEnv) -> list[str]:
    with env.node.db.session() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def test_create_seal_key_in_hsm_certificate_from_seal_ca(env: SealEnv) -> None:
    info = env.service.create_seal(admin_of(USCC_A), org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.CONTRACT)
    subject = info.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG_A
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRCN-" + USCC_A
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == info.seal_id
    seal_ca = env.node.pki.certificate(pki.SEAL_CA)  # type: ignore[attr-defined]
    assert info.certificate.issuer == seal_ca.subject
    info.certificate.verify_directly_issued_by(seal_ca)
    key = env.node.keys.get_key("seal." + info.seal_id)  # type: ignore[attr-defined]
    assert key.public_key.public_numbers() == info.certificate.public_key().public_numbers()
    assert info.status is SealStatus.ACTIVE and info.name == ORG_A + "合同专用章"
    img = Image.open(io.BytesIO(info.image_png))
    assert img.format == "PNG" and img.mode == "RGBA"
    red = img.getpixel((img.width // 2, img.height // 2))  # the star's centre
    assert red[0] > 180 and red[1] < 80 and red[3] == 255
    assert "seal.create" in _audit_actions(env)


def test_uploaded_png_is_used_and_junk_refused(env: SealEnv) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 0, 0, 255)).save(buf, format="PNG")
    info = env.service.create_seal(admin_of(USCC_A), org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.FINANCE,
                                   image_png=buf.getvalue())
    assert Image.open(io.BytesIO(info.image_png)).size == (64, 64)
    with pytest.raises(InvalidArgument) as e:
        env.service.create_seal(admin_of(USCC_A), org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.FINANCE,
                                image_png=b"GIF89a not a png")
    assert e.value.reason == "SEAL_IMAGE_INVALID"


def test_only_admins_of_the_organisation_create_and_manage(env: SealEnv) -> None:
    for who in (staff(), admin_of(USCC_B)):
        with pytest.raises(PermissionDenied) as e:
            env.service.create_seal(who, org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.OFFICIAL)
        assert e.value.reason == "NOT_ORG_ADMIN"
    keys_before = len(env.node.keys.list_keys())  # type: ignore[attr-defined]
    with pytest.raises(InvalidArgument) as e:
        env.service.create_seal(admin_of(USCC_A), org_uscc="91110000600037341N", org_name=ORG_A,
                                seal_type=SealType.OFFICIAL)
    assert len(env.node.keys.list_keys()) == keys_before  # type: ignore[attr-defined]
    for not_operator in (Principal(kind="platform", subject="ops", scopes=("openid",)),
                         Principal(kind="person", subject="p", scopes=(OPERATOR_SCOPE,)),
                         service_principal("ops", on_behalf_of="ops")):
        with pytest.raises(PermissionDenied):
            env.service.create_seal(not_operator, org_uscc=USCC_B, org_name="乙公司", seal_type=SealType.OFFICIAL)
    operator = Principal(kind="platform", subject="ops", platform="ops", scopes=("openid", OPERATOR_SCOPE))
    info = env.service.create_seal(operator, org_uscc=USCC_B, org_name="乙公司", seal_type=SealType.OFFICIAL)
    with pytest.raises(PermissionDenied):
        env.service.suspend_seal(admin_of(USCC_A), info.seal_id)
    with pytest.raises(NotFound):  # other organisations' seals are not disclosed
        env.service.get_seal(admin_of(USCC_A), info.seal_id)


def test_lifecycle_and_listing(env: SealEnv) -> None:
    admin = admin_of(USCC_A)
    a = env.seal_for()
    b = env.seal_for(seal_type=SealType.FINANCE)
    seals, token = env.service.list_seals(admin, page_size=1)
    assert len(seals) == 1 and token
    rest, token2 = env.service.list_seals(admin, page_token=token)
    assert {s.seal_id for s in seals + rest} == {a.seal_id, b.seal_id} and token2 == ""
    assert env.service.suspend_seal(admin, a.seal_id, "lost").status is SealStatus.SUSPENDED
    with pytest.raises(FailedPrecondition) as e:
        env.service.authorise_use(staff(), a.seal_id)
    assert e.value.reason == "SEAL_SUSPENDED"
    assert env.service.reactivate_seal(admin, a.seal_id).status is SealStatus.ACTIVE
    env.service.authorise_use(staff(), a.seal_id)
    assert env.service.revoke_seal(admin, a.seal_id, "key compromise").status is SealStatus.REVOKED
    with pytest.raises(FailedPrecondition) as e:
        env.service.reactivate_seal(admin, a.seal_id)
    assert e.value.reason == "SEAL_REVOKED"
    actions = _audit_actions(env)
    assert {"seal.suspend", "seal.reactivate", "seal.revoke", "seal.grant"} <= set(actions)


def test_crl_lists_revoked_seals_and_is_reissued_only_when_needed(env: SealEnv) -> None:
    a, b = env.seal_for(), env.seal_for()
    first = current_crl(env.node)  # type: ignore[arg-type]
    assert current_crl(env.node).number == first.number  # type: ignore[arg-type]  # cached, no HSM call
    env.service.revoke_seal(admin_of(USCC_A), a.seal_id)
    crl = current_crl(env.node)  # type: ignore[arg-type]
    assert crl.number == first.number + 1
    parsed = x509.load_der_x509_crl(crl.der)
    assert parsed.is_signature_valid(env.node.pki.certificate(pki.SEAL_CA).public_key())  # type: ignore[attr-defined,arg-type]
    assert parsed.get_revoked_certificate_by_serial_number(a.certificate.serial_number) is not None
    assert parsed.get_revoked_certificate_by_serial_number(b.certificate.serial_number) is None


def test_grant_window_and_limit(env: SealEnv) -> None:
    now = datetime.now(UTC)
    late = env.seal_for(user=staff("late"), not_before=now + timedelta(hours=1))
    over = env.seal_for(user=staff("over"), not_after=now - timedelta(seconds=1))
    with pytest.raises(PermissionDenied) as e:
        env.service.authorise_use(staff("late"), late.seal_id)
    assert e.value.reason == "GRANT_EXPIRED"
    with pytest.raises(PermissionDenied) as e:
        env.service.authorise_use(staff("over"), over.seal_id)
    assert e.value.reason == "GRANT_EXPIRED"
    with pytest.raises(PermissionDenied) as e:
        env.service.authorise_use(staff("nobody"), late.seal_id)
    assert e.value.reason == "NOT_GRANTED"
    # A platform grant is not a grant to a person with the same name, and vice versa.
    with pytest.raises(PermissionDenied):
        env.service.authorise_use(Principal(kind="platform", subject="late"), late.seal_id)


def test_usage_limit_is_charged_atomically(env: SealEnv) -> None:
    info = env.seal_for(max_uses=3)
    user = staff()
    results: list[str] = []

    def use() -> None:
        try:
            with env.node.db.session() as s:  # type: ignore[attr-defined]
                env.service.record_use(s, user, info.seal_id, {"document_sha256": "00"})
            results.append("ok")
        except ResourceExhausted as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 3 and results.count("GRANT_EXHAUSTED") == 5
    grants = env.service.list_grants(admin_of(USCC_A), info.seal_id)
    assert grants[0].uses == 3
    with env.node.db.session() as s:  # type: ignore[attr-defined]
        uses = s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "seal.use"))
    assert uses == 3


def test_revoked_grant_no_longer_works(env: SealEnv) -> None:
    info = env.seal_for()
    env.service.authorise_use(staff(), info.seal_id)
    grant = env.service.list_grants(admin_of(USCC_A), info.seal_id)[0]
    assert env.service.revoke_grant(admin_of(USCC_A), grant.grant_id).revoked
    with pytest.raises(PermissionDenied) as e:
        env.service.authorise_use(staff(), info.seal_id)
    assert e.value.reason == "NOT_GRANTED"


def test_use_needs_the_organisation_context_and_services_use_their_platform_grant(env: SealEnv) -> None:
    info = env.seal_for()
    for outside in (staff(uscc=USCC_B), Principal(kind="person", subject="staff-1")):  # the grantee, not for A
        with pytest.raises(PermissionDenied) as e:
            env.service.authorise_use(outside, info.seal_id)
        assert e.value.reason == "ORG_CONTEXT_REQUIRED"
    dept = env.seal_for(user=Principal(kind="platform", subject="dept"))
    env.service.authorise_use(service_principal("cert_svc", on_behalf_of="dept"), dept.seal_id)
    for other in (service_principal("cert_svc"), service_principal("dept"),
                  Principal(kind="platform", subject="cert_svc")):
        with pytest.raises(PermissionDenied) as e:
            env.service.authorise_use(other, dept.seal_id)
        assert e.value.reason == "NOT_GRANTED"
