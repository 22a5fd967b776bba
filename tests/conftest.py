"""Shared fixtures: real SoftHSM2 tokens, real databases (SQLite and a PostgreSQL server started here),
real gRPC servers on loopback.

All SoftHSM tokens of a test session live in one token directory (SoftHSM reads its configuration
once per process); each node gets its own token label, database and data directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from hutong.demo.cluster import free_port

_SOFTHSM_ROOT = Path(tempfile.mkdtemp(prefix="hutong-softhsm-"))
(_SOFTHSM_ROOT / "tokens").mkdir()
(_SOFTHSM_ROOT / "softhsm2.conf").write_text(
    f"directories.tokendir = {_SOFTHSM_ROOT / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
)
# Before anything loads the PKCS#11 module (and inherited by subprocess servers).
os.environ["SOFTHSM2_CONF"] = str(_SOFTHSM_ROOT / "softhsm2.conf")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=("sqlite", "postgresql"), default="sqlite",
                     help="database of the nodes tests create by default (scripts/test runs the services on both)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _group_by_file(config, items)
    _only_what_the_database_changes(config, items)


def _group_by_file(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--dist loadgroup`` (the slow step): a test without an ``xdist_group`` of its own goes with its file, as
    under ``--dist loadfile`` (module fixtures are made once); a group a test names (the under-load cases) may
    span files and runs on one worker, one test after the other."""
    if getattr(config.option, "dist", "no") != "loadgroup":
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _only_what_the_database_changes(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--db postgresql`` re-runs tests for what changes with the database: only a node the factory makes
    (``node``, ``served`` and the rest built on ``node_factory``) takes ``--db``. A test that never reaches the
    factory (a PDF, CMS or JOSE check, argument parsing, a document) runs exactly as in the SQLite pass, so the
    PostgreSQL pass leaves it out (one that asks for ``postgres_server`` itself ran on PostgreSQL in the first
    pass already). A test on ``any_node`` ran once per backend in the first pass, so it is left out too."""
    if config.getoption("--db") != "postgresql":
        return
    keep, dropped = [], []
    for item in items:
        names = getattr(item, "fixturenames", ())
        (keep if "node_factory" in names and "any_node" not in names else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SOFTHSM_ROOT, ignore_errors=True)


# -- PostgreSQL -------------------------------------------------------------------------------

def _pg_bin() -> Path | None:
    base = Path("/usr/lib/postgresql")
    versions = sorted(base.glob("*/bin/initdb")) if base.exists() else []
    return versions[-1].parent if versions else None


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a loopback port; yields a base URL without database."""
    if url := os.environ.get("HUTONG_TEST_POSTGRES_URL"):
        yield url.rstrip("/")
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/setup")
    root = Path(tempfile.mkdtemp(prefix="hutong-pg-"))
    datadir = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "hutong",
                                 "--no-sync"]), check=True, capture_output=True)
    port = free_port()
    # Many nodes live in one test session, each with its own pool: allow plenty of connections.
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off "
            "-c max_connections=1000")
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l",
                                 str(root / "log"), "-w", "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://hutong@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _create_database(base_url: str, *, template: str = "") -> str:
    """A new database on the server (empty, or a copy of ``template``); returns its URL."""
    import sqlalchemy

    name = "t_" + uuid.uuid4().hex[:12]
    engine = sqlalchemy.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return f"{base_url}/{name}"


class _MigratedSchemas:
    """One database per backend migrated to the newest revision once per test process; a node the factory
    makes starts from a copy of it (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL)
    instead of running every migration again (~0.7 s a node, and the suite makes well over a thousand).

    ``init_node`` still runs ``upgrade head`` on the copy (a no-op there), so what a node sees is what a fresh
    migration gives. Tests of the migrations themselves make their own empty databases."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._sqlite: Path | None = None
        self._pg_name = ""

    def sqlite_file(self) -> Path:
        if self._sqlite is None:
            from hutong.db import Database

            path = self._root / "migrated.db"
            db = Database(f"sqlite:///{path}")
            db.migrate()
            db.dispose()
            assert not path.with_name(path.name + "-wal").exists(), "the template must be one self-contained file"
            self._sqlite = path
        return self._sqlite

    def postgres_database(self, base_url: str) -> str:
        if not self._pg_name:
            from hutong.db import Database

            url = _create_database(base_url)
            db = Database(url)
            db.migrate()
            db.dispose()  # a template database takes no copies while anyone is connected to it
            self._pg_name = url.rsplit("/", 1)[1]
        return _create_database(base_url, template=self._pg_name)


# -- nodes ------------------------------------------------------------------------------------

NodeFactory = Callable[..., "object"]


@pytest.fixture(scope="session")
def node_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[NodeFactory]:
    """``make(node_id="a", backend="sqlite"|"postgresql", config="extra toml") -> Node`` (initialised).

    The backend defaults to ``--db`` (SQLite unless the run asks for PostgreSQL)."""
    from hutong.node import init_node
    from hutong.wiring import wire

    made = []
    schemas = _MigratedSchemas(tmp_path_factory.mktemp("migrated"))
    default_backend = request.config.getoption("--db")

    def make(node_id: str | None = None, *, backend: str = "", config: str = "") -> object:
        backend = backend or default_backend
        node_id = node_id or "n-" + uuid.uuid4().hex[:8]
        data_dir = tmp_path_factory.mktemp(f"node-{node_id}")
        token = f"{node_id}-{uuid.uuid4().hex[:8]}"
        lines = [f'[node]\nid = "{node_id}"\nname = "Node {node_id}"\n', f'[hsm]\ntoken_label = "{token}"\n']
        if backend == "postgresql":
            url = schemas.postgres_database(request.getfixturevalue("postgres_server"))
            lines.insert(0, f'database_url = "{url}"\n')
        elif "database_url" not in config:
            shutil.copyfile(schemas.sqlite_file(), data_dir / "hutong.db")
        (data_dir / "hutong.toml").write_text("".join(lines) + config)
        node = wire(init_node(data_dir))
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


@pytest.fixture
def node(node_factory: NodeFactory) -> object:
    """A fresh node (``--db``: SQLite by default) with its own SoftHSM token and PKI."""
    return node_factory()


@pytest.fixture
def pg_node(node_factory: NodeFactory) -> object:
    """A fresh node on PostgreSQL."""
    return node_factory(backend="postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_node(request: pytest.FixtureRequest, node_factory: NodeFactory) -> object:
    """Contract suites run once per database backend."""
    return node_factory(backend=request.param)


# -- servers ----------------------------------------------------------------------------------

@pytest.fixture
def serve() -> Iterator[Callable[[object], grpc.Channel]]:
    """``serve(node) -> channel``: a real gRPC server for the node on 127.0.0.1, stopped afterwards.

    The channel is a platform's (plaintext port, ``channel.hutong_public_target``); other nodes reach the
    node on its mutual-TLS federation port, ``channel.hutong_target``."""
    from hutong.server import start_server

    running, channels = [], []

    def start(node: object) -> grpc.Channel:
        srv = start_server(node, "127.0.0.1:0", threads=8, federation="127.0.0.1:0")  # type: ignore[arg-type]
        running.append(srv)
        limit = node.config.server.max_message_bytes  # type: ignore[attr-defined]
        ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}", options=[
            ("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)])
        grpc.channel_ready_future(ch).result(timeout=10)
        ch.hutong_target = f"127.0.0.1:{srv.federation_port}"  # type: ignore[attr-defined]  # where peers reach it
        ch.hutong_public_target = f"127.0.0.1:{srv.port}"  # type: ignore[attr-defined]  # where platforms do
        channels.append(ch)
        return ch

    yield start
    for ch in channels:
        ch.close()
    for srv in running:
        srv.stop(grace=0)


@pytest.fixture
def channel(node: object, serve: Callable[[object], grpc.Channel]) -> grpc.Channel:
    """A channel to a running server for the ``node`` fixture."""
    return serve(node)
