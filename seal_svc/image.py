"""Seal images: the red round seal generated with Pillow, or a PNG the organisation uploads.

The image is placed in the PDF as a picture, so the PDF needs no font: the CJK glyphs are
rendered here from the system's WenQuanYi Micro Hei (looked up at run time, or ``[seal] font_path``).
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from hutong.errors import InvalidArgument
from hutong.pdfpage import find_cjk_font

SEAL_RED = (218, 24, 32, 255)
SIZE = 512  # pixels; placed at e.g. 120 pt it still prints at >300 dpi
MAX_UPLOAD_PIXELS = 2048 * 2048
MAX_UPLOAD_BYTES = 2 * 1024 * 1024

def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else inner
        angle = math.radians(-90 + 36 * k)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=SEAL_RED)


def _glyph(char: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    box = font.getbbox(char)
    side = int(max(box[2], box[3]) * 1.3) + 4
    tile = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((side / 2, side / 2), char, font=font, fill=SEAL_RED, anchor="mm")
    return tile


def _arc_text(img: Image.Image, text: str, font: ImageFont.FreeTypeFont, radius: float) -> None:
    """Characters along the upper arc, left to right, each turned to face outwards."""
    n = len(text)
    span = min(250.0, 22.0 * n + 40.0) if n > 1 else 0.0
    cx = cy = SIZE / 2
    for i, char in enumerate(text):
        theta = -span / 2 + (span * i / (n - 1) if n > 1 else 0.0)  # degrees clockwise from the top
        tile = _glyph(char, font).rotate(-theta, resample=Image.Resampling.BICUBIC)
        x = cx + radius * math.sin(math.radians(theta)) - tile.width / 2
        y = cy - radius * math.cos(math.radians(theta)) - tile.height / 2
        img.alpha_composite(tile, (round(x), round(y)))


def generate_seal_image(org_name: str, caption: str, *, font_path: str = "") -> bytes:
    """A red round seal: ring, the organisation's name around the top, a star, the caption below."""
    font_file = str(find_cjk_font(font_path))  # CJK_FONT_MISSING when absent
    img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    ring = SIZE * 0.035
    draw.ellipse((ring / 2, ring / 2, SIZE - ring / 2, SIZE - ring / 2), outline=SEAL_RED, width=round(ring))
    # Long names get smaller characters so they still fit on the arc.
    name_size = round(SIZE * (0.12 if len(org_name) <= 12 else 0.095 if len(org_name) <= 18 else 0.075))
    _arc_text(img, org_name, ImageFont.truetype(font_file, name_size), SIZE / 2 - ring - name_size * 0.75)
    _star(draw, SIZE / 2, SIZE / 2, SIZE * 0.16)
    if caption:
        font = ImageFont.truetype(font_file, round(SIZE * 0.075))
        draw.text((SIZE / 2, SIZE * 0.76), caption, font=font, fill=SEAL_RED, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def check_uploaded_png(data: bytes) -> bytes:
    """Accept an uploaded PNG only if it really is a PNG of sensible size; returns it normalised to RGBA."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidArgument("SEAL_IMAGE_INVALID", "the seal image is larger than 2 MiB")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                raise InvalidArgument("SEAL_IMAGE_INVALID", "the seal image must be a PNG")
            if im.width * im.height > MAX_UPLOAD_PIXELS or min(im.size) < 32:
                raise InvalidArgument("SEAL_IMAGE_INVALID", "the seal image must be 32 to 2048 pixels a side")
            rgba = im.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidArgument("SEAL_IMAGE_INVALID", "the seal image is not a readable PNG") from None
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)
    return out.getvalue()


def load_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGBA")


class StampImage(PdfImage):
    """The seal image as a pyHanko ``PdfImage`` whose image XObjects (colour + alpha mask) are decoded and
    Flate-compressed once per image and then only added to each document: the same objects pyHanko's
    ``pil_image`` writes, without re-decoding the PNG and re-compressing 512x512 pixels per seal."""

    def __init__(self, png: bytes) -> None:
        self._prepared = _prepared(hashlib.sha256(png).digest(), png)
        super().__init__(self._prepared.image)

    @property
    def image_ref(self) -> generic.IndirectObject:
        assert self.writer is not None
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not self.writer:
            self._image_ref = ref = self._prepared.add_to(self.writer)
        return ref


@dataclass(frozen=True)
class _PreparedImage:
    image: Image.Image  # RGBA, read only
    rgb_flate: bytes
    alpha_flate: bytes

    def _stream(self, colour_space: str, data: bytes, extra: dict[str, Any]) -> generic.StreamObject:
        return generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): generic.NumberObject(self.image.width),
            pdf_name("/Height"): generic.NumberObject(self.image.height),
            pdf_name("/ColorSpace"): pdf_name(colour_space), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            pdf_name("/Filter"): pdf_name("/FlateDecode"), **extra,
        }, encoded_data=data)

    def add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        smask = writer.add_object(self._stream("/DeviceGray", self.alpha_flate, {}))
        return writer.add_object(self._stream("/DeviceRGB", self.rgb_flate, {pdf_name("/SMask"): smask}))


_PREPARED: dict[bytes, _PreparedImage] = {}
_PREPARED_LOCK = threading.Lock()


def _prepared(digest: bytes, png: bytes) -> _PreparedImage:
    with _PREPARED_LOCK:
        found = _PREPARED.get(digest)
    if found is None:
        rgba = load_image(png)
        found = _PreparedImage(image=rgba, rgb_flate=zlib.compress(rgba.convert("RGB").tobytes()),
                               alpha_flate=zlib.compress(rgba.getchannel("A").tobytes()))
        with _PREPARED_LOCK:
            if len(_PREPARED) >= 64:
                _PREPARED.clear()
            _PREPARED[digest] = found
    return found
