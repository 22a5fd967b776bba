"""Lifecycle and status lists seen by a caching verifier; consent enforcement and the access log."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text, update

from cert_svc import catalogue
from cert_svc.models import ConsentRow
from hutong.cert.v1 import cert_pb2 as pb
from hutong.errors import FailedPrecondition
from hutong.identifiers import build_certificate_id
from hutong_client.cert import CertClient

from .conftest import ISSUER_USCC, PERSON_ID, TTL, Env, diploma_fields
from .test_issue import issue, reason_of


def diploma(env: Env) -> pb.Certificate:
    return issue(env, env.other_issuer, type_code=catalogue.DIPLOMA, holder_id=PERSON_ID, fields=diploma_fields())


def test_suspension_seen_after_refresh_and_stale_list_refused(env: Env) -> None:
    issuer = CertClient(env.channel, metadata=env.issuer)
    cert = issue(env)
    verifier = issuer.offline_verifier()
    assert verifier.verify(cert.jws).verdict == "valid"
    issuer.suspend(cert.identifier, "inspection")
    time.sleep(TTL + 0.2)  # no later than one TTL after the suspension the verifier sees it
    result = verifier.verify(cert.jws)
    assert (result.verdict, result.status) == ("invalid", "suspended")
    offline = issuer.offline_verifier(refresh=False)
    offline.status.put(issuer.status_list(result.claims["status"]["status_list"]["uri"]))
    assert offline.verify(cert.jws).status == "suspended"
    time.sleep(TTL + 0.2)
    with pytest.raises(FailedPrecondition) as info:
        offline.verify(cert.jws)
    assert info.value.reason == "STATUS_LIST_STALE"


def test_transitions_and_versions(env: Env) -> None:
    issuer = CertClient(env.channel, metadata=env.issuer)
    cert = issue(env)
    issuer.revoke(cert.identifier, "fraud")
    code, reason = reason_of(lambda: issuer.change_status(cert.identifier, pb.CERT_STATUS_VALID))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_TRANSITION")
    other = issue(env)
    newer = issuer.update(other.identifier, dict(other.fields, address="新地址"), "moved")
    assert newer.version == 2 and newer.supersedes == other.identifier
    assert issuer.get(other.identifier).status == pb.CERT_STATUS_INVALID
    code, reason = reason_of(lambda: CertClient(env.channel, metadata=env.other_issuer).suspend(newer.identifier))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ISSUER_NOT_AUTHORISED")


def test_consent_enforced_and_logged(env: Env) -> None:
    cert = diploma(env)
    alice, platform = CertClient(env.channel, metadata=env.alice), CertClient(env.channel, metadata=env.portal)
    assert cert.identifier in {c.identifier for c in alice.list()}
    assert reason_of(lambda: platform.get(cert.identifier, "job application"))[1] == "NO_CONSENT"
    code, reason = reason_of(lambda: CertClient(env.channel, metadata=env.bob).get(cert.identifier))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_CERT_HOLDER")
    granted = alice.grant_consent("portal", [cert.identifier], "job application", datetime.now(UTC) + timedelta(days=1))
    assert reason_of(lambda: platform.get(cert.identifier, ""))[1] == "PURPOSE_REQUIRED"
    assert platform.get(cert.identifier, "job application").identifier == cert.identifier
    listed = platform.list(holder_id=PERSON_ID, holder_kind=pb.HOLDER_KIND_PERSON, purpose="job application")
    assert [c.identifier for c in listed] == [cert.identifier]
    log = alice.access_log()
    assert [(r.platform, r.purpose, r.action) for r in log][:2] == [("portal", "job application", "list"),
                                                                    ("portal", "job application", "read")]
    alice.withdraw_consent(granted.consent_id)
    code, reason = reason_of(lambda: platform.get(cert.identifier, "job application"))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "CONSENT_WITHDRAWN")
    assert [(r.action, r.reason) for r in alice.access_log()][0] == ("refused", "CONSENT_WITHDRAWN")
    again = alice.grant_consent("portal", [cert.identifier], "loan", datetime.now(UTC) + timedelta(days=1))
    with env.node.db.session() as s:
        s.execute(update(ConsentRow).where(ConsentRow.consent_id == again.consent_id)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert reason_of(lambda: platform.get(cert.identifier, "loan"))[1] == "CONSENT_EXPIRED"
    assert reason_of(lambda: CertClient(env.channel, metadata=env.bob).grant_consent(
        "portal", [cert.identifier], "x", datetime.now(UTC) + timedelta(days=1)))[1] == "NOT_CERT_HOLDER"


def test_consent_is_for_its_stated_purpose_only_and_refusals_reach_the_holders_log(env: Env) -> None:
    cert = diploma(env)
    alice, platform = CertClient(env.channel, metadata=env.alice), CertClient(env.channel, metadata=env.portal)
    alice.grant_consent("portal", [cert.identifier], "入学资格审核", datetime.now(UTC) + timedelta(days=1))
    code, reason = reason_of(lambda: platform.get(cert.identifier, "营销推广"))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_NOT_CONSENTED")
    assert reason_of(lambda: platform.list(holder_id=PERSON_ID, holder_kind=pb.HOLDER_KIND_PERSON,
                                           purpose="营销推广"))[1] == "PURPOSE_NOT_CONSENTED"
    log = [(r.platform, r.identifier, r.purpose, r.action, r.reason) for r in alice.access_log()]
    assert log[:2] == [("portal", "", "营销推广", "refused", "PURPOSE_NOT_CONSENTED"),
                       ("portal", cert.identifier, "营销推广", "refused", "PURPOSE_NOT_CONSENTED")]
    with env.node.db.session() as s:  # stored with the row, not rebuilt when listed
        stored = s.execute(text("SELECT reason FROM cert_access_log WHERE identifier = :i AND action = 'refused'"),
                           {"i": cert.identifier}).scalars().all()
    assert stored == ["PURPOSE_NOT_CONSENTED"]
    assert platform.get(cert.identifier, "入学资格审核").identifier == cert.identifier  # the stated purpose works
    assert alice.access_log()[0].action == "read"


def test_who_reads_without_consent(env: Env) -> None:
    """The issuing department (its platform, or a member acting for it) and the holder read a certificate directly
    and unrecorded; another department's platform reads only within a consent; a stranger not at all."""
    cert = issue(env)  # a business licence of ISSUER_USCC
    for metadata in (env.issuer, env.issuer_person):
        read = CertClient(env.channel, metadata=metadata).get(cert.identifier)
        assert (read.identifier, read.jws) == (cert.identifier, cert.jws)
    assert reason_of(lambda: CertClient(env.channel, metadata=env.other_issuer).get(cert.identifier, "audit"))[1] \
        == "NO_CONSENT"
    assert reason_of(lambda: CertClient(env.channel, metadata=env.bob).get(cert.identifier)) \
        == (grpc.StatusCode.PERMISSION_DENIED, "NOT_CERT_HOLDER")
    assert reason_of(lambda: CertClient(env.channel, metadata=env.issuer).get(cert.identifier + "X"))[0] \
        == grpc.StatusCode.INVALID_ARGUMENT
    unknown = str(build_certificate_id(catalogue.BUSINESS_LICENCE, ISSUER_USCC, "0" * 20, 1))
    assert reason_of(lambda: CertClient(env.channel, metadata=env.issuer).get(unknown)) \
        == (grpc.StatusCode.NOT_FOUND, "CERT_NOT_FOUND")


def test_a_list_without_any_consent_reaches_the_holders_log(env: Env) -> None:
    """A platform that asks for a holder's certificates with no consent at all is refused, and the holder sees it."""
    diploma(env)
    alice = CertClient(env.channel, metadata=env.alice)
    stranger = CertClient(env.channel, metadata=env.other_issuer)  # another department's platform, never consented
    assert reason_of(lambda: stranger.list(holder_id=PERSON_ID, holder_kind=pb.HOLDER_KIND_PERSON,
                                           purpose="营销推广"))[1] == "NO_CONSENT"
    latest = alice.access_log()[0]
    assert (latest.identifier, latest.purpose, latest.action, latest.reason) == \
        ("", "营销推广", "refused", "NO_CONSENT")
    assert latest.platform and latest.platform != "portal"


def test_a_platforms_read_is_given_only_once_recorded_with_its_audit_record(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform's read and list within consent: each certificate given has its access line and its audit record
    (``cert.access.read`` / ``.list``, naming the consent), written together; when they cannot be written (the
    database gone at that moment), the platform is given nothing -- UNAVAILABLE -- and neither is stored."""
    from cert_svc import consent
    from hutong.errors import Unavailable

    cert = diploma(env)
    alice, platform = CertClient(env.channel, metadata=env.alice), CertClient(env.channel, metadata=env.portal)
    granted = alice.grant_consent("portal", [cert.identifier], "recording", datetime.now(UTC) + timedelta(days=1))

    def recorded() -> list[tuple[str, str]]:
        with env.node.db.session(readonly=True) as s:
            lines = s.execute(text("SELECT action, consent_id FROM cert_access_log WHERE identifier = :i "
                                   "AND purpose = 'recording' ORDER BY id"), {"i": cert.identifier}).all()
            events = s.execute(text("SELECT action, details FROM audit_events WHERE target = :i AND action LIKE "
                                    "'cert.access.%' AND details LIKE '%recording%' ORDER BY seq"),
                               {"i": cert.identifier}).all()
        assert [f"cert.access.{a}" for a, _ in lines] == [a for a, _ in events]
        assert all(granted.consent_id in d for _, d in events)
        return [(a, c) for a, c in lines]

    assert platform.get(cert.identifier, "recording").identifier == cert.identifier
    listed = platform.list(holder_id=PERSON_ID, holder_kind=pb.HOLDER_KIND_PERSON, purpose="recording")
    assert [c.identifier for c in listed] == [cert.identifier]
    assert recorded() == [("read", granted.consent_id), ("list", granted.consent_id)]

    def gone(*_: object, **__: object) -> None:
        raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached")

    monkeypatch.setattr(consent.audit, "record", gone)  # fails after the access line was added
    for attempt in (lambda: platform.get(cert.identifier, "recording"),
                    lambda: platform.list(holder_id=PERSON_ID, holder_kind=pb.HOLDER_KIND_PERSON, purpose="recording")):
        assert reason_of(attempt) == (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
    monkeypatch.undo()
    assert recorded() == [("read", granted.consent_id), ("list", granted.consent_id)]
