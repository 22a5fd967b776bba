"""CLI tests reuse the SDK tests' node (tests/clients/sdk_world.py) and run ``hutong`` in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.clients.sdk_world import world  # noqa: F401  (fixture)

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("seal", "list", ..., env={...})`` -> (exit code, stdout, stderr) of ``hutong.cli.main``."""
    from hutong.cli import main

    for name in ("HUTONG_TOKEN", "HUTONG_CLIENT_ID", "HUTONG_CLIENT_SECRET", "HUTONG_TARGET", "HUTONG_PASSWORD",
                 "HUTONG_ID_NUMBER", "HUTONG_HOLDER_ID"):
        monkeypatch.delenv(name, raising=False)

    def call(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        with monkeypatch.context() as m:
            for k, v in (env or {}).items():
                m.setenv(k, v)
            capsys.readouterr()
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
                code = int(exc.code or 0)
            out, err = capsys.readouterr()
        return code, out, err

    return call
