"""No enumeration: serials are random (GB/T 36904's 7-32 characters), anonymous verification by identifier is
rate limited per caller and shows only what the QR shows; reading a certificate needs credentials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from cert_svc.ratelimit import RateLimiter, caller_key
from hutong import identifiers
from hutong.buckets import Buckets
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.demo.cluster import free_port
from hutong.errors import ResourceExhausted
from hutong.status import error_from_rpc

from .conftest import Env
from .test_issue import issue, reason_of

BURST = 3  # and (practically) no refill
UNKNOWN = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"  # well formed, not issued


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


def test_the_table_forgets_the_fullest_bucket_when_a_probe_run_is_full() -> None:
    """A tiny table: more callers than slots. Each new caller is still answered (a fresh full bucket), and a
    drained caller stays drained while the table has room for it."""
    table = Buckets.local(slots=4)
    limiter = RateLimiter(per_minute=0.0001, burst=1, clock=lambda: 0.0, table=table)
    limiter.take("drained")
    for caller in ("b", "c", "d"):
        limiter.take(caller)  # three more callers: every slot taken, each with an empty bucket
    try:
        limiter.take("drained")
        raise AssertionError("the drained caller must still be refused")
    except ResourceExhausted as err:
        assert err.reason == "VERIFY_RATE_LIMITED"
    limiter.take("e")  # a fifth caller: a slot is reused, the newcomer gets a full bucket


@pytest.mark.slow  # a node of its own on SQLite, whatever --db says: once is enough
def test_workers_of_one_node_share_the_buckets(tmp_path: Path) -> None:
    """`serve --workers 2`: connections spread over both workers, yet one caller gets the burst once, not
    once per worker (the buckets live in memory the workers share)."""
    data = tmp_path / "node"
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF" and not k.startswith("HUTONG_")}
    init = subprocess.run([sys.executable, "-m", "hutong.cli", "node", "init", "--data-dir", str(data)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert init.returncode == 0, init.stderr
    with (data / "hutong.toml").open("a") as f:
        f.write(f"\n[cert]\nverify_burst = {BURST}\nverify_per_minute = 0.0001\n")
    port, edge_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(data), "--listen",
                             f"127.0.0.1:{port}", "--workers", "2"],
                            env=env | {"HUTONG_EDGE_LISTEN": f"127.0.0.1:{edge_port}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(ready).result(timeout=120)
        ready.close()
        answered, refused = 0, 0
        for _ in range(3 * BURST):  # a new connection each time: the kernel spreads them over both workers
            with grpc.insecure_channel(f"127.0.0.1:{port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                stub = cert_pb2_grpc.CertServiceStub(ch)
                try:
                    stub.Verify(pb.VerifyRequest(identifier=UNKNOWN), timeout=60)
                    answered += 1
                except grpc.RpcError as err:
                    if error_from_rpc(err).reason == "VERIFY_RATE_LIMITED":
                        refused += 1
                    else:
                        answered += 1  # e.g. not found: answered, the token was taken
        assert answered == BURST and refused == 2 * BURST, (answered, refused)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
