"""Where a visible seal goes, in the coordinates a person sees, and drawn upright on rotated pages.

A ``Placement`` is given as the viewer shows the page: points from the lower-left corner of the visible
area (the CropBox, clipped to the MediaBox), x to the right, y up. A page with ``/Rotate 90`` is shown
turned a quarter clockwise, so its default user space -- where the widget's ``/Rect`` lives -- is not the
viewer's frame. This module maps the box from one to the other and gives the appearance stream a
``/Matrix`` that turns the seal image back, so it reads upright (ISO 32000-2 §12.5.5: the transformed
appearance bounding box is fitted to ``/Rect``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import StaticStampStyle
from pyhanko.stamp.static import StaticContentStamp

from hutong.errors import InvalidArgument

Box = tuple[float, float, float, float]  # llx, lly, urx, ury in default user space
US_LETTER: Box = (0.0, 0.0, 612.0, 792.0)  # what readers assume without a MediaBox


@dataclass(frozen=True)
class PageGeometry:
    box: Box  # the visible area in default user space
    rotation: int  # 0, 90, 180 or 270: clockwise, as the viewer turns the page

    @property
    def viewer_size(self) -> tuple[float, float]:
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return (h, w) if self.rotation in (90, 270) else (w, h)


def _inherited(page: generic.DictionaryObject, key: str) -> object:
    node: generic.DictionaryObject | None = page
    seen = 0
    while node is not None and seen < 64:  # page trees are shallow; a /Parent loop is not followed for ever
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        seen += 1
    return None


def _box(value: object) -> Box | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] > box[0] and box[3] > box[1] else None


def page_geometry(reader: PdfHandler, page_ix: int) -> PageGeometry:
    """The visible box and the viewer's rotation of page ``page_ix`` (from 0) of a document read or being
    built."""
    page_ref, _ = reader.find_page_for_modification(page_ix)
    page = page_ref.get_object()
    media = _box(_inherited(page, "/MediaBox")) or US_LETTER
    crop = _box(_inherited(page, "/CropBox")) or media
    visible = (max(media[0], crop[0]), max(media[1], crop[1]), min(media[2], crop[2]), min(media[3], crop[3]))
    if visible[2] <= visible[0] or visible[3] <= visible[1]:
        visible = media  # a CropBox outside the MediaBox: readers fall back to the MediaBox
    try:
        rotation = int(_inherited(page, "/Rotate") or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        rotation = 0
    rotation %= 360
    return PageGeometry(visible, rotation if rotation in (0, 90, 180, 270) else 0)


def to_user_space(geometry: PageGeometry, x: float, y: float, width: float, height: float) -> Box:
    """The widget rectangle for a box given in the viewer's frame; ``POSITION_OUT_OF_RANGE`` if it does not
    fit in the visible area."""
    vw, vh = geometry.viewer_size
    if x < 0 or y < 0 or x + width > vw or y + height > vh:
        raise InvalidArgument("POSITION_OUT_OF_RANGE", f"the seal's box does not fit on the page as it is shown "
                                                       f"({vw:g} x {vh:g} points)")
    llx, lly, urx, ury = geometry.box
    w, h = urx - llx, ury - lly
    r = geometry.rotation
    if r == 90:  # viewer (vx, vy) = (uy, w - ux)
        return llx + w - y - height, lly + x, llx + w - y, lly + x + width
    if r == 180:  # viewer = (w - ux, h - uy)
        return llx + w - x - width, lly + h - y - height, llx + w - x, lly + h - y
    if r == 270:  # viewer = (h - uy, ux)
        return llx + y, lly + h - x - width, llx + y + height, lly + h - x
    return llx + x, lly + y, llx + x + width, lly + y + height


# Counter-clockwise by the page's clockwise turn: the viewer's turn and this one cancel out.
_MATRIX = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}


@dataclass(frozen=True)
class UprightStampStyle(StaticStampStyle):
    """pyHanko's static (image) stamp, laid out in the viewer's frame of a page turned by ``rotation``."""

    rotation: int = 0

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints,
                     text_params: dict) -> StaticContentStamp:  # type: ignore[type-arg]
        if self.rotation in (90, 270) and box.width_defined and box.height_defined:
            box = layout.BoxConstraints(width=box.height, height=box.width)  # the /Rect is turned; the image not
        return _UprightStamp(writer=writer, style=self, box=box)


class _UprightStamp(StaticContentStamp):
    def as_form_xobject(self) -> generic.StreamObject:
        xobj = super().as_form_xobject()
        rotation = getattr(self.style, "rotation", 0)
        if rotation in _MATRIX:
            xobj["/Matrix"] = generic.ArrayObject(
                [generic.NumberObject(v) for v in _MATRIX[rotation]] + [generic.NumberObject(0)] * 2)
        return xobj
