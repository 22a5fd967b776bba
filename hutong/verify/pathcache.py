"""Certificate paths validated once per trust material, not once per VerifyPdf (issue 19).

Every VerifyPdf validated the seal's certificate path and the timestamp token's (signatures, validity,
both CRLs) from scratch: a third of its time, for the same few certificates every time. A path that
validated is remembered here, keyed by the certificate and by the exact trust material the verifier used
(roots, intermediates, CRLs: a CRL re-issued after a revocation is new bytes, hence a new key), and reused
while nothing it depends on can have changed: until the earliest CRL ``nextUpdate``, the earliest
``notAfter`` along the path, and at most ``TTL`` after it was validated. Failures are never remembered.

Only validation contexts marked by ``mark`` (the verifier's, ``hutong.verify.pdf``) use it; contexts used
while sealing at B-LT/B-LTA (which collect revocation data as they validate) never do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pyhanko.sign.validation import generic_cms

TTL = timedelta(minutes=5)
MAX_ENTRIES = 4096
_ATTRIBUTE = "_hutong_path_cache"

original_find_valid_path = generic_cms.find_valid_path
_paths: dict[tuple[bytes, bytes], tuple[datetime, Any]] = {}
_lock = threading.Lock()
_installed = False


@dataclass(frozen=True)
class _Mark:
    material: bytes  # digest of the trust material's DER encodings
    until: datetime  # the earliest nextUpdate of its CRLs (and validated + TTL)


def mark(context: Any, material_digest: bytes, crls_next_update: datetime | None) -> None:
    """Let ``context`` (a ValidationContext, time = its moment) reuse and record validated paths."""
    until = context.moment + TTL
    if crls_next_update is not None:
        until = min(until, crls_next_update)
    setattr(context, _ATTRIBUTE, _Mark(material_digest, until))


def _not_after(path: Any) -> datetime:
    return min(c["tbs_certificate"]["validity"]["not_after"].native for c in path.iter_certs(include_root=True))


async def find_valid_path(certificate: Any, paths: Any, validation_context: Any,
                          pkix_validation_params: Any = None) -> Any:
    """pyhanko_certvalidator's ``find_valid_path``, answered from the cache for marked contexts."""
    marked: _Mark | None = getattr(validation_context, _ATTRIBUTE, None)
    if marked is None or pkix_validation_params is not None:
        return await original_find_valid_path(certificate, paths, validation_context, pkix_validation_params)
    key = (marked.material, certificate.sha256)
    moment = validation_context.moment
    hit = _paths.get(key)
    if hit is not None and moment < hit[0]:
        await paths.cancel()
        return hit[1]
    path = await original_find_valid_path(certificate, paths, validation_context, pkix_validation_params)
    until = min(marked.until, _not_after(path))
    if moment < until:
        with _lock:
            if len(_paths) >= MAX_ENTRIES:
                _paths.clear()
            _paths[key] = (until, path)
    return path


def install() -> None:
    global _installed
    with _lock:
        if not _installed:
            generic_cms.find_valid_path = find_valid_path
            _installed = True
