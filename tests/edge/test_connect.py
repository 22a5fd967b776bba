"""Connect-protocol JSON for unary RPCs: the same answers as gRPC, the same error reasons, and a
defined answer (status + reason JSON, never a stack trace) for every kind of bad input."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2

from cert_svc import catalogue
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.status import error_from_rpc
from tests.edge.conftest import PERSON_ID, EdgeEnv, headers

CERT = "/hutong.cert.v1.CertService/"
JSON = {"content-type": "application/json"}


def post(env: EdgeEnv, path: str, body: Any, metadata: list[tuple[str, str]] | None = None) -> Any:
    return env.http.post(path, content=json.dumps(body, ensure_ascii=False).encode(),
                         headers={**JSON, **headers(metadata or [])})


def licence() -> dict[str, Any]:
    return {"typeCode": catalogue.BUSINESS_LICENCE,
            "holder": {"id": "91350100M000100Y43", "name": "福建省某某科技有限公司"},
            "fields": {"name": "福建省某某科技有限公司", "entity_type": "有限责任公司", "legal_representative": "张三",
                       "legal_representative_id": PERSON_ID, "registered_capital": "100",
                       "established_on": "2020-01-01", "address": "福建省福州市鼓楼区某某路1号",
                       "business_scope": "软件开发", "registration_authority": "福州市市场监督管理局"}}


def assert_connect_error(resp: Any, status: int, code: str, reason: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code and body["message"]
    assert "Traceback" not in resp.text
    detail = body["details"][0]
    assert detail["type"] == "google.rpc.ErrorInfo"
    info = error_details_pb2.ErrorInfo.FromString(base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4)))
    assert info.reason == reason == detail["debug"]["reason"]
    return body  # type: ignore[no-any-return]


def test_lookups_answer_the_same_over_json_and_grpc(edge_env: EdgeEnv) -> None:
    ident = identity_pb2_grpc.IdentityServiceStub(edge_env.channel)  # type: ignore[no-untyped-call]
    cert = cert_pb2_grpc.CertServiceStub(edge_env.channel)  # type: ignore[no-untyped-call]
    jwks = post(edge_env, "/hutong.identity.v1.IdentityService/GetJwks", {})
    assert jwks.status_code == 200
    assert jwks.json() == json_format.MessageToDict(ident.GetJwks(identity_pb2.GetJwksRequest()))
    types = post(edge_env, CERT + "ListTypes", {})
    assert types.json() == json_format.MessageToDict(cert.ListTypes(pb.ListTypesRequest()))
    assert any(t["code"] == catalogue.BUSINESS_LICENCE for t in types.json()["types"])
    # Side-effect-free lookups also answer Connect GET requests, JSON in the query or base64url.
    message = json.dumps({"code": catalogue.BUSINESS_LICENCE})
    got = edge_env.http.get(CERT + "GetType", params={"encoding": "json", "message": message, "connect": "v1"})
    assert got.status_code == 200
    assert got.json() == json_format.MessageToDict(cert.GetType(pb.GetTypeRequest(code=catalogue.BUSINESS_LICENCE)))
    b64 = base64.urlsafe_b64encode(message.encode()).decode().rstrip("=")
    assert edge_env.http.get(CERT + "GetType", params={"encoding": "json", "message": b64, "base64": "1"}
                             ).json() == got.json()


def test_issue_over_json_then_read_and_verify_both_ways(edge_env: EdgeEnv) -> None:
    cert = cert_pb2_grpc.CertServiceStub(edge_env.channel)  # type: ignore[no-untyped-call]
    issued = post(edge_env, CERT + "IssueCertificate", licence(), edge_env.issuer)
    assert issued.status_code == 200, issued.text
    identifier = issued.json()["certificate"]["identifier"]
    # What JSON issued, gRPC reads: the same record.
    via_grpc = cert.GetCertificate(pb.GetCertificateRequest(identifier=identifier), metadata=edge_env.issuer)
    assert json_format.MessageToDict(via_grpc)["certificate"] == issued.json()["certificate"]
    jws = issued.json()["certificate"]["jws"]
    grpc_verdict = json_format.MessageToDict(cert.Verify(pb.VerifyRequest(jws=jws)))
    json_verdict = post(edge_env, CERT + "Verify", {"jws": jws})
    assert json_verdict.status_code == 200
    for answer in (json_verdict.json(), grpc_verdict):
        answer.pop("checkedAt", None)
    assert json_verdict.json() == grpc_verdict
    assert grpc_verdict["verdict"] == "VERDICT_VALID"
    # Binary protobuf is accepted too (Connect's application/proto).
    raw = edge_env.http.post(CERT + "Verify", content=pb.VerifyRequest(jws=jws).SerializeToString(),
                             headers={"content-type": "application/proto"})
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/proto"
    assert pb.VerifyResponse.FromString(raw.content).verdict == grpc_verdict_enum(grpc_verdict)


def grpc_verdict_enum(answer: dict[str, Any]) -> int:
    from hutong.common.v1 import common_pb2

    return int(common_pb2.Verdict.Value(answer["verdict"]))


@pytest.mark.parametrize(("path", "body", "metadata", "status", "code"), [
    (CERT + "Verify", {"jws": "not-a-jws"}, None, 400, "invalid_argument"),
    ("/hutong.seal.v1.SealService/ListSeals", {"orgUscc": "91350100M000100Y43"}, None, 401, "unauthenticated"),
    (CERT + "GetType", {"code": "11100000000013338W999"}, None, 404, "not_found"),
])
def test_errors_carry_the_grpc_reason(edge_env: EdgeEnv, path: str, body: dict[str, Any],
                                      metadata: Any, status: int, code: str) -> None:
    service, method = path.strip("/").split("/")
    stub_cls = {"hutong.cert.v1.CertService": cert_pb2_grpc.CertServiceStub,
                "hutong.seal.v1.SealService": seal_pb2_grpc.SealServiceStub}[service]
    stub = stub_cls(edge_env.channel)  # type: ignore[no-untyped-call]
    module = pb if "cert" in service else seal_pb2
    request = json_format.ParseDict(body, getattr(module, f"{method}Request")())
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request, metadata=metadata)
    expected = error_from_rpc(caught.value)
    answer = assert_connect_error(post(edge_env, path, body, metadata), status, code, expected.reason)
    assert answer["message"] == expected.message


def test_person_token_authenticates_like_grpc(edge_env: EdgeEnv) -> None:
    ident = identity_pb2_grpc.IdentityServiceStub(edge_env.channel)  # type: ignore[no-untyped-call]
    token = dict(edge_env.alice)["authorization"].split()[1]
    want = ident.IntrospectToken(identity_pb2.IntrospectTokenRequest(token=token), metadata=edge_env.alice)
    got = post(edge_env, "/hutong.identity.v1.IdentityService/IntrospectToken", {"token": token}, edge_env.alice)
    assert got.status_code == 200
    assert got.json() == json_format.MessageToDict(want)
    assert got.json()["active"] is True


@pytest.mark.parametrize(("content", "ctype", "status", "reason"), [
    (b"{not json", "application/json", 400, "JSON_MALFORMED"),
    (b'{"jws": 5}', "application/json", 400, "JSON_MALFORMED"),
    (b'{"noSuchField": "x"}', "application/json", 400, "JSON_MALFORMED"),
    (b"[1, 2]", "application/json", 400, "JSON_MALFORMED"),
    (b"\xff\xfe\x00", "application/json", 400, "JSON_MALFORMED"),
    (b"\xff\xff\xff\xff", "application/proto", 400, "REQUEST_UNDECODABLE"),  # as on gRPC
    (b"jws=x", "application/x-www-form-urlencoded", 415, "HTTP_CONTENT_TYPE_UNSUPPORTED"),
    (b"{}", "", 415, "HTTP_CONTENT_TYPE_UNSUPPORTED"),
])
def test_bad_bodies(edge_env: EdgeEnv, content: bytes, ctype: str, status: int, reason: str) -> None:
    hdrs = {"content-type": ctype} if ctype else {}
    resp = edge_env.http.post(CERT + "Verify", content=content, headers=hdrs)
    assert_connect_error(resp, status, "invalid_argument", reason)


def test_oversized_body_is_refused_while_streaming(edge_env: EdgeEnv) -> None:
    limit = edge_env.node.config.server.max_message_bytes

    def chunks() -> Any:  # no Content-Length: the limit is enforced on what arrives
        sent = 0
        while sent <= limit:
            yield b" " * 65536
            sent += 65536

    resp = edge_env.http.post(CERT + "Verify", content=chunks(), headers=JSON)
    assert_connect_error(resp, 413, "resource_exhausted", "HTTP_BODY_TOO_LARGE")
    declared = edge_env.http.post(CERT + "Verify", content=b" " * (limit + 1), headers=JSON)  # Content-Length set
    assert_connect_error(declared, 413, "resource_exhausted", "HTTP_BODY_TOO_LARGE")


def test_unknown_paths_methods_and_streaming_rpcs(edge_env: EdgeEnv) -> None:
    assert_connect_error(edge_env.http.get("/no/such/thing"), 404, "not_found", "HTTP_PATH_NOT_FOUND")
    # Streaming RPCs are not on the JSON API.
    assert_connect_error(post(edge_env, "/hutong.seal.v1.SealService/SignPdf", {}), 404, "not_found",
                         "HTTP_PATH_NOT_FOUND")
    # Node-to-node federation stays on mutually authenticated gRPC.
    assert_connect_error(post(edge_env, "/hutong.federation.v1.FederationService/GetTrustList", {}), 404,
                         "not_found", "HTTP_PATH_NOT_FOUND")
    # GET only for side-effect-free lookups; other verbs never.
    assert_connect_error(edge_env.http.get(CERT + "IssueCertificate", params={"message": "{}"}), 405,
                         "unimplemented", "HTTP_METHOD_NOT_ALLOWED")
    assert_connect_error(edge_env.http.delete(CERT + "Verify"), 405, "unimplemented", "HTTP_METHOD_NOT_ALLOWED")
    bad_get = edge_env.http.get(CERT + "GetType", params={"message": "{bad", "encoding": "json"})
    assert_connect_error(bad_get, 400, "invalid_argument", "JSON_MALFORMED")
    bad_b64 = edge_env.http.get(CERT + "GetType", params={"message": "%%%", "base64": "1"})
    assert_connect_error(bad_b64, 400, "invalid_argument", "JSON_MALFORMED")


def test_security_headers_on_every_answer(edge_env: EdgeEnv) -> None:
    for resp in (post(edge_env, CERT + "ListTypes", {}), edge_env.http.get("/nothing-here")):
        csp = resp.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert "server" not in resp.headers


def test_every_unary_rpc_is_mounted(edge_env: EdgeEnv) -> None:
    from google.protobuf import descriptor_pool

    from hutong.edge.connect import unary_methods

    mounted = set(unary_methods(edge_env.node))
    pool = descriptor_pool.Default()
    for name in ("hutong.identity.v1.IdentityService", "hutong.identity.v1.OrganisationService",
                 "hutong.seal.v1.SealService", "hutong.cert.v1.CertService"):
        for md in pool.FindServiceByName(name).methods:
            unary = not (md.client_streaming or md.server_streaming)
            assert (f"{name}/{md.name}" in mounted) == unary, md.full_name


def test_the_edge_calls_the_grpc_servers_own_servicers(edge_env: EdgeEnv) -> None:
    from hutong.edge.connect import unary_methods
    from hutong.edge.handlers import captured

    handlers = captured(edge_env.node)  # what the running gRPC server registered
    assert handlers
    method = unary_methods(edge_env.node)["hutong.cert.v1.CertService/Verify"]
    details = type("D", (), {"method": "/hutong.cert.v1.CertService/Verify", "invocation_metadata": ()})()
    served = next(h for g in handlers if (h := g.service(details)) is not None)
    assert method.registered.unary_unary.__self__ is served.unary_unary.__self__  # type: ignore[attr-defined]
