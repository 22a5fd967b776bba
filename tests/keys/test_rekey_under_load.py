"""The data-protection key rolls over on a running ``serve --workers 2`` node while people log in by ID number,
act for an individual business (found by its 92-code), list its seal (certificate stored encrypted) and
licences are issued and read: no failed call. The re-encryption is killed (-9) half-way and run again: then
every protected record decrypts under the new key -- checked with the HSM's own AES-GCM, none with a bad tag
-- and each was re-encrypted exactly once; the 92-codes (primary and foreign keys) moved too, so the first key
is destroyed while the load goes on, still without a failed call. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families

from hutong import rekey
from hutong.config import load_config
from hutong.demo.cluster import free_port
from hutong.identifiers import uscc_check_character
from hutong.seal.v1 import seal_pb2
from hutong_client import Hutong
from tests.clients.sdk_world import ACME, LI, PASSWORD, ZHANG, licence_fields
from tests.conftest import _create_database
from tests.keys.conftest import REPO, UNDER_LOAD, LoadThreads, Served, build_node, clean_env, hutong, wait_until

INDIVIDUAL = ("92350100MA2Y3K4P5" + uscc_check_character("92350100MA2Y3K4P5"), "福州市鼓楼区张三小吃店")
LOADS = ("login", "business", "licence")


@dataclass
class Load(LoadThreads):
    served: Served
    first_licence: str
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def login(self, h: Hutong) -> None:
        """Found by the blind index of the ID number; the name decrypted into the ID token."""
        tokens = h.identity.login(LI, PASSWORD)
        assert h.identity.introspect(h.identity.refresh(tokens.refresh_token).access_token).active

    def business(self, h: Hutong) -> None:
        """The individual business: found by its 92-code (deterministically protected), its seal's certificate
        decrypted."""
        person = h.as_person(h.login(ZHANG, PASSWORD))
        assert INDIVIDUAL[0] in {o.uscc for o in person.identity.my_organisations()}
        company = h.as_person(h.identity.session(person.identity.switch_organisation(INDIVIDUAL[0])))
        seals = company.seal.list_seals(org_uscc=INDIVIDUAL[0])
        assert seals and all(s.certificate_der for s in seals)

    def licence(self, h: Hutong) -> None:
        """A new record protected with whichever key is active, and the first one read back."""
        cert = h.cert.issue(self.served.secrets["licence_type"], ACME[0], ACME[1], licence_fields())
        assert h.cert.get(cert.identifier).jws == cert.jws
        assert h.cert.get(self.first_licence).jws

    def progress(self, calls: int = 2) -> None:
        start = dict(self.done)
        assert all(t.is_alive() for t in self.threads), "the load's budget ran out before the test was done"
        wait_until(lambda: bool(self.failures) or all(self.done.get(n, 0) >= start.get(n, 0) + calls
                                                for n in LOADS), "the load to progress")

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def _records(data: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "tests.keys.rekey_proc", str(data)], cwd=REPO, env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _prepare_business(served: Served) -> None:
    with Hutong(served.target, client_id="portal", client_secret=served.secrets["portal_secret"]) as portal:
        person = portal.as_person(portal.login(ZHANG, PASSWORD))
        person.identity.register_organisation(*INDIVIDUAL)
        company = portal.as_person(portal.identity.session(person.identity.switch_organisation(INDIVIDUAL[0])))
        company.seal.create_seal(org_uscc=INDIVIDUAL[0], type=seal_pb2.SEAL_TYPE_OFFICIAL)


def _metric(port: int, name: str) -> float:
    """One sample of the node's /metrics (the workers added up), read with prometheus-client's own parser."""
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return -1.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql",  # the long case
                                               marks=[pytest.mark.slow, pytest.mark.xdist_group(UNDER_LOAD)])])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
    else:
        yield _create_database(request.getfixturevalue("postgres_server"))


def _rows_done(engine: sqlalchemy.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text("SELECT COALESCE(SUM(rows_done), 0) FROM node_rekey_progress"))
                   .scalar_one())


def _serve_under_load(tmp_path: Path, data: Path, secrets: dict[str, Any],
                      served_factory: Callable[..., Served]) -> tuple[Served, Load]:
    """The individual business registered, the node served by two workers, the three load threads running."""
    orgs = tmp_path / "business.csv"
    orgs.write_text(f"name,uscc,representative_name,representative_id_number\n{INDIVIDUAL[1]},{INDIVIDUAL[0]},"
                    f"张三,{ZHANG}\n", encoding="utf-8")
    hutong("registry", "import", "--data-dir", str(data), str(orgs))
    served = served_factory(data, workers=2)
    served.secrets = secrets
    _prepare_business(served)
    load = Load(served, secrets["certificate_id"])
    load.run("login", load.login, "portal")
    load.run("business", load.business, "portal")
    load.run("licence", load.licence, "amr-platform")
    return served, load


@pytest.mark.timeout(1800)
def test_data_key_rolls_over_under_load_and_resumes_after_kill(
        database_url: str, tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    data = tmp_path / "node"
    metrics_port = free_port()
    secrets = build_node(data, f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\nsample_seconds = 0.2\n'
                         '\n[rekey]\nautomatic = false\n',  # the officer's step, killed and resumed
                         database_url=database_url)
    served, load = _serve_under_load(tmp_path, data, secrets, served_factory)
    first = "node.data-key"
    rotate = ("hsm", "rotate", "--data-dir", str(data), "--label", first)
    engine = sqlalchemy.create_engine(load_config(data).effective_database_url)
    try:
        load.progress()
        assert "would prepare" in hutong(*rotate, "--dry-run").stdout
        hutong(*rotate)  # prepare: the new key exists, not used
        load.progress()
        hutong(*rotate)  # activate: every worker protects with it, both keys decrypt
        load.progress()
        time.sleep(2.0)  # every worker has seen the activation: nothing more is protected with the old key
        before = _records(data)
        new = before["active"]
        assert new != first and before["bad"] == [] and before["by_label"].get(new, 0) > 0
        assert before["codes"]["identity_orgs.uscc"] == {first: 1}  # the business, under the old key
        old_records = before["by_label"][first]
        # Re-encryption in slow batches of one, killed (-9) once some batches committed.
        job = subprocess.Popen([sys.executable, "-m", "hutong.cli", *rotate, "--step", "reencrypt", "--batch-size",
                                "1", "--pause", "0.3"], cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: _rows_done(engine) >= 2 or job.poll() is not None, "re-encryption to start")
            assert job.poll() is None, job.communicate()[1]
            job.send_signal(signal.SIGKILL)
        finally:
            job.wait(timeout=60)
        load.progress()
        halfway = _records(data)
        assert halfway["bad"] == [] and 0 < halfway["by_label"].get(first, 0) < old_records  # some moved, not all
        # The progress, for the officer and the monitoring.
        assert "records re-encrypted" in hutong(*rotate, "--dry-run").stdout
        assert "data-key re-encryption pending" in hutong("node", "keys", "--data-dir", str(data)).stdout
        wait_until(lambda: _metric(metrics_port, "hutong_rekey_pending") == 1
                   and _metric(metrics_port, "hutong_rekey_records_done") >= 2, "the re-encryption's metrics")
        hutong(*rotate, "--batch-size", "3")  # resumes: step reencrypt
        load.progress()
        # Nothing needs the first key any more (the 92-codes moved): it is destroyed while the node serves.
        hutong("hsm", "destroy", "--data-dir", str(data), "--key", first, "--yes")
        load.progress()
    finally:
        load.finish()
        engine.dispose()
    assert load.failures == [], load.failures[:5]
    wait_until(lambda: _metric(metrics_port, "hutong_rekey_pending") == 0, "the metrics to show it finished")
    assert "re-encryption pending" not in hutong("node", "keys", "--data-dir", str(data)).stdout
    after = _records(data)
    assert after["bad"] == [] and set(after["by_label"]) == {new}  # all under the new key, every tag good
    blobs = {t.name for t in rekey.targets()}
    assert sum(n for k, n in after["progress"].items() if k.split(" ")[1] in blobs) == old_records  # each once
    assert {label for counts in after["codes"].values() for label in counts} == {new}, after["codes"]
    assert after["codes"]["identity_orgs.uscc"] == {new: 1}
    actions = after["actions"]
    assert actions[:3] == ["pki.rollover.prepare", "pki.rollover.activate", "pki.rekey.start"]
    assert actions[-1] == "pki.rekey.finish" and actions.count("pki.rekey.start") == 1
    labels = {k["label"] for k in json.loads(hutong("hsm", "list", "--data-dir", str(data), "--json").stdout)}
    assert first not in labels and new in labels
    served.stop()
    assert "audit log intact" in hutong("audit", "verify", "--data-dir", str(data)).stdout


@pytest.mark.timeout(900)
def test_the_node_reencrypts_by_itself_after_activation(tmp_path: Path,
                                                         served_factory: Callable[..., Served]) -> None:
    """No officer's ``--step reencrypt``: the serving workers notice the activation, one of them re-encrypts
    (the others find the lock taken), under load, with no failed call; the first key may then go."""
    data = tmp_path / "node"
    secrets = build_node(data, "\n[rekey]\ncheck_seconds = 0.5\nbatch = 5\npause = 0.05\n")
    served, load = _serve_under_load(tmp_path, data, secrets, served_factory)
    first = "node.data-key"
    rotate = ("hsm", "rotate", "--data-dir", str(data), "--label", first)
    try:
        load.progress()
        hutong(*rotate)  # prepare
        hutong(*rotate)  # activate: nothing more from the officer
        deadline = time.monotonic() + 300
        while "re-encryption pending" in hutong("node", "keys", "--data-dir", str(data)).stdout:
            assert time.monotonic() < deadline, "the node did not finish re-encrypting by itself"
            time.sleep(1.0)
        load.progress()
        hutong("hsm", "destroy", "--data-dir", str(data), "--key", first, "--yes")
        load.progress()
    finally:
        load.finish()
    assert load.failures == [], load.failures[:5]
    after = _records(data)
    new = after["active"]
    assert after["bad"] == [] and set(after["by_label"]) == {new}
    assert {label for counts in after["codes"].values() for label in counts} == {new}, after["codes"]
    actions = after["actions"]
    assert actions.count("pki.rekey.start") == 1 and actions[-1] == "pki.rekey.finish"
    assert set(after["rekey_actors"]) == {"node"}  # started by the node itself, no officer
