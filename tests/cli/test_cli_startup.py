"""A client command starts without the node's heavy machinery (no timing here: bench/fig_cli.py measures it).

What makes ``hutong`` slow to start is importing SQLAlchemy, pyHanko, PyKCS11 and every area's commands
for every call; these tests check the imports themselves, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from hutong import cli

HEAVY = ("sqlalchemy", "pyhanko", "PyKCS11", "fontTools", "argon2", "prometheus_client", "bench.runner",
         "hutong.demo.scenario")

PROBE = """
import json, sys
from hutong.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules)), file=sys.stderr)
"""


def _loaded(*argv: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [("cert", "list", "--help"), ("seal", "sign", "--help"),
                                  ("identity", "login", "--help"), ("seal", "verify", "--help")])
def test_client_commands_load_no_heavy_modules(argv: tuple[str, ...]) -> None:
    loaded = _loaded(*argv)
    assert not {m for m in HEAVY if m in loaded}, f"hutong {' '.join(argv)} imports {[m for m in HEAVY if m in loaded]}"
    others = {m for m in cli.AREA_GROUPS.values() if m != cli.AREA_GROUPS[argv[0]]}
    assert not others & loaded, "another area's commands were imported"


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
