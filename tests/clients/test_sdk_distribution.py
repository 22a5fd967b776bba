"""The SDK is its own distribution (clients/pyproject.toml, ``hutong-client``): installed alone into a fresh
virtual environment, it brings none of the server's dependencies, imports none of the server's packages, and
a documented example plus an offline token check run with it against a real node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.clients.sdk_world import ACME, LI, PASSWORD, World, licence_fields

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ["sqlalchemy", "pykcs11", "psycopg", "pyhanko", "alembic", "python-jose", "starlette"]

DRIVER = r'''
import importlib.util, json, os, sys
from pathlib import Path

target, type_code, csv_path, example = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("example", example)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
out = module.main(target, "amr-platform", os.environ["REGULATOR_SECRET"], type_code, csv_path)

from hutong.errors import Unauthenticated
from hutong.verify.tokens import verify_token
from hutong_client import Hutong

with Hutong(target, client_id="portal", client_secret=os.environ["PORTAL_SECRET"]) as portal:
    session = portal.login(os.environ["PERSON_ID"], os.environ["PERSON_PASSWORD"])
    keys, issuer = portal.identity.jwks()
    token = session.tokens.id_token
    claims = verify_token(token, keys, issuer=issuer, audience="portal", kind="id")
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    try:
        verify_token(tampered, keys, issuer=issuer, audience="portal")
        tampered_reason = ""
    except Unauthenticated as err:
        tampered_reason = err.reason

heavy = sorted(m for m in ("sqlalchemy", "PyKCS11", "psycopg", "pyhanko", "jose", "hsm", "identity_svc",
                           "seal_svc", "cert_svc", "hutong.node", "hutong.db") if m in sys.modules)
print(json.dumps({"example": {k: out[k] for k in ("issued", "failed", "offline_before", "offline_after")},
                  "acr": claims["acr"], "tampered": tampered_reason, "heavy": heavy,
                  "hutong_from": str(Path(sys.modules["hutong"].__file__).parent)}))
'''


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only ``pip install clients/`` (from a copy of the tree: nothing built in place)."""
    base = tmp_path_factory.mktemp("sdk")
    src = base / "src"
    shutil.copytree(ROOT / "clients", src / "clients", ignore=shutil.ignore_patterns("node", "build", "__pycache__",
                                                                                    "*.egg-info"))
    shutil.copytree(ROOT / "hutong", src / "hutong", ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           str(src / "clients")], capture_output=True, text=True, timeout=900, env=_clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return python


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.mark.slow
def test_the_sdk_installs_without_the_server_dependencies(sdk_python: Path) -> None:
    listed = subprocess.run([str(sdk_python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
                            capture_output=True, text=True, timeout=120, check=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "hutong-client" in names
    assert not names & set(SERVER_ONLY), names & set(SERVER_ONLY)
    # The server's modules are not in the distribution, only the light core the SDK imports.
    probe = subprocess.run([str(sdk_python), "-c", "import importlib.util as u; print([m for m in "
                            "('hutong.node', 'hutong.db', 'hutong.cli', 'hsm', 'cert_svc', 'seal_svc', 'identity_svc')"
                            " if u.find_spec(m) is not None])"],
                           capture_output=True, text=True, timeout=120, cwd=sdk_python.parent, env=_clean_env())
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


@pytest.mark.slow
def test_an_example_and_offline_verification_run_with_the_sdk_alone(sdk_python: Path, world: World,
                                                                    tmp_path: Path) -> None:
    fields = licence_fields()
    csv = tmp_path / "licences.csv"
    csv.write_text(",".join(["holder_id", "holder_name", *fields]) + "\n"
                   + ",".join([ACME[0], ACME[1], *fields.values()]) + "\n", encoding="utf-8")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = _clean_env() | {"REGULATOR_SECRET": world.regulator_secret, "PORTAL_SECRET": world.portal_secret,
                          "PERSON_ID": LI, "PERSON_PASSWORD": PASSWORD}
    proc = subprocess.run([str(sdk_python), str(driver), world.target, world.licence_type, str(csv),
                           str(ROOT / "docs" / "examples" / "department_issue_certificates.py")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert str(sdk_python.parents[1]) in out["hutong_from"]  # the installed copy, not the source tree
    assert len(out["example"]["issued"]) == 1 and not out["example"]["failed"]
    assert (out["example"]["offline_before"], out["example"]["offline_after"]) == ("valid", "suspended")
    assert out["acr"] == "substantial"
    assert out["tampered"] == "TOKEN_INVALID"
    assert out["heavy"] == []
