"""Figure 2: offline token verification in the SDK (``hutong.verify.tokens.verify_token``), one core,
against the bare ``cryptography`` ES256 verification of the same token (split, base64url, r||s to DER,
ECDSA verify)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import Mode, Row, interleaved, not_measured, ratio_row

FIGURE = "offline token verification in the SDK, per core, vs cryptography ES256 loop"
TARGET = ">= 0.4x"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_and_jwks(data_dir: Path) -> tuple[str, dict[str, Any], str]:
    """An access token signed by the node's token key in the HSM, the JWKS and the issuer."""
    from hutong.node import open_node
    from identity_svc.core import Identity

    node = open_node(data_dir)
    try:
        idn = Identity.of(node)
        now = int(time.time())
        claims = {"iss": idn.settings.issuer, "sub": "bench-subject", "aud": "bench-portal", "iat": now,
                  "exp": now + 3600, "acr": "substantial", "amr": ["pwd"], "sid": "sid_bench",
                  "jti": "at_bench", "client_id": "bench-portal", "scope": "openid"}
        token = idn.signer.sign(claims, typ="at+jwt")
        return token, idn.signer.jwks(), idn.settings.issuer
    finally:
        node.close()


def sdk_op(token: str, jwks: dict[str, Any], issuer: str) -> Callable[[], object]:
    from hutong.verify.tokens import verify_token

    return lambda: verify_token(token, jwks, issuer=issuer, audience="bench-portal", kind="access")


def baseline_op(token: str, jwks: dict[str, Any]) -> Callable[[], object]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    jwk = jwks["keys"][0]
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(_b64d(jwk["x"]), "big"), int.from_bytes(_b64d(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    algorithm = ec.ECDSA(hashes.SHA256())

    def op() -> None:
        signing_input, _, sig = token.rpartition(".")
        raw = _b64d(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key.verify(der, signing_input.encode(), algorithm)

    return op


def run(mode: Mode, data_dir: Path) -> list[Row]:
    try:
        token, jwks, issuer = token_and_jwks(data_dir)
        subject, baseline = sdk_op(token, jwks, issuer), baseline_op(token, jwks)
        subject()  # fails loudly here if the SDK rejects the token
        value, base = interleaved(subject, baseline, mode.seconds * 2, mode.rounds)
    except Exception as exc:  # noqa: BLE001 - reported as a row
        return [not_measured(FIGURE, TARGET, f"{type(exc).__name__}: {exc}")]
    return [ratio_row(FIGURE, value, base, minimum=0.4, unit="verif/s", note="one thread, interleaved rounds",
                      fairness="1 thread vs 1 thread, same process")]
