"""The ``[seal]`` section of ``hutong.toml``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hutong.config import settings_of
from hutong.node import Node


@dataclass(frozen=True)
class SealSettings:
    max_upload_bytes: int = 0  # 0 = [server] max_upload_bytes
    font_path: str = ""  # CJK font for generated seal images; empty = find WenQuanYi Micro Hei
    # Space for the CMS signature in the PDF (hex, so twice the DER size). Fixed so pyHanko never
    # makes a dry-run signature to measure it (that would cost a second HSM signature).
    signature_bytes_reserved: int = 32768
    crl_hours: int = 24  # validity of a published CRL; a fresh one is issued at half-life
    temp_dir: str = ""  # where uploads are spooled; empty = <data-dir>/tmp
    chunk_bytes: int = 1024 * 1024  # size of streamed output chunks


def load_settings(node: Node, **overrides: Any) -> SealSettings:
    settings = settings_of(node.config, SealSettings, "seal", **overrides)
    if not settings.max_upload_bytes:
        settings = replace(settings, max_upload_bytes=node.config.server.max_upload_bytes)
    if not settings.temp_dir:
        settings = replace(settings, temp_dir=str(Path(node.config.data_dir) / "tmp"))
    return settings
