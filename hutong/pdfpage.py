"""Simple PDF pages with Chinese text: an A4 page writer in the CJK font (``hutong.cjkfont``).

Used for printable e-certificate renditions, the seal image's glyphs and the demo's contract. Text is set
in WenQuanYi Micro Hei (Debian fonts-wqy-microhei), subset and embedded by pyHanko (fontTools/HarfBuzz),
so every viewer shows the same glyphs.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from hutong.cjkfont import cjk_font_bytes, find_cjk_font
from hutong.pdffont import SharedFontAccumulator

__all__ = ["A4", "Page", "cjk_font_bytes", "find_cjk_font"]  # the font lookup lives in hutong.cjkfont

A4 = (595.0, 842.0)
# fontTools reports tables it leaves out of a subset (e.g. "FFTM NOT subset") on stderr: not our users' concern.
logging.getLogger("fontTools").setLevel(logging.ERROR)
_ADVANCES: dict[str, float] = {}  # character -> advance at size 1 in the CJK font (``Page._advance``)


class Page:
    """A page in progress: text in the embedded CJK font, plus images; ``finish`` adds it to the writer."""

    def __init__(self, writer: PdfFileWriter, size: tuple[float, float] = A4, *, shared_font: bool = True) -> None:
        """``shared_font``: the font parsed once per process (``hutong.pdffont``, milliseconds a page); False
        uses pyHanko's own accumulator, which parses and subsets the whole font each time (~2 s)."""
        self.writer = writer
        self.width_pt, self.height_pt = size
        self.font = (SharedFontAccumulator(writer, font_size=12) if shared_font
                     else GlyphAccumulator(writer, io.BytesIO(cjk_font_bytes()), font_size=12))
        self.ops: list[bytes] = []
        self.xobjects = generic.DictionaryObject()

    def width(self, text: str, size: float) -> float:
        return float(self.font.shape(text).x_advance * size)

    def text(self, x: float, y: float, text: str, size: float = 12.0) -> None:
        shaped = self.font.shape(text)
        self.ops.append(b"BT /F1 %g Tf %g %g Td %s ET" % (size, x, y, shaped.graphics_ops))

    def centred(self, y: float, text: str, size: float) -> None:
        self.text((self.width_pt - self.width(text, size)) / 2, y, text, size)

    def wrapped(self, x: float, y: float, text: str, size: float, max_width: float, *, bottom: float = 0.0) -> float:
        """Write ``text`` in lines no wider than ``max_width`` down to ``bottom``; returns the y below it.

        A line's width is the sum of its characters' advances (Chinese text has no kerning), each shaped once
        per process: shaping the line again for every character made setting a rendition's fields a third of
        its time (profiled)."""
        line, line_width = "", 0.0
        for ch in text:
            advance = self._advance(ch) * size
            if line and line_width + advance > max_width:
                if y - size * 1.5 < bottom:
                    line = line[:-1] + "…"
                    break
                self.text(x, y, line, size)
                y, line, line_width = y - size * 1.5, "", 0.0
            line, line_width = line + ch, line_width + advance
        self.text(x, y, line, size)
        return y - size * 1.5

    def _advance(self, ch: str) -> float:
        """The advance of one character at size 1 (every page sets the same font: a process-wide table)."""
        found = _ADVANCES.get(ch)
        if found is None:
            found = _ADVANCES[ch] = float(self.font.shape(ch).x_advance)
        return found

    def image(self, name: str, png_image: Any, x: float, y: float, w: float, h: float) -> None:
        self.xobjects[pdf_name("/" + name)] = pil_image(png_image, self.writer)
        self.ops.append(b"q %g 0 0 %g %g %g cm /%s Do Q" % (w, h, x, y, name.encode()))

    def draw(self, ops: bytes) -> None:
        """Content-stream operators the caller built (vector graphics: a QR symbol's modules as rectangles)."""
        self.ops.append(ops)

    def _scale_widths(self) -> None:
        # pyHanko writes /W in font units; PDF wants 1/1000 em (WenQuanYi has 2048 units per em).
        scale = 1000 / self.font.units_per_em
        for item in self.font.cidfont_obj["/W"]:
            if isinstance(item, generic.ArrayObject):
                for i, w in enumerate(item):
                    item[i] = generic.NumberObject(round(int(w) * scale))

    def finish(self) -> None:
        self.font.prepare_write()
        self._scale_widths()
        resources = generic.DictionaryObject({
            pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): self.font.as_resource()}),
            pdf_name("/XObject"): self.xobjects,
        })
        contents = self.writer.add_object(generic.StreamObject(stream_data=b"\n".join(self.ops)))
        self.writer.insert_page(PageObject(contents=contents, media_box=[0, 0, self.width_pt, self.height_pt],
                                           resources=resources))


def to_bytes(writer: PdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
