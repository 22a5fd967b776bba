"""Which CJK font this node sets Chinese text in, and its bytes: the ground of ``pdffont`` and ``pdfpage``.

WenQuanYi Micro Hei (Debian fonts-wqy-microhei) at a known path, a configured one, or what fontconfig
offers for zh; face 0 of the collection as a standalone TrueType font for embedding.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont

from hutong.errors import FailedPrecondition

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
)


@lru_cache(maxsize=4)
def find_cjk_font(configured: str = "") -> Path:
    """The CJK font file: a configured path, a known location, or whatever fontconfig offers for zh."""
    if configured:
        path = Path(configured)
        if path.is_file():
            return path
        raise FailedPrecondition("CJK_FONT_MISSING", f"the configured font {configured} does not exist")
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    fc_match = shutil.which("fc-match")
    if fc_match:
        out = subprocess.run([fc_match, "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip() and Path(out.stdout.strip()).is_file():
            return Path(out.stdout.strip())
    raise FailedPrecondition("CJK_FONT_MISSING", "no CJK font is installed: install fonts-wqy-microhei (scripts/setup)")


@lru_cache(maxsize=1)
def cjk_font_bytes() -> bytes:
    """Face 0 of the CJK font (a .ttc collection) as a standalone TrueType font, for embedding."""
    path = find_cjk_font()
    out = io.BytesIO()
    font = TTCollection(str(path)).fonts[0] if path.suffix.lower() == ".ttc" else TTFont(str(path))
    font.save(out)
    return out.getvalue()
