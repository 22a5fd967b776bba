"""Calls through the HTTP edge are observed like gRPC calls: request id header, access line, metrics.

A real ``hutong serve`` process (gRPC + edge + metrics endpoint); the calls are real HTTP requests;
the exposition is scraped over HTTP, checked by ``promtool check metrics`` and read back with a plain
text parse (no client library); the log is the process's stderr, every line parsed as JSON.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hutong.audit import AuditRecord
from hutong.auth import CLIENT_ID, CLIENT_SECRET
from hutong.demo.cluster import free_port
from identity_svc import platforms
from identity_svc.core import Identity
from tests.identity_fixtures import IDENTITY_CONFIG, citizen_id

PROMTOOL = shutil.which("promtool")
IDENTITY = "hutong.identity.v1.IdentityService"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = SAMPLE.match(line)
        assert m, line
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


@pytest.mark.skipif(PROMTOOL is None, reason="Debian prometheus not installed")
def test_edge_calls_have_request_ids_access_lines_and_metrics(node_factory: Any, start_node: Any) -> None:
    metrics_port, edge_port = free_port(), free_port()
    node = node_factory(config=IDENTITY_CONFIG + f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
                        f'\n[edge]\nlisten = "127.0.0.1:{edge_port}"\n')
    secret = platforms.add_platform(Identity.of(node), client_id="portal", name="portal",
                                    scopes=("openid",)).client_secret
    running = start_node(node.config.data_dir)
    edge = f"http://127.0.0.1:{edge_port}"
    jwks_path = f"/{IDENTITY}/GetJwks"
    with httpx.Client(base_url=edge, timeout=30) as http:
        ok = http.post(jwks_path, json={})
        assert ok.status_code == 200 and json.loads(ok.json()["jwksJson"])["keys"]
        assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["x-request-id"])
        got = http.get(jwks_path, params={"encoding": "json", "message": "{}"})
        assert got.status_code == 200
        assert got.headers["x-request-id"] != ok.headers["x-request-id"]
        # Refused before any servicer runs: still this RPC's call, counted and logged as such.
        bad = http.post(jwks_path, content=b"{not json", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["details"][0]["debug"]["reason"] == "JSON_MALFORMED"
        # A failed login through the edge: the caller's request id is kept, returned and audited.
        login = http.post(f"/{IDENTITY}/Login", json={"idNumber": citizen_id(7), "password": "wrong password"},
                          headers={CLIENT_ID: "portal", CLIENT_SECRET: secret, "x-request-id": "edge-trace-7"})
        assert login.status_code == 401
        login_reason = login.json()["details"][0]["debug"]["reason"]
        assert login.headers["x-request-id"] == "edge-trace-7"
        # Routes that are not RPCs: counted by route template, never by path or query.
        assert http.get("/.well-known/jwks.json").status_code == 200
        assert http.get("/v", params={"c": "QUERYMARKER"}).status_code == 200
        assert http.get("/ocsp/PATHMARKER").status_code == 400
        missing = http.get("/no/such/thing")
        assert missing.status_code == 404 and "x-request-id" in missing.headers
        assert http.post("/tsa", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text

    assert PROMTOOL is not None
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=scrape, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    s = _samples(scrape)
    rpc = {"grpc_type": "unary", "grpc_service": IDENTITY}
    assert _value(s, "grpc_server_started_total", grpc_method="GetJwks", **rpc) == 3
    assert _value(s, "grpc_server_handled_total", grpc_method="GetJwks", grpc_code="OK", **rpc) == 2
    assert _value(s, "grpc_server_handled_total", grpc_method="GetJwks", grpc_code="INVALID_ARGUMENT", **rpc) == 1
    assert _value(s, "grpc_server_handled_total", grpc_method="Login", grpc_code="UNAUTHENTICATED", **rpc) == 1
    assert _value(s, "grpc_server_handling_seconds_count", grpc_method="GetJwks", **rpc) == 3
    assert _value(s, "hutong_logins_total", result="failed") == 1
    http_total = "hutong_http_requests_total"
    assert _value(s, http_total, route="/.well-known/jwks.json", method="GET", code="200") == 1
    assert _value(s, http_total, route="/v", method="GET", code="200") == 1
    assert _value(s, http_total, route="/ocsp/{encoded:path}", method="GET", code="400") == 1
    assert _value(s, http_total, route="-", method="GET", code="404") == 1
    assert _value(s, http_total, route="/tsa", method="POST", code="415") == 1
    assert _value(s, "hutong_http_request_duration_seconds_count", route="/v", method="GET") == 1
    assert not [lab for n, lab, _ in s if n == http_total and IDENTITY in lab.get("route", "")], \
        "Connect RPCs are counted as RPCs, not as HTTP routes"

    lines = running.stop()
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "hutong.access"]
    connect = [e for e in access if e["transport"] == "connect"]
    assert [(e["method"], e["status"], e["http_status"]) for e in connect] == [
        (jwks_path, "OK", 200), (jwks_path, "OK", 200), (jwks_path, "INVALID_ARGUMENT", 400),
        (f"/{IDENTITY}/Login", "UNAUTHENTICATED", 401)]
    assert connect[0]["request_id"] == ok.headers["x-request-id"] and connect[0]["grpc_type"] == "unary"
    assert connect[2]["reason"] == "JSON_MALFORMED"
    failed = connect[3]
    assert failed["request_id"] == "edge-trace-7" and failed["reason"] == login_reason
    assert failed["platform"] == "portal" and failed["caller_kind"] == "platform"
    assert isinstance(failed["latency_ms"], float) and failed["node"] == node.id
    pages = [(e["method"], e["status"], e["http_status"], e["reason"]) for e in access if e["transport"] == "http"]
    assert pages == [("GET /.well-known/jwks.json", "OK", 200, ""), ("GET /v", "OK", 200, ""),
                     ("GET /ocsp/{encoded:path}", "INVALID_ARGUMENT", 400, pages[2][3]),
                     ("GET -", "NOT_FOUND", 404, "HTTP_PATH_NOT_FOUND"),
                     ("POST /tsa", "INVALID_ARGUMENT", 415, "HTTP_CONTENT_TYPE_UNSUPPORTED")]
    security = [e for e in entries if e["logger"] == "hutong.security" and e["event"] == "refused"]
    assert [e["request_id"] for e in security] == ["edge-trace-7"]
    text = "\n".join(lines)
    assert "QUERYMARKER" not in text and "PATHMARKER" not in text and citizen_id(7) not in text
    with node.db.session(readonly=True) as session:
        audited = session.scalars(select(AuditRecord).where(AuditRecord.action == "identity.login")).all()
    assert [r.request_id for r in audited] == ["edge-trace-7"]
