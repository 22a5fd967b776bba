"""The HSM token or the database taken away from a serving node and given back: calls answer
HSM_UNAVAILABLE / DATABASE_UNAVAILABLE, health turns NOT_SERVING, and the node recovers by itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hutong_client import NO_RETRY, Hutong, Unavailable
from tests.clients.sdk_world import LI, PASSWORD
from tests.conftest import _create_database
from tests.keys.conftest import NOT_SERVING, SERVING, PrivatePostgres, Served, build_node, health, hutong, wait_health

SERVICES = ("hutong.identity.v1.IdentityService", "hutong.seal.v1.SealService", "hutong.cert.v1.CertService")


def _login(served: Served) -> str:
    with Hutong(served.target, client_id="portal", client_secret=served.secrets["portal_secret"],
                retry=NO_RETRY) as h:
        tokens = h.identity.login(LI, PASSWORD)
        claims = h.identity.verify(tokens.id_token)  # against the node's JWKS
        assert claims["acr"]
        return str(tokens.access_token)


def _login_fails(served: Served, reason: str) -> None:
    with pytest.raises(Unavailable) as exc:
        _login(served)
    assert exc.value.reason == reason, exc.value


def test_token_taken_away_and_given_back(tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    data = tmp_path / "node"
    secrets = build_node(data)
    served = served_factory(data)
    served.secrets = secrets
    ch = served.channel()
    _login(served)

    tokens, away = data / "softhsm" / "tokens", tmp_path / "tokens-away"
    shutil.move(tokens, away)
    wait_health(ch, NOT_SERVING)
    assert all(health(ch, s) == NOT_SERVING for s in SERVICES)
    _login_fails(served, "HSM_UNAVAILABLE")
    _login_fails(served, "HSM_UNAVAILABLE")  # still, not some other error once the module gave up

    shutil.move(away, tokens)  # the token comes back: no restart
    wait_health(ch, SERVING)
    assert all(health(ch, s) == SERVING for s in SERVICES)
    _login(served)
    ch.close()
    err = served.stop()
    assert "not ready: hsm check failed: HSM_UNAVAILABLE" in err and "health: SERVING" in err


def test_sqlite_file_taken_away_and_given_back(tmp_path: Path, served_factory: Callable[..., Served]) -> None:
    data = tmp_path / "node"
    secrets = build_node(data)
    served = served_factory(data)
    served.secrets = secrets
    ch = served.channel()
    _login(served)

    db, away = data / "hutong.db", tmp_path / "hutong.db.away"
    shutil.move(db, away)
    wait_health(ch, NOT_SERVING)
    _login_fails(served, "DATABASE_UNAVAILABLE")
    shutil.move(away, db)
    wait_health(ch, SERVING)
    _login(served)
    ch.close()
    err = served.stop()
    assert "not ready: database check failed: DATABASE_UNAVAILABLE" in err


def test_postgresql_stopped_and_started(tmp_path: Path, served_factory: Callable[..., Served],
                                        private_postgres: PrivatePostgres) -> None:
    data = tmp_path / "node"
    secrets = build_node(data, database_url=_create_database(private_postgres.base_url))
    served = served_factory(data)
    served.secrets = secrets
    ch = served.channel()
    _login(served)

    private_postgres.stop()
    wait_health(ch, NOT_SERVING)
    _login_fails(served, "DATABASE_UNAVAILABLE")
    private_postgres.start()
    wait_health(ch, SERVING)
    _login(served)  # the pool reconnected by itself

    # A backup while serving (pg_dump), restored into another database and directory, verifies and serves.
    hutong("node", "backup", "--data-dir", str(data), str(tmp_path / "backup"), "--include-secrets")
    refused = hutong("node", "restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "copy"), check=False)
    assert refused.returncode == 2 and "DATABASE_URL_REQUIRED" in refused.stderr
    copy_db = _create_database(private_postgres.base_url)
    hutong("node", "restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "copy"), "--database-url",
           copy_db)
    assert "PROBLEM" not in hutong("node", "verify", "--data-dir", str(tmp_path / "copy")).stdout
    ch.close()
    err = served.stop()
    assert "not ready: database check failed: DATABASE_UNAVAILABLE" in err
    copy = served_factory(tmp_path / "copy")
    copy.secrets = secrets
    _login(copy)
