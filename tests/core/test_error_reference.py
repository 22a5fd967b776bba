"""Every error reason the code can raise is in the error reference, with its status code, and vice versa."""

from __future__ import annotations

import re
from pathlib import Path

from hutong.errors import Kind

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["hutong", "hsm", "identity_svc", "seal_svc", "cert_svc", "clients/hutong_client"]
CLASS_KIND = {
    "InvalidArgument": "INVALID_ARGUMENT", "NotFound": "NOT_FOUND", "AlreadyExists": "ALREADY_EXISTS",
    "PermissionDenied": "PERMISSION_DENIED", "Unauthenticated": "UNAUTHENTICATED",
    "FailedPrecondition": "FAILED_PRECONDITION", "ResourceExhausted": "RESOURCE_EXHAUSTED",
    "Unavailable": "UNAVAILABLE", "Unimplemented": "UNIMPLEMENTED", "Internal": "INTERNAL",
    "ConfigError": "FAILED_PRECONDITION", "HutongError": "INTERNAL",
}
# Class("REASON", ...) or Class(REASON_CONSTANT, ...) with REASON_CONSTANT = "REASON" defined somewhere.
RAISE = re.compile(r"\b(" + "|".join(CLASS_KIND) + r")\(\s*(?:reason=)?(?:\w+\.)?(\"?)([A-Z][A-Z0-9_]+)\"?\s*[,)]")
CONSTANT = re.compile(r"^\s*([A-Z][A-Z0-9_]+)(?::\s*\w+)?\s*=\s*\"([A-Z][A-Z0-9_]+)\"", re.M)
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*`?([A-Z_]+)`?\s*\|", re.M)


def _sources() -> list[str]:
    return [p.read_text(encoding="utf-8") for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "/v1/" not in str(p)]


def _raised() -> dict[str, set[str]]:
    sources = _sources()
    constants = {name: value for text in sources for name, value in CONSTANT.findall(text)}
    found: dict[str, set[str]] = {}
    for text in sources:
        for cls, quoted, token in RAISE.findall(text):
            reason = token if quoted else constants.get(token)
            if reason:
                found.setdefault(reason, set()).add(CLASS_KIND[cls])
    return found


def _documented() -> dict[str, str]:
    return dict(ROW.findall((ROOT / "docs" / "errors.md").read_text(encoding="utf-8")))


def test_every_raised_reason_is_documented_with_its_status() -> None:
    documented = _documented()
    missing = sorted(r for r in _raised() if r not in documented)
    assert not missing, f"add these reasons to docs/errors.md: {missing}"
    wrong = {r: (kinds, documented[r]) for r, kinds in _raised().items() if documented[r] not in kinds}
    assert not wrong, f"status in docs/errors.md differs from the code: {wrong}"


def test_documented_statuses_are_real_codes() -> None:
    assert set(_documented().values()) <= {k.value for k in Kind}


def _all_subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_subclasses(sub)
    return found


def test_every_error_crosses_a_process_boundary_whole() -> None:
    """A process pool's worker (the bench's seeding of the lookup figure) sends its exception to the parent
    pickled: each error type comes back with its reason, message and metadata, not as a broken pool."""
    import pickle

    from hsm.errors import HsmError
    from hutong.errors import HutongError

    for cls in _all_subclasses(HutongError):
        back = pickle.loads(pickle.dumps(cls("SOME_REASON", "what happened", metadata={"k": "v"})))
        assert (type(back), back.reason, back.message, back.metadata) == (cls, "SOME_REASON", "what happened",
                                                                          {"k": "v"})
    for hcls in _all_subclasses(HsmError):
        hback = pickle.loads(pickle.dumps(hcls("HSM_SOMETHING", "what happened")))
        assert (type(hback), hback.reason, hback.message, str(hback)) == (
            hcls, "HSM_SOMETHING", "what happened", "HSM_SOMETHING: what happened")
