"""Operators' commands: ``hutong registry import`` and ``hutong platform add|list|remove``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hutong.cli import EXIT_ERROR, EXIT_OK, main
from hutong.node import Node
from identity_svc.core import Identity
from identity_svc.registers import TableRegister

from .conftest import ACME, IDENTITY_CONFIG, PEOPLE, ZHANG, write_register_csvs


@pytest.fixture
def bare_node(node_factory) -> Node:  # type: ignore[no-untyped-def]
    node: Node = node_factory(config=IDENTITY_CONFIG)
    return node


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_registry_import(bare_node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people, orgs = write_register_csvs(tmp_path)
    data_dir = str(bare_node.config.data_dir)
    assert _run(capsys, "registry", "import", str(people), "--data-dir", data_dir)[:2] == (
        EXIT_OK, f"imported {len(PEOPLE)} people into the embedded register\n")
    assert _run(capsys, "registry", "import", str(orgs), "--data-dir", data_dir)[0] == EXIT_OK
    register = TableRegister(Identity.of(bare_node))
    assert register.person_matches(ZHANG, "张三") and not register.person_matches(ZHANG, "李四")
    assert register.is_representative(ACME[0], ZHANG) and register.organisation_matches(*ACME)


def test_registry_import_is_all_or_nothing(bare_node: Node, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text("name,id_number\n张三,11010519491231002X\n李四,110102199101010079\n", encoding="utf-8")
    code, _, err = _run(capsys, "registry", "import", str(bad), "--data-dir", str(bare_node.config.data_dir))
    assert code == EXIT_ERROR
    assert "REGISTER_IMPORT_INVALID" in err and "line 3: CHECK_CHARACTER_MISMATCH" in err
    assert "110102199101010079" not in err
    assert not TableRegister(Identity.of(bare_node)).person_matches(ZHANG, "张三")


def test_platform_commands(bare_node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(bare_node.config.data_dir)
    code, out, _ = _run(capsys, "platform", "add", "gov-portal", "--name", "政务门户", "--scope", "profile",
                        "--required-level", "high", "--json", "--data-dir", d)
    added = json.loads(out)
    assert code == EXIT_OK and added["required_acr"] == "high" and len(added["client_secret"]) > 30
    assert _run(capsys, "platform", "add", "gov-portal", "--data-dir", d)[0] == EXIT_ERROR
    listed = json.loads(_run(capsys, "platform", "list", "--json", "--data-dir", d)[1])
    assert listed == [{k: v for k, v in added.items() if k != "client_secret"}]
    assert _run(capsys, "platform", "remove", "gov-portal", "--data-dir", d)[0] == EXIT_OK
    assert json.loads(_run(capsys, "platform", "list", "--json", "--data-dir", d)[1]) == []
    code, _, err = _run(capsys, "platform", "remove", "gov-portal", "--data-dir", d)
    assert code == EXIT_ERROR and "PLATFORM_NOT_FOUND" in err
