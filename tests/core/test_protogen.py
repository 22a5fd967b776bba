"""The committed generated code is exactly what the .proto files produce."""

from __future__ import annotations

from pathlib import Path

from hutong.protogen import ROOT, generate


def test_generated_code_is_current(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh, "protoc produced nothing"
    stale = [str(rel) for rel, data in fresh.items() if not (ROOT / rel).exists() or (ROOT / rel).read_bytes() != data]
    assert not stale, f"regenerate with `python -m hutong.protogen`: {stale}"
