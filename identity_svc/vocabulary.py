"""Identity's fixed vocabularies (levels of assurance, platform scopes), importable without a database.

The CLI offers them as argument choices; importing them from ``core`` or ``platforms`` would load
SQLAlchemy and Argon2 for every ``hutong`` command, which is what makes a command-line tool slow.
"""

from __future__ import annotations

from typing import Literal

from hutong.auth import OPERATOR_SCOPE

Level = Literal["low", "substantial", "high"]
LEVELS: tuple[Level, ...] = ("low", "substantial", "high")
SCOPES = ("openid", "profile", "id_number", OPERATOR_SCOPE)
