"""No enumeration: serials are random (GB/T 36904's 7-32 characters), anonymous verification by identifier is
rate limited per caller and shows only what the QR shows; reading a certificate needs credentials."""

from __future__ import annotations

import grpc

from cert_svc.ratelimit import RateLimiter, caller_key
from hutong import identifiers
from hutong.cert.v1 import cert_pb2 as pb
from hutong.errors import ResourceExhausted
from hutong.status import error_from_rpc

from .conftest import Env
from .test_issue import issue, reason_of


def test_serials_are_random_and_within_the_standard(env: Env) -> None:
    serials = [identifiers.parse_certificate_id(issue(env).identifier).serial for _ in range(3)]
    assert all(7 <= len(s) <= 32 for s in serials) and len(set(serials)) == 3
    # nothing like a counter: the serials share no long prefix and are not consecutive numbers
    assert len({s[:6] for s in serials}) == 3


def test_anonymous_verification_by_identifier_is_limited_and_minimal(env: Env) -> None:
    cert = issue(env)
    answer = env.stub.Verify(pb.VerifyRequest(identifier=cert.identifier))
    assert answer.certificate.identifier == cert.identifier and answer.verdict == 1
    assert "福建省某某科技有限公司" not in str(answer)  # no holder: the QR carries none either
    refused = None
    for _ in range(300):  # the default burst is 20 per address, refilled at one a second: it runs dry
        try:
            env.stub.Verify(pb.VerifyRequest(identifier=cert.identifier))
        except grpc.RpcError as err:
            refused = err
            break
    assert refused is not None
    code, reason = refused.code(), error_from_rpc(refused).reason
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "VERIFY_RATE_LIMITED")
    # with credentials, and by the signed form itself, verification goes on
    assert env.stub.Verify(pb.VerifyRequest(identifier=cert.identifier), metadata=env.portal).verdict == 1
    assert env.stub.Verify(pb.VerifyRequest(jws=cert.jws)).verdict == 1
    # reading the certificate itself needs credentials
    code, _ = reason_of(lambda: env.stub.GetCertificate(pb.GetCertificateRequest(identifier=cert.identifier)))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    try:
        limiter.take("a")
        raise AssertionError("the third call within a second must be refused")
    except ResourceExhausted as err:
        assert err.reason == "VERIFY_RATE_LIMITED" and err.metadata["retry_after_seconds"] == "1"
    limiter.take("b")  # another caller has its own bucket
    now[0] = 1.0
    limiter.take("a")
    assert caller_key("ipv4:10.0.0.7:51234") == "10.0.0.7" and caller_key("ipv6:[::1]:5000") == "[::1]"
