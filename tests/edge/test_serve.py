"""`hutong serve` runs the HTTP edge beside gRPC on its own port, derived from the gRPC port by default."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hutong.config import load_config
from hutong.demo.cluster import free_port
from hutong.edge.settings import edge_settings, listen_address


def test_edge_address_derives_from_the_grpc_port(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={})
    assert listen_address(edge_settings(cfg), "127.0.0.1:7443") == "127.0.0.1:8443"
    assert listen_address(edge_settings(cfg), "127.0.0.1:0") == "127.0.0.1:0"
    cfg = load_config(tmp_path, env={"HUTONG_EDGE_LISTEN": "127.0.0.1:9999"})
    assert listen_address(edge_settings(cfg), "127.0.0.1:7443") == "127.0.0.1:9999"
    assert not edge_settings(load_config(tmp_path, env={"HUTONG_EDGE_LISTEN": "off"})).enabled


def test_hutong_serve_serves_the_edge(tmp_path: Path) -> None:
    port = free_port()
    edge_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF" and not k.startswith("HUTONG_")}
    env["HUTONG_EDGE_LISTEN"] = f"127.0.0.1:{edge_port}"
    proc = subprocess.Popen([sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(tmp_path / "node"),
                             "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]  # blocks until the node is up (or stopped)
        assert lines[1].strip() == f"HTTP edge on 127.0.0.1:{edge_port}", lines
        resp = httpx.post(f"http://127.0.0.1:{edge_port}/hutong.identity.v1.IdentityService/GetJwks", json={})
        assert resp.status_code == 200 and json.loads(resp.json()["jwksJson"])["keys"][0]["kty"] == "EC"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_edge_speaks_tls_with_the_servers_certificate(node_factory: Any, tmp_path: Path) -> None:
    """[server] tls_cert_file / tls_key_file serve the edge too: HTTPS only, HSTS, https URLs in QR codes."""
    from hutong.edge.serve import start_edge
    from tests.tls_fixtures import tls_files

    files = tls_files(tmp_path)
    node = node_factory(config=f'[server]\ntls_cert_file = "{files["server_cert"]}"\n'
                               f'tls_key_file = "{files["server_key"]}"\n[edge]\nlisten = "127.0.0.1:0"\n')
    edge = start_edge(node)
    assert edge is not None
    try:
        url = f"https://127.0.0.1:{edge.port}/hutong.identity.v1.IdentityService/GetJwks"
        resp = httpx.post(url, json={}, verify=str(files["ca"]))
        assert resp.status_code == 200 and resp.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the TLS port
            httpx.post(url.replace("https://", "http://"), json={})
        assert edge.base_url.startswith("https://")
    finally:
        edge.stop()


def test_the_edge_wakes_once_a_second_keeps_its_date_header_and_stops_when_told(
        node_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's own loop woke ten times a second in every worker (each wake-up takes the GIL from the gRPC calls
    being served); the edge's wakes once a second, refreshes the Date header each time and is woken by ``stop``."""
    import time
    from email.utils import parsedate_to_datetime

    from hutong.edge import serve

    ticks = [0]
    on_tick = serve._EdgeServer.on_tick

    async def counted(self: Any, counter: int) -> bool:
        ticks[0] += 1
        return await on_tick(self, counter)

    monkeypatch.setattr(serve._EdgeServer, "on_tick", counted)
    node = node_factory(config='[edge]\nlisten = "127.0.0.1:0"\n')
    edge = serve.start_edge(node)
    assert edge is not None
    try:
        started = ticks[0]
        time.sleep(2.5)
        assert 1 <= ticks[0] - started <= 4  # uvicorn's default: ~25
        resp = httpx.post(f"http://127.0.0.1:{edge.port}/hutong.identity.v1.IdentityService/GetJwks", json={})
        assert resp.status_code == 200
        assert abs(parsedate_to_datetime(resp.headers["date"]).timestamp() - time.time()) < 3
    finally:
        edge.stop(timeout=30)
    assert not edge.thread.is_alive()
