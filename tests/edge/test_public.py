"""Public GETs (JWKS, CRLs, status lists, the page's trust bundle) are cacheable and verifiable with
independent tools; the page's endpoints answer bad input with a status and a reason."""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

from hutong import pki
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.edge.settings import edge_settings
from tests.edge.conftest import EdgeEnv
from tests.edge.test_connect import assert_connect_error, licence, post


def _cache_headers_and_304(env: EdgeEnv, path: str) -> bytes:
    first = env.http.get(path)
    assert first.status_code == 200, first.text
    assert re.fullmatch(r'"[0-9a-f]{32}"', first.headers["etag"])
    age = int(re.fullmatch(r"public, max-age=(\d+)", first.headers["cache-control"]).group(1))  # type: ignore[union-attr]
    assert age >= 0
    again = env.http.get(path, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    return first.content


def test_jwks_is_cacheable_and_verifies_a_token(edge_env: EdgeEnv) -> None:
    body = _cache_headers_and_304(edge_env, "/.well-known/jwks.json")
    keys = KeySet.import_key_set(json.loads(body))
    token = dict(edge_env.alice)["authorization"].split()[1]
    assert jose_jws.deserialize_compact(token, keys).protected["alg"] == "ES256"  # an independent JOSE library


def test_crl_is_cacheable_and_openssl_reads_it(edge_env: EdgeEnv, tmp_path: Path) -> None:
    der = _cache_headers_and_304(edge_env, "/crl/seal-ca.crl")
    (tmp_path / "seal.crl").write_bytes(der)
    ca = edge_env.node.pki.certificate(pki.SEAL_CA)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "seal.crl"), "-CAfile",
                          str(tmp_path / "ca.pem"), "-noout"], capture_output=True, text=True)
    assert out.returncode == 0 and "verify OK" in out.stderr + out.stdout, out.stderr
    assert_connect_error(edge_env.http.get("/crl/other.crl"), 404, "not_found", "CRL_NOT_FOUND")


def test_status_list_and_bundle(edge_env: EdgeEnv) -> None:
    issued = post(edge_env, "/hutong.cert.v1.CertService/IssueCertificate", licence(), edge_env.issuer).json()
    uri = json.loads(base64.urlsafe_b64decode(issued["certificate"]["jws"].split(".")[1] + "=="))[
        "status"]["status_list"]["uri"]
    token = _cache_headers_and_304(edge_env, f"/status/{uri}").decode()
    stub = cert_pb2_grpc.CertServiceStub(edge_env.channel)  # type: ignore[no-untyped-call]
    assert token == stub.GetStatusList(pb.GetStatusListRequest(list_id=uri)).token
    assert_connect_error(edge_env.http.get("/status/no-such-list"), 404, "not_found", "STATUS_LIST_NOT_FOUND")
    bundle = json.loads(_cache_headers_and_304(edge_env, "/v/bundle.json"))
    issuer = next(i for i in bundle["issuers"] if i["uscc"] == "11430000006122244L")
    leaf = x509.load_der_x509_certificate(base64.b64decode(issuer["chain"][0]))
    assert leaf.issuer == edge_env.node.pki.certificate(pki.ISSUER_CA).subject
    assert bundle["trust_list"] is None  # a node outside any federation: its own issuer CA anchors the page
    assert_connect_error(edge_env.http.get("/trust-list.jws"), 400, "failed_precondition", "TRUST_LIST_MISSING")


def test_page_assets_respect_the_csp(edge_env: EdgeEnv) -> None:
    page = edge_env.http.get("/v")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text and "width=device-width" in page.text
    assert "<script>" not in page.text and "style=" not in page.text and "http" not in page.text.replace(
        'http-equiv', '')  # no inline script or style, no external resources
    assert edge_env.http.get("/v/verify.js").headers["content-type"].startswith("text/javascript")


def test_page_forms_bad_input(edge_env: EdgeEnv) -> None:
    http = edge_env.http
    assert_connect_error(http.post("/v", content=b"{}", headers={"content-type": "application/json"}), 415,
                         "invalid_argument", "HTTP_CONTENT_TYPE_UNSUPPORTED")
    assert_connect_error(http.post("/v", data={"token": "x" * 20000}), 413, "resource_exhausted",
                         "HTTP_BODY_TOO_LARGE")
    assert_connect_error(http.post("/v", data={"token": ""}), 400, "invalid_argument", "JWS_MALFORMED")
    garbage = http.post("/v", data={"token": "not.a.token"})
    assert garbage.status_code == 200 and 'data-verdict="red"' in garbage.text
    assert_connect_error(http.post("/v/pdf", content=b"%PDF", headers={"content-type": "application/pdf"}), 415,
                         "invalid_argument", "HTTP_CONTENT_TYPE_UNSUPPORTED")
    notpdf = http.post("/v/pdf", files={"pdf": ("x.pdf", b"this is not a pdf", "application/pdf")})
    assert notpdf.status_code == 400 and "Traceback" not in notpdf.text, notpdf.text
    assert "NOT_A_PDF" in notpdf.text
    limit = edge_settings(edge_env.node.config).max_upload_bytes
    big = http.post("/v/pdf", files={"pdf": ("x.pdf", b"%PDF-1.7\n" + b"0" * (limit + 70 * 1024), "application/pdf")})
    assert_connect_error(big, 413, "resource_exhausted", "HTTP_BODY_TOO_LARGE")
    nothing = http.post("/v/pdf", files={"other": ("x.txt", b"x", "text/plain")})
    assert nothing.status_code in (400, 413) and "Traceback" not in nothing.text


def test_nothing_about_the_checker_is_logged(edge_env: EdgeEnv, caplog: Any) -> None:
    """Opening the page, its bundle and the status list, and the scripts-off check leave no log record
    naming the token, the caller's address or its browser."""
    issued = post(edge_env, "/hutong.cert.v1.CertService/IssueCertificate", licence(), edge_env.issuer).json()
    token = issued["certificate"]["qr"]
    uri = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["status"]["status_list"]["uri"]
    agent = "checker-browser/1.0"
    with caplog.at_level(logging.DEBUG):
        for path in ("/v", "/v/verify.js", "/v/bundle.json", f"/status/{uri}"):
            assert edge_env.http.get(path, headers={"user-agent": agent}).status_code == 200
        answer = edge_env.http.post("/v", data={"token": token}, headers={"user-agent": agent})
    assert answer.status_code == 200 and 'data-verdict="green"' in answer.text
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the client's
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in server_side)
    for secret in (token, token.split(".")[2], "127.0.0.1", agent):
        assert secret not in logged
