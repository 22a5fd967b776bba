"""The documented examples (docs/examples/*.py) run against a real node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from tests.clients.sdk_world import ACME, PASSWORD, ZHANG, World, licence_fields


def test_platform_logs_in_and_seals(world: World, example: Callable[[str], ModuleType], pdf: Path,
                                   tmp_path: Path) -> None:
    out = example("platform_login_and_seal").main(
        world.target, "portal", world.portal_secret, ZHANG, PASSWORD, ACME[0], ACME[1], pdf, tmp_path / "sealed.pdf")
    assert out["acr"] == "substantial" and out["subject"]
    assert out["verdict"] == "VERDICT_VALID"
    assert out["offline_verdict"] == "valid"
    assert (tmp_path / "sealed.pdf").read_bytes().startswith(b"%PDF")


def test_department_issues_certificates(world: World, example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    fields = licence_fields()
    header = ["holder_id", "holder_name", *fields]
    rows = [[ACME[0], ACME[1], *fields.values()],
            ["91110000600037341N", "坏数据有限公司", *fields.values()]]  # bad check character: that row fails
    csv = tmp_path / "licences.csv"
    csv.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    seen: list[tuple[int, int]] = []
    out = example("department_issue_certificates").main(
        world.target, "amr-platform", world.regulator_secret, world.licence_type, csv,
        progress=lambda done, total: seen.append((done, total)))
    assert len(out["issued"]) == 1 and len(out["failed"]) == 1 and "CHECK_CHARACTER_MISMATCH" in out["failed"][0]
    assert seen[-1] == (2, 2)
    assert out["offline_before"] == "valid"
    assert (out["online_after"], out["status_after"]) == ("VERDICT_INVALID", "CERT_STATUS_SUSPENDED")
    assert out["offline_after"] == "suspended"


def test_officer_manages_keys(world: World, example: Callable[[str], ModuleType]) -> None:
    out = example("officer_manage_keys").main(world.data_dir, "example-dept-key")
    assert out["pin"] == "ok" and out["active_never_extractable"]
    assert out["csr"] == "-----BEGIN CERTIFICATE REQUEST-----"
    assert out["retired_destroyed"] and out["audit_ok"]
