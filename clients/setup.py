"""Build hook for the ``hutong-client`` distribution: of the server's top-level ``hutong`` modules, only the
light ones the SDK imports are packaged (see pyproject.toml); everything else stays with the server."""

from __future__ import annotations

from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py

# hutong/<module>.py files the SDK needs; tests/clients/test_sdk_distribution.py checks they import nothing heavy.
SHARED_CORE = {"__init__", "errors", "auth", "status"}


class BuildLight(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[Any]:
        modules = super().find_package_modules(package, package_dir)
        if package == "hutong":
            return [m for m in modules if m[1] in SHARED_CORE]
        return modules


setup(cmdclass={"build_py": BuildLight})
