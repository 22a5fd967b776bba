"""Fixtures for the SDK, example and non-Python client tests: ``world`` (see sdk_world.py), ``example``, ``pdf``."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.clients.sdk_world import world  # noqa: F401  (fixture)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]



def load_path(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_loaded_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example() -> Callable[[str], ModuleType]:
    """``example("platform_login_and_seal")``: the module under docs/examples."""
    return lambda name: load_path(ROOT / "docs" / "examples" / f"{name}.py")


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    """A small two-page PDF on disk (bench/pdfgen.py)."""
    from bench.pdfgen import make_pdf_file

    return make_pdf_file(tmp_path / "contract.pdf")
