"""``hutong platform add`` registers a platform's OpenID Connect redirect URIs and back-channel logout URI."""

from __future__ import annotations

import json

import pytest

from hutong.cli import EXIT_ERROR, EXIT_OK, main
from hutong.node import Node
from identity_svc.core import Identity
from identity_svc.platforms import get_platform


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_platform_add_with_redirect_and_back_channel_uris(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(node.config.data_dir)
    code, out, _ = _run(capsys, "platform", "add", "shop", "--scope", "profile", "--redirect-uri",
                        "https://shop.example/cb", "--redirect-uri", "http://127.0.0.1:8080/cb",
                        "--backchannel-logout-uri", "https://shop.example/bcl", "--json", "--data-dir", d)
    added = json.loads(out)
    assert code == EXIT_OK and added["redirect_uris"] == ["https://shop.example/cb", "http://127.0.0.1:8080/cb"]
    stored = get_platform(Identity.of(node), "shop")
    assert stored.redirect_uris == ("https://shop.example/cb", "http://127.0.0.1:8080/cb")
    assert stored.backchannel_logout_uri == "https://shop.example/bcl"
    for bad in ("http://shop.example/cb", "https://shop.example/cb#frag", "/cb", "javascript:alert(1)"):
        code, _, err = _run(capsys, "platform", "add", "shop2", "--redirect-uri", bad, "--data-dir", d)
        assert code == EXIT_ERROR and "REDIRECT_URI_INVALID" in err
    code, _, err = _run(capsys, "platform", "add", "shop2", "--backchannel-logout-uri", "ftp://x/y", "--data-dir", d)
    assert code == EXIT_ERROR and "REDIRECT_URI_INVALID" in err
    assert json.loads(_run(capsys, "platform", "list", "--json", "--data-dir", d)[1])[0]["client_id"] == "shop"
