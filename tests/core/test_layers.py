"""The layer and boundary rules of docs/ENGINEERING.md, read from the imports (ast, every import, also the
ones inside functions): a change that breaks one fails here with the file and the import.

Layers, bottom up: ``hsm`` (the ground) < the core ``hutong`` < the services (``identity_svc``, ``seal_svc``,
``cert_svc``) < the app layer (server wiring, CLIs, demo, edge routes). The SDK (``hutong_client``) is a
client of nodes: it uses only the light core (errors, call-metadata names, the client half of the error
mapping, generated stubs, ``hutong.verify``), and no server package imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity_svc", "seal_svc", "cert_svc")
PROJECT = ("hutong", "hsm", *SERVICES, "hutong_client", "bench", "tests")
# The app layer: composes the node and talks to users; may use anything, the SDK included.
APP = ("hutong/server.py", "hutong/wiring.py", "hutong/demo/", "hutong/migrations/", "hutong/edge/", "hutong/oidc/",
       "hutong/protogen.py", "/cli.py")  # every area's command line included
# Where gRPC may be imported outside the app layer: the error boundary, servicers and their wiring, and the
# federation's node-to-node plumbing.
GRPC_ALLOWED = ("hutong/rpc.py", "hutong/status.py", "hutong/federation/service.py", "hutong/federation/relay.py",
                "hutong/federation/transport.py", "/servicer.py", "/service.py")
# What the SDK distribution ships of the core (clients/setup.py SHARED_CORE, plus the stubs and hutong.verify).
SHARED_CORE = ("hutong/__init__.py", "hutong/errors.py", "hutong/auth.py", "hutong/status.py", "hutong/verify/")
LIGHT_THIRD_PARTY = {"grpc", "grpc_status", "google", "cryptography", "asn1crypto", "pyhanko", "pyhanko_certvalidator"}
# Known debt, to be removed: domain modules that still open gRPC channels to peers (they move onto
# hutong.federation.transport). The test fails when one is gone too, so the list only shrinks.
KNOWN_GRPC_IN_DOMAIN: set[str] = set()


def _files(*tops: str) -> Iterator[Path]:
    for top in tops:
        base = ROOT / top
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            rel = path.relative_to(ROOT).as_posix()
            if "/v1/" not in rel and "/migrations/versions/" not in rel:
                yield path


def _rel(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    return rel.removeprefix("clients/")


@cache
def _imports(path: Path) -> frozenset[str]:
    """Every absolute module an import statement in ``path`` names (``from a import b`` gives a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(found)


def _top(module: str) -> str:
    return module.split(".")[0]


def _in(rel: str, prefixes: tuple[str, ...]) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) or (p.startswith("/") and rel.endswith(p))
               for p in prefixes)


def test_hsm_imports_nothing_of_the_project() -> None:
    broken = [(_rel(p), m) for p in _files("hsm") for m in _imports(p) if _top(m) in PROJECT and _top(m) != "hsm"]
    assert not broken, f"hsm is the ground: it has its own errors and imports nothing of the project: {broken}"


def test_the_core_imports_no_service_and_not_the_sdk() -> None:
    broken = [(_rel(p), m) for p in _files("hutong") if not _in(_rel(p), APP)
              for m in _imports(p) if _top(m) in (*SERVICES, "hutong_client")]
    assert not broken, f"the core must not import a service or the SDK (inject a Protocol instead): {broken}"


def test_no_service_imports_another_service() -> None:
    crossings = sorted({(_rel(p), _top(m)) for p in _files(*SERVICES) if not _in(_rel(p), APP)
                        for m in _imports(p) if _top(m) in SERVICES and _top(m) != _rel(p).split("/")[0]})
    assert not crossings, f"a service reaches into another (ask through a hutong.peers Protocol): {crossings}"


def test_server_packages_do_not_import_the_sdk() -> None:
    broken = [(_rel(p), m) for p in _files("hsm", "hutong", *SERVICES) if not _in(_rel(p), APP)
              for m in _imports(p) if _top(m) == "hutong_client"]
    assert not broken, f"the SDK is a client: no server package imports it: {broken}"


def test_domain_modules_do_not_import_grpc() -> None:
    domain = {_rel(p) for p in _files("hutong", *SERVICES) if not _in(_rel(p), APP + GRPC_ALLOWED)}
    users = {rel for p in _files("hutong", *SERVICES) if (rel := _rel(p)) in domain
             and any(_top(m) == "grpc" for m in _imports(p))}
    new = sorted(users - KNOWN_GRPC_IN_DOMAIN)
    assert not new, f"domain code never imports grpc (servicers convert; peers go through the transport): {new}"
    gone = sorted(KNOWN_GRPC_IN_DOMAIN - users)
    assert not gone, f"no longer import grpc: remove them from KNOWN_GRPC_IN_DOMAIN: {gone}"


def test_the_sdk_and_the_shared_core_stay_light() -> None:
    """What hutong-client ships imports only the shared core, stubs and light libraries: else the SDK
    would not install or import without the server's dependencies."""
    broken = []
    for path in [*_files("clients/hutong_client"), *_files("hutong")]:
        rel = _rel(path)
        if not (rel.startswith("hutong_client/") or _in(rel, SHARED_CORE)):
            continue
        for module in _imports(path):
            top = _top(module)
            if top in PROJECT:
                ok = (top == "hutong_client" or _in(module.replace(".", "/") + ".py", SHARED_CORE)
                      or module.startswith("hutong.verify") or ".v1" in module
                      or module in ("hutong", "hutong.errors", "hutong.auth", "hutong.status")
                      or module.rsplit(".", 1)[0] in ("hutong.errors", "hutong.auth", "hutong.status"))
            else:
                ok = top in LIGHT_THIRD_PARTY or top in _stdlib()
            if not ok:
                broken.append((rel, module))
    assert not broken, f"the SDK's part of the tree imports something heavy: {broken}"


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names) | {"__future__"}


def _servicer_files() -> Iterator[Path]:
    """Every module defining a gRPC servicer class (``class XServicer(..._pb2_grpc.XServicer)``)."""
    for path in _files("hutong", *SERVICES):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and n.name.endswith("Servicer") for n in tree.body):
            yield path


def _opens_sessions(path: Path) -> list[int]:
    """Lines where ``path`` opens a database session (``<anything>.session(...)``, ``Session(...)``)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == "session") or (isinstance(f, ast.Name)
                                                                          and f.id == "Session"):
                lines.append(node.lineno)
    return lines


def test_servicers_only_convert() -> None:
    """One service shape: a servicer converts, calls its service's facade, converts back. Transactions and
    authorisation are the domain's: a servicer that imports SQLAlchemy or opens a session fails here."""
    files = list(_servicer_files())
    assert {_rel(p) for p in files} >= {f"{s}/servicer.py" for s in SERVICES}, "the servicers were not found"
    broken = [(_rel(p), m) for p in files for m in _imports(p) if _top(m) == "sqlalchemy"]
    broken += [(_rel(p), f"session opened on line {n}") for p in files for n in _opens_sessions(p)]
    assert not broken, f"a servicer only converts and calls the facade (move this into the domain): {broken}"


# -- import cycles -------------------------------------------------------------------------------

MODULE_ROOTS = ("hsm", "hutong", *SERVICES, "clients/hutong_client")


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for path in _files(*MODULE_ROOTS):
        name = _rel(path)[:-3].replace("/", ".").removesuffix(".__init__")
        found[name] = path
    return found


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (``a.b.func`` -> ``a.b``), None outside the project."""
    mods = _modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


@cache
def _edges(module: str) -> tuple[frozenset[str], frozenset[tuple[str, int]]]:
    """(modules imported when ``module`` is, (modules imported inside its functions, line)). ``if
    TYPE_CHECKING`` imports are neither. Importing ``a.b.c`` also runs ``a`` and ``a.b``, except the packages
    ``module`` itself is inside (they are already being imported)."""
    eager: set[str] = set()
    lazy: set[tuple[str, int]] = set()
    own = {module.rsplit(".", n)[0] for n in range(module.count(".") + 1)}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                elif child.level == 0 and child.module:
                    names = [f"{child.module}.{a.name}" for a in child.names]
                else:
                    names = []
                for name in names:
                    target = _resolve(name)
                    if target is None or target in own:
                        continue
                    if in_function:
                        lazy.add((target, child.lineno))
                    else:
                        parts = target.split(".")
                        eager.update(p for i in range(1, len(parts) + 1)
                                     if (p := ".".join(parts[:i])) in _modules() and p not in own)
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(_modules()[module].read_text(encoding="utf-8")), False)
    return frozenset(eager), frozenset(lazy)


def _path(start: str, goal: str) -> list[str] | None:
    """A chain of module-level imports from ``start`` to ``goal``, if there is one."""
    came: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        here = queue.pop(0)
        if here == goal:
            chain = [here]
            while (before := came[chain[-1]]) is not None:
                chain.append(before)
            return chain[::-1]
        for there in sorted(_edges(here)[0]):
            if there not in came:
                came[there] = here
                queue.append(there)
    return None


def test_no_import_cycles() -> None:
    """No module reaches itself through module-level imports (one package's ``__init__`` re-exporting its
    modules is not a cycle: they import their package while it is being imported)."""
    cycles = sorted({" -> ".join([m, *chain]) for m in _modules() for t in sorted(_edges(m)[0])
                     if (chain := _path(t, m)) is not None})
    assert not cycles, f"import cycles between modules (layer them, or inject): {cycles[:5]}"


def test_no_cycle_hidden_behind_a_function_level_import() -> None:
    """An import moved into a function to dodge a cycle is still a cycle: the two modules depend on each other.
    Lazy imports stay for start-up time (command lines, heavy optional libraries), never for cycles."""
    hidden = [f"{_rel(_modules()[m])}:{line} imports {t}, which imports it back: {' -> '.join(chain)}"
              for m in _modules() for t, line in sorted(_edges(m)[1]) if (chain := _path(t, m)) is not None]
    assert not hidden, f"cycles hidden behind function-level imports: {hidden}"
