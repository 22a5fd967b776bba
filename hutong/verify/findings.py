"""The single ``Finding``: one fact a verifier established about an artefact (certificate, sealed PDF).

``reason`` is a stable SCREAMING_SNAKE_CASE code, ``message`` is for people; a ``fatal`` finding makes the
verdict invalid, a non-fatal one at most indeterminate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    reason: str
    message: str
    fatal: bool = False
