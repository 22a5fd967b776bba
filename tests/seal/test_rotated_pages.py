"""On pages with /Rotate, the seal lands where it was asked for in the viewer's frame, and reads upright.

Checked on what poppler renders (``pdftoppm``), not on our own geometry: the red pixels must fill the
requested box as the page is shown, and the rendered seal must match the seal image upright better than
turned a quarter either way or upside down.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from bench.pdfgen import make_pdf
from seal_svc.sealing import Placement, SealOptions, seal_pdf
from tests.seal.conftest import SealEnv, staff

DPI = 72  # one pixel per point
pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")


def _rotated(rotation: int) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf(pages=1)))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    page["/Rotate"] = generic.NumberObject(rotation)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _render(pdf: bytes, tmp_path: Path) -> Image.Image:
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-png", str(src), str(tmp_path / "p")],
                   check=True, capture_output=True, timeout=120)
    return Image.open(next(tmp_path.glob("p*.png"))).convert("RGB")


def _red_mask(img: Image.Image) -> Image.Image:
    r, g, b = img.split()
    return ImageChops.subtract(r, ImageChops.add(g, b, scale=2.0)).point(lambda v: 255 if v > 60 else 0)


def _difference(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a, b)
    return sum(diff.getdata()) / (255 * a.width * a.height)  # type: ignore[arg-type]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_seal_upright_and_where_asked_on_rotated_pages(env: SealEnv, tmp_path: Path, rotation: int) -> None:
    info = env.seal_for()
    x, y, size = 40.0, 70.0, 120.0  # from the lower-left corner of the page as shown
    sealed = seal_pdf(env.node, seal_id=info.seal_id, pdf=_rotated(rotation), principal=staff(),  # type: ignore[arg-type]
                      options=SealOptions(placement=Placement(page=1, x=x, y=y, width=size, height=size)),
                      service=env.service)
    page = _render(sealed, tmp_path)
    shown_w, shown_h = (595, 842) if rotation in (0, 180) else (842, 595)  # pdfgen pages are A4
    assert abs(page.width - shown_w) <= 1 and abs(page.height - shown_h) <= 1
    bbox = _red_mask(page).getbbox()
    assert bbox is not None, "no seal drawn"
    left, top, right, bottom = bbox
    # Image rows count from the top; the request counts from the bottom. Two points of slack for anti-aliasing.
    want = (x, page.height - (y + size), x + size, page.height - y)
    assert all(abs(g - w) <= 3 for g, w in zip((left, top, right, bottom), want, strict=True)), (bbox, want)
    drawn = _red_mask(page.crop(bbox)).resize((96, 96))
    png = Image.open(io.BytesIO(info.image_png)).convert("RGBA")
    on_white = Image.alpha_composite(Image.new("RGBA", png.size, "white"), png).convert("RGB")
    reference = _red_mask(on_white)
    reference = reference.crop(reference.getbbox()).resize((96, 96))
    upright = _difference(drawn, reference)
    turned = [_difference(drawn, reference.rotate(angle)) for angle in (90, 180, 270)]
    assert upright < min(turned), (upright, turned)
