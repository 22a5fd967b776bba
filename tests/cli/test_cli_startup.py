"""A client command starts without the node's heavy machinery (no timing here: bench/fig_cli.py measures it).

What makes ``hutong`` slow to start is importing SQLAlchemy, pyHanko, PyKCS11 and every area's commands
for every call; these tests check the imports themselves, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

import pytest

from hutong import cli
from tests.clients.sdk_world import World

HEAVY = ("sqlalchemy", "pyhanko", "PyKCS11", "fontTools", "argon2", "prometheus_client", "bench.runner",
         "hutong.demo.scenario")

PROBE = """
import json, sys
from hutong.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps(code), file=sys.stderr)
print(json.dumps(sorted(m for m in sys.modules)), file=sys.stderr)
"""


def _run_probe(argv: tuple[str, ...], env: dict[str, str] | None = None) -> tuple[set[str], int]:
    """The modules loaded by ``hutong ARGV`` in a fresh interpreter, and its exit code."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, env=env)
    lines = proc.stderr.strip().splitlines()
    return set(json.loads(lines[-1])), int(json.loads(lines[-2])) if len(lines) > 1 else -1


def _loaded(*argv: str) -> set[str]:
    return _run_probe(argv)[0]


@pytest.mark.parametrize("argv", [("cert", "list", "--help"), ("seal", "sign", "--help"),
                                  ("identity", "login", "--help"), ("seal", "verify", "--help")])
def test_client_commands_load_no_heavy_modules(argv: tuple[str, ...]) -> None:
    loaded = _loaded(*argv)
    assert not {m for m in HEAVY if m in loaded}, f"hutong {' '.join(argv)} imports {[m for m in HEAVY if m in loaded]}"
    others = {m for m in cli.AREA_GROUPS.values() if m != cli.AREA_GROUPS[argv[0]]}
    assert not others & loaded, "another area's commands were imported"


def test_real_client_commands_against_a_node_load_no_heavy_modules(world: World) -> None:
    """Not only ``--help``: commands that really call a node (lists, lookups) stay light too."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")},
           "HUTONG_CLIENT_SECRET": world.regulator_secret}
    conn = ("--target", world.target, "--client-id", "amr-platform")
    for argv in (("cert", "types", *conn), ("cert", "list", "--type-code", world.licence_type, *conn),
                 ("cert", "issuers", *conn)):
        loaded, code = _run_probe(argv, env)
        assert code == 0, argv
        assert not {m for m in HEAVY if m in loaded}, f"hutong {' '.join(argv)} imports " \
            f"{[m for m in HEAVY if m in loaded]}"
        assert not {m for m in cli.AREA_GROUPS.values() if m != "cert_svc.cli"} & loaded


def test_area_groups_table_names_what_each_module_registers() -> None:
    """``AREA_GROUPS`` (the lazy dispatch table) must match the groups the area modules really add."""
    found: dict[str, str] = {}
    for module_name in {*cli.AREA_CLIS, "hsm.cli"}:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        module = importlib.import_module(module_name)
        if module_name == "hsm.cli":
            module.register(sub, audit_sink_factory=lambda args: None)
        else:
            module.register(sub)
        for name in sub.choices:
            found[name] = module_name
    assert found == cli.AREA_GROUPS


def test_every_command_still_parses_with_lazy_loading() -> None:
    full = cli.build_parser()
    groups = [name for action in full._subparsers._group_actions for name in action.choices]  # type: ignore[union-attr]
    for group in groups:
        parser = cli.build_parser([group, "--help"])
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([group, "--help"])
        assert exit_info.value.code == 0
