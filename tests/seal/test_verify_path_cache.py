"""VerifyPdf reuses certificate paths validated against the same trust material (``hutong.verify.pathcache``),
and never past what they depend on: a revocation (new CRL bytes) or the CRLs' next update."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from bench.pdfgen import make_pdf
from hutong import pki
from hutong.verify import pathcache
from hutong.verify.pdf import Revocation, Verdict, validation_context, verify_pdf
from seal_svc.sealing import PadesLevel, Placement, SealOptions, seal_pdf
from tests.seal.conftest import USCC_A, SealEnv, admin_of, staff


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path pyhanko_certvalidator really validates (the subject's common name), through the cache."""
    seen: list[str] = []
    original = pathcache.original_find_valid_path

    async def counted(certificate: Any, *args: Any, **kw: Any) -> Any:
        seen.append(certificate.subject.native.get("common_name", ""))
        return await original(certificate, *args, **kw)

    monkeypatch.setattr(pathcache, "original_find_valid_path", counted)
    monkeypatch.setattr(pathcache, "_paths", {})
    yield seen


def _verify(env: SealEnv, pdf: bytes) -> Any:
    return verify_pdf(pdf, env.sealer.trust, limit=10**9, temp_dir=env.sealer.settings.temp_dir)


def test_paths_are_validated_once_per_trust_material(env: SealEnv, validations: list[str]) -> None:
    info = env.seal_for()
    sealed = seal_pdf(env.node, seal_id=info.seal_id, pdf=make_pdf(), principal=staff(),  # type: ignore[arg-type]
                      options=SealOptions(placement=Placement(1, 400, 60, 120, 120), level=PadesLevel.B_T),
                      service=env.service)
    first = _verify(env, sealed)
    assert first.verdict is Verdict.VALID and first.signatures[0].has_timestamp
    assert len(validations) == 2  # the seal's path and the timestamp token's
    again = _verify(env, sealed)
    assert again.verdict is Verdict.VALID and len(validations) == 2  # nothing validated again
    assert again.signatures[0].trust_anchor == first.signatures[0].trust_anchor

    env.service.revoke_seal(admin_of(USCC_A), info.seal_id, "key compromise")  # a new CRL: new material
    revoked = _verify(env, sealed)
    assert revoked.verdict is Verdict.INVALID and revoked.signatures[0].revocation is Revocation.REVOKED
    assert len(validations) > 2
    assert _verify(env, sealed).verdict is Verdict.INVALID  # failures are never remembered


def test_only_marked_contexts_use_the_cache_and_never_past_the_crls_next_update(
        env: SealEnv, validations: list[str]) -> None:
    material = env.sealer.trust()
    plain = validation_context(material)
    assert getattr(plain, pathcache._ATTRIBUTE, None) is None  # sealing's contexts (B-LT) are never marked
    marked = validation_context(material, reuse_paths=True)
    mark = getattr(marked, pathcache._ATTRIBUTE)
    assert marked.moment < mark.until <= marked.moment + pathcache.TTL

    stale = validation_context(material)
    pathcache.mark(stale, b"material", stale.moment - timedelta(seconds=1))  # CRLs already past next update
    ca = asn1_x509.Certificate.load(env.node.pki.certificate(pki.SEAL_CA).public_bytes(Encoding.DER))  # type: ignore[attr-defined]
    before = dict(pathcache._paths)
    paths = stale.path_builder.async_build_paths_lazy(ca)
    path = asyncio.run(pathcache.find_valid_path(ca, paths, stale))
    assert path.pkix_len == 1 and pathcache._paths == before  # validated, not remembered
