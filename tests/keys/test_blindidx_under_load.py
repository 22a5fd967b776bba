"""The blind-index key rolls over on a running ``serve --workers 2`` node while people log in by ID number,
register (each new number checked against every key in use, one already registered refused), the legal
representative finds the organisation and lists its certificates by holder, and licences are issued: no failed
call. The re-indexing is killed (-9) half-way and run again; what waits for its value (the register's
number-and-name match) is re-imported, and the old key is released. Then every stored index is recomputed with
the HSM's own HMAC over its original and compared, and each was re-indexed by the job exactly once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families

from hutong.config import load_config
from hutong.demo.cluster import free_port
from hutong.errors import HutongError
from hutong_client import Hutong
from tests.clients.sdk_world import ACME, LI, PASSWORD, ZHANG, licence_fields
from tests.identity_fixtures import citizen_id
from tests.keys.conftest import (
    REPO,
    UNDER_LOAD,
    LoadThreads,
    Served,
    build_node,
    clean_env,
    hutong,
    kill_server,
    wait_until,
)

LOADS = ("login", "register", "company", "licence")
NEWCOMERS = 400  # in the register, registering while the key rolls over (bounded: one per iteration)
REGISTER_REINDEXED = ("identity_register_people.",)  # re-indexed by presentation and re-import, not only the job


@dataclass
class Load(LoadThreads):
    served: Served
    first_licence: str
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    newcomers: list[str] = field(default_factory=list)

    def login(self, h: Hutong) -> None:
        """Found by the blind index of the ID number, a refresh, the token checked."""
        tokens = h.identity.login(LI, PASSWORD)
        assert h.identity.introspect(h.identity.refresh(tokens.refresh_token).access_token).active

    def register(self, h: Hutong) -> None:
        """A newcomer registers (matched in the register, checked against every key); a registered number is
        refused whichever key its row is under."""
        if self.newcomers:
            number = self.newcomers.pop()
            h.identity.register_person(number, f"新人{number[-4:]}", PASSWORD)
            assert h.login(number, PASSWORD)
        try:
            h.identity.register_person(LI, "李四", PASSWORD)
        except HutongError as err:
            assert err.reason == "PERSON_ALREADY_REGISTERED", err.reason
        else:
            raise AssertionError("a registered ID number registered again")

    def company(self, h: Hutong) -> None:
        """The legal representative (bound by blind index) acts for the company and lists its certificates
        (found by the holder's blind index)."""
        person = h.as_person(h.login(ZHANG, PASSWORD))
        mine = {o.uscc for o in person.identity.my_organisations()}
        assert ACME[0] in mine, (time.time(), mine, {o.uscc for o in person.identity.my_organisations()})
        company = h.as_person(h.identity.session(person.identity.switch_organisation(ACME[0])))
        assert self.first_licence in {c.identifier for c in company.cert.list()}

    def licence(self, h: Hutong) -> None:
        """A new certificate indexed with whichever key is active, and read back."""
        cert = h.cert.issue(self.served.secrets["licence_type"], ACME[0], ACME[1], licence_fields())
        assert h.cert.get(cert.identifier).jws == cert.jws

    def progress(self, calls: int = 2) -> None:
        start = dict(self.done)
        assert all(t.is_alive() for t in self.threads), "the load's budget ran out before the test was done"
        wait_until(lambda: bool(self.failures) or all(self.done.get(n, 0) >= start.get(n, 0) + calls
                                                for n in LOADS), "the load to progress")

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def _indexes(data: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "tests.keys.blindidx_proc", str(data)], cwd=REPO, env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _metric(port: int, name: str) -> float:
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return -1.0


def _rows_done(engine: sqlalchemy.Engine, label: str | None, *, but: str = "") -> int:
    """Rows re-indexed to ``label`` (None: to any key but ``but``)."""
    where, args = ("key_label = :k", {"k": label}) if label else ("key_label != :k", {"k": but})
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text("SELECT COALESCE(SUM(rows_done), 0) FROM node_rekey_progress "
                                                f"WHERE {where}"), args).scalar_one())


def _old(report: dict[str, Any], first: str) -> dict[str, int]:
    return {c: n.get(first, 0) for c, n in report["by_column"].items()}


@pytest.mark.slow
@pytest.mark.xdist_group(UNDER_LOAD)
@pytest.mark.timeout(1800)
def test_blind_index_rolls_over_under_load_and_resumes_after_kill(
        tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    data = tmp_path / "node"
    metrics_port = free_port()
    secrets = build_node(data, f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\nsample_seconds = 0.2\n'
                               '\n[rekey]\nautomatic = false\n')  # the officer's step, killed and resumed
    newcomers = [citizen_id(500 + n) for n in range(NEWCOMERS)]
    register = tmp_path / "newcomers.csv"
    register.write_text("name,id_number\n" + "".join(f"新人{n[-4:]},{n}\n" for n in newcomers), encoding="utf-8")
    hutong("registry", "import", "--data-dir", str(data), str(register))
    served = served_factory(data, workers=2)
    served.secrets = secrets
    first = "node.blind-index"
    rotate = ("hsm", "rotate", "--data-dir", str(data), "--label", first)
    load = Load(served, secrets["certificate_id"], newcomers=list(newcomers))
    for name in LOADS:
        load.run(name, getattr(load, name), "amr-platform" if name == "licence" else "portal")
    engine = sqlalchemy.create_engine(load_config(data).effective_database_url)
    steps: list[tuple[float, str]] = [(time.time(), "start")]
    try:
        load.progress()
        assert "would prepare" in hutong(*rotate, "--dry-run").stdout
        steps.append((time.time(), "prepare"))
        hutong(*rotate)  # prepare: look-ups match both keys, indexes still made with the first
        steps.append((time.time(), "prepared"))
        load.progress()
        hutong(*rotate)  # activate: every worker stores indexes with the new key
        steps.append((time.time(), "activated"))
        load.progress()
        time.sleep(2.0)  # every worker has seen the activation
        before = _indexes(data)
        new = before["active"]
        assert new != first and before["bad"] == []
        assert sum(n.get(new, 0) for n in before["by_column"].values()) > 0  # new rows under the new key
        # Re-indexing in slow batches of one, killed (-9) once some batches committed.
        job = subprocess.Popen([sys.executable, "-m", "hutong.cli", *rotate, "--step", "reindex", "--batch-size",
                                "1", "--pause", "0.3"], cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: _rows_done(engine, new) >= 2 or job.poll() is not None, "re-indexing to start")
            assert job.poll() is None, job.communicate()[1]
            job.send_signal(signal.SIGKILL)
        finally:
            job.wait(timeout=60)
        steps.append((time.time(), "killed"))
        load.progress()
        halfway = _indexes(data)
        assert halfway["bad"] == [] and sum(_old(halfway, first).values()) < sum(_old(before, first).values())
        assert "blind indexes recomputed" in hutong(*rotate, "--dry-run").stdout
        assert "blind-index re-indexing pending" in hutong("node", "keys", "--data-dir", str(data)).stdout
        wait_until(lambda: _metric(metrics_port, "hutong_reindex_rows_done") >= 2
                   and _metric(metrics_port, "hutong_reindex_waiting") > 0, "the re-indexing's metrics")
        resumed = hutong(*rotate, "--batch-size", "5").stdout  # resumes: step reindex
        steps.append((time.time(), "resumed"))
        assert "still wait" in resumed  # the register's match indexes: no original here
        load.progress()
        refused = hutong("hsm", "destroy", "--data-dir", str(data), "--key", first, "--yes", check=False)
        assert refused.returncode == 2 and "NODE_KEY_STILL_NEEDED" in refused.stderr  # the first key: pseudonyms
        waiting = _indexes(data)
        # The register re-imported (the operator's step), then the job once more releases the old key.
        for csv in (data.parent / "people.csv", data.parent / "orgs.csv", register):
            hutong("registry", "import", "--data-dir", str(data), str(csv))
        steps.append((time.time(), "reimported"))
        assert "released" in hutong(*rotate).stdout
        steps.append((time.time(), "released"))
        load.progress()
    finally:
        load.finish()
        engine.dispose()
    assert load.failures == [], (load.failures[:5], steps)
    assert load.done["register"] > 0 and len(load.newcomers) < NEWCOMERS
    wait_until(lambda: _metric(metrics_port, "hutong_reindex_waiting") == 0, "the metrics to show it finished")
    assert "re-indexing pending" not in hutong("node", "keys", "--data-dir", str(data)).stdout
    after = _indexes(data)
    assert after["bad"] == [] and {k for n in after["by_column"].values() for k in n} == {new}
    assert [o for o in after["orphans"] if not o.startswith(REGISTER_REINDEXED)] == []
    # Each index the job found under the old key was recomputed by it exactly once (the register's rows are
    # also re-indexed by presentation and re-import, so the job did at most the rest).
    progress = {k.split(" ", 1)[1]: n for k, n in after["progress"].items() if k.startswith(new + " ")}
    old = _old(before, first)
    for column, n in old.items():
        if column.startswith(REGISTER_REINDEXED):
            assert progress.get(column, 0) <= n - _old(waiting, first).get(column, 0), column
        else:
            assert progress.get(column, 0) == n, (column, progress.get(column), n)
    actions = after["actions"]
    assert actions[:3] == ["pki.rollover.prepare", "pki.rollover.activate", "pki.reindex.start"]
    assert actions[-1] == "pki.reindex.finish" and actions.count("pki.reindex.start") == 1
    served.stop()
    assert "audit log intact" in hutong("audit", "verify", "--data-dir", str(data)).stdout


@pytest.mark.slow
@pytest.mark.xdist_group(UNDER_LOAD)
@pytest.mark.timeout(900)
def test_the_node_reindexes_by_itself_after_activation(tmp_path: Path,
                                                      served_factory: Callable[..., Served]) -> None:
    """No officer's ``--step reindex``: the serving workers notice the activation, one of them walks every index
    column (the others find the lock taken), under load, with no failed call; only what has no original here (the
    register's match indexes) waits, and the node does not start the walk again."""
    data = tmp_path / "node"
    secrets = build_node(data, "\n[rekey]\ncheck_seconds = 0.5\nbatch = 20\npause = 0.05\n")
    served = served_factory(data, workers=2)
    served.secrets = secrets
    first = "node.blind-index"
    rotate = ("hsm", "rotate", "--data-dir", str(data), "--label", first)
    load = Load(served, secrets["certificate_id"])
    for name in LOADS:
        load.run(name, getattr(load, name), "amr-platform" if name == "licence" else "portal")
    try:
        load.progress()
        hutong(*rotate)  # prepare
        load.progress()
        hutong(*rotate)  # activate: nothing more from the officer
        deadline = time.monotonic() + 300
        while not re.search(r"(\d+) of \1 index columns walked",
                            hutong("node", "keys", "--data-dir", str(data)).stdout):
            assert time.monotonic() < deadline, "the node did not re-index by itself"
            time.sleep(1.0)
        load.progress()
        time.sleep(2.0)  # several more looks of each worker: none starts the walk again
        load.progress()
    finally:
        load.finish()
    assert load.failures == [], load.failures[:5]
    after = _indexes(data)
    new = after["active"]
    assert new != first and after["bad"] == []
    still = {c for c, n in after["by_column"].items() if n.get(first, 0)}
    assert still and all(c.startswith(REGISTER_REINDEXED) for c in still), still  # only what has no original here
    assert after["actions"].count("pki.reindex.start") == 1 and after["actions"][-1] == "pki.reindex.finish"
    assert after["actions"].count("pki.reindex.finish") == 1  # walked once, not again at every look
    assert set(after["reindex_actors"]) == {"node"}  # started by the node itself, no officer
    served.stop()
    assert "audit log intact" in hutong("audit", "verify", "--data-dir", str(data)).stdout


@pytest.mark.slow
@pytest.mark.xdist_group(UNDER_LOAD)
@pytest.mark.timeout(900)
def test_the_nodes_own_reindexing_killed_mid_walk_resumes_after_restart(
        tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    """The walk the serving workers run by themselves (``rekey_task``), in slow batches of one, is killed (-9, the
    whole server) once a batch committed; the restarted node resumes after the last committed batch: every
    index the first key made is re-indexed exactly once, each equal to the HSM's HMAC of its original under the
    new key, one start and one finish audited, all by the node."""
    data = tmp_path / "node"
    build_node(data, "\n[rekey]\ncheck_seconds = 0.5\nbatch = 1\npause = 2.0\n")  # slow batches: killed mid-walk
    first = "node.blind-index"
    rotate = ("hsm", "rotate", "--data-dir", str(data), "--label", first)
    served = served_factory(data, workers=2)
    engine = sqlalchemy.create_engine(load_config(data).effective_database_url)
    try:
        hutong(*rotate)  # prepare
        before = _indexes(data)  # nothing is written meanwhile: what the first key made, to be re-indexed
        hutong(*rotate)  # activate: the node walks by itself
        wait_until(lambda: _rows_done(engine, None, but=first) >= 1, "the node's re-indexing to start")
        kill_server(served)
        new = _indexes(data)["active"]
        assert new != first
        halfway = _indexes(data)
        walked = re.compile(r"(\d+) of \1 index columns walked")
        assert not walked.search(hutong("node", "keys", "--data-dir", str(data)).stdout), "killed too late"
        assert halfway["bad"] == [] and sum(_old(halfway, first).values()) < sum(_old(before, first).values())
        served_factory(data, workers=2)  # restarted: a worker resumes
        deadline = time.monotonic() + 300
        while not walked.search(hutong("node", "keys", "--data-dir", str(data)).stdout):
            assert time.monotonic() < deadline, "the restarted node did not resume the re-indexing"
            time.sleep(1.0)
    finally:
        engine.dispose()
    after = _indexes(data)
    assert after["bad"] == []
    progress = {k.split(" ", 1)[1]: n for k, n in after["progress"].items() if k.startswith(new + " ")}
    for column, n in _old(before, first).items():
        if not column.startswith(REGISTER_REINDEXED):  # the register's match indexes wait for a re-import
            assert progress.get(column, 0) == n, (column, progress.get(column), n)
            assert after["by_column"][column].get(first, 0) == 0, column
    assert after["actions"].count("pki.reindex.start") == 1 and after["actions"].count("pki.reindex.finish") == 1
    assert after["actions"][-1] == "pki.reindex.finish" and set(after["reindex_actors"]) == {"node"}
