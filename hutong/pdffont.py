"""The CJK font of ``hutong.pdfpage.Page``, parsed once per process and subset from raw glyph data per document.

pyHanko's ``GlyphAccumulator`` (one per page) re-parses the whole WenQuanYi
font (49,531 glyphs) and runs fontTools' subsetter over it (decompiling GSUB/GPOS, recompiling every glyph
and metric), ~2 s per rendition. Here the font is read once; each document embeds the same kind of subset
pyHanko makes (glyph ids kept, so CID = GID with /CIDToGIDMap /Identity; unused glyphs empty; composite
glyphs' components included), assembled from the font's raw ``glyf``/``loca`` bytes in milliseconds.
Shaping is still HarfBuzz on the same font, so the page content is what ``Page`` writes.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

import uharfbuzz as hb
from fontTools.ttLib import TTFont, getSearchRange, newTable
from fontTools.ttLib.sfnt import SFNTReader
from fontTools.ttLib.tables._c_m_a_p import CmapSubtable
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, ShapeResult
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, _read_ps_name
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from hutong.cjkfont import cjk_font_bytes

# Tables pyHanko's subset keeps for a TrueType CIDFont (it drops the layout tables; FFTM is FontForge's).
_COPIED = ("OS/2", "cvt ", "fpgm", "gasp", "hhea", "hmtx", "maxp", "name", "prep")  # no vertical metrics: Identity-H
_ARG_WORDS, _HAVE_SCALE, _MORE, _XY_SCALE, _TWO_BY_TWO = 0x0001, 0x0008, 0x0020, 0x0040, 0x0080


@dataclass(frozen=True)
class _Face:
    """Everything read-only about the font, shared by all documents and threads."""

    hb_font: Any
    tt: TTFont  # head/hhea/OS/2/post/name/cmap already decompiled: later reads do not mutate it
    ps_name: str
    units_per_em: int
    glyph_order: list[str]
    advances: list[int]  # advance width by glyph id
    reverse_cmap: dict[str, set[int]]
    tables: dict[str, bytes]  # raw tables copied into every subset
    head: bytes
    glyf: bytes
    loca: array  # type: ignore[type-arg]  # glyph offsets into glyf, numGlyphs + 1 entries
    best_cmap: dict[int, str]
    gid_of: dict[str, int]
    bmp_of_gid: dict[int, list[tuple[int, str]]]  # glyph id -> its BMP code points and glyph name (best cmap)
    sums: dict[str, int]  # checksums of the tables copied as they are (``_COPIED``)

    def glyph(self, gid: int) -> bytes:
        return self.glyf[self.loca[gid]:self.loca[gid + 1]]

    def components(self, data: bytes) -> list[int]:
        """Glyph ids a composite glyph refers to (empty for a simple glyph)."""
        if len(data) < 10 or struct.unpack_from(">h", data)[0] >= 0:
            return []
        out, pos = [], 10
        while True:
            flags, gid = struct.unpack_from(">HH", data, pos)
            out.append(gid)
            pos += 4 + (4 if flags & _ARG_WORDS else 2)
            pos += 2 if flags & _HAVE_SCALE else 4 if flags & _XY_SCALE else 8 if flags & _TWO_BY_TWO else 0
            if not flags & _MORE:
                return out

    def subset(self, gids: set[int]) -> bytes:
        """A TrueType font with the same glyph ids where only ``gids`` (and .notdef, and components) have
        outlines: what pyHanko embeds (``retain_gids``), built from raw bytes."""
        wanted, todo = set(), [0, *gids]
        while todo:
            gid = todo.pop()
            if gid in wanted or not 0 <= gid < len(self.advances):
                continue
            wanted.add(gid)
            todo.extend(self.components(self.glyph(gid)))
        count = max(wanted) + 1  # like fontTools: the empty glyphs after the highest one used are left out
        glyf = bytearray()
        loca = array("I", bytes(4 * (count + 1)))
        previous = 0  # loca[previous:gid + 1] all point at the end of what is written so far
        for gid in sorted(wanted):
            loca[previous:gid + 1] = array("I", [len(glyf)]) * (gid + 1 - previous)
            glyf += self.glyph(gid)
            glyf += b"\0" * (-len(glyf) % 4)
            previous = gid + 1
        loca[previous:] = array("I", [len(glyf)]) * (count + 1 - previous)
        sums = {"loca": sum(loca) & 0xFFFFFFFF}  # the table's words are these offsets (before the byte swap)
        loca.byteswap()  # big-endian on disk (every supported platform is little-endian)
        hhea, maxp = bytearray(self.tables["hhea"]), bytearray(self.tables["maxp"])
        long_metrics = min(count, struct.unpack_from(">H", hhea, 34)[0])
        struct.pack_into(">H", hhea, 34, long_metrics)
        struct.pack_into(">H", maxp, 4, count)
        hmtx = self.metrics(wanted, count, long_metrics)
        sums["hmtx"] = _checksum(hmtx, self.metric_words(wanted, count, long_metrics))
        head = bytearray(self.head)
        struct.pack_into(">h", head, 50, 1)  # indexToLocFormat: long offsets
        p = self.tt["post"]
        post = struct.pack(">llhhLLLLL", 0x00030000, round(p.italicAngle * 65536), p.underlinePosition,
                           p.underlineThickness, p.isFixedPitch, 0, 0, 0, 0)  # format 3: no glyph names
        tables = {**self.tables, "head": bytes(head), "glyf": bytes(glyf), "loca": loca.tobytes(), "post": post,
                  "cmap": self.cmap_for(wanted), "hhea": bytes(hhea), "maxp": bytes(maxp), "hmtx": hmtx}
        return sfnt(tables, {**{t: c for t, c in self.sums.items() if tables[t] is self.tables[t]}, **sums})

    def metric_words(self, wanted: set[int], count: int, long_metrics: int) -> set[int]:
        """The 4-byte words of ``metrics``' table that can be other than zero (its checksum adds only those)."""
        words = {gid if gid < long_metrics else (4 * long_metrics + 2 * (gid - long_metrics)) // 4
                 for gid in wanted if gid < count}
        if count > long_metrics:
            words.add(long_metrics - 1)
        return words

    def metrics(self, wanted: set[int], count: int, long_metrics: int) -> bytes:
        """``hmtx`` for the first ``count`` glyphs, zero for the glyphs left empty (as fontTools does)."""
        raw, old_long = self.tables["hmtx"], struct.unpack_from(">H", self.tables["hhea"], 34)[0]
        src_long, src_lsb = array("I", raw[:4 * old_long]), array("H", raw[4 * old_long:])
        long_part, lsb_part = array("I", bytes(4 * long_metrics)), array("H", bytes(2 * (count - long_metrics)))
        for gid in wanted:  # values are copied as stored (big-endian), so no byte swapping is needed
            if gid < long_metrics:
                long_part[gid] = src_long[gid]
            else:  # then long_metrics == old_long
                lsb_part[gid - long_metrics] = src_lsb[gid - old_long]
        if count > long_metrics:  # glyphs past the long metrics take the last advance: keep it
            long_part[long_metrics - 1] = src_long[long_metrics - 1]
        return long_part.tobytes() + lsb_part.tobytes()

    def cmap_for(self, gids: set[int]) -> bytes:
        """A Unicode cmap of the subset's glyphs only (as fontTools' subsetter leaves it)."""
        table = newTable("cmap")
        sub = CmapSubtable.newSubtable(4)
        sub.platformID, sub.platEncID, sub.language = 3, 1, 0
        # from the glyphs' own code points (a pass over the whole cmap per document was a tenth of a rendition)
        sub.cmap = {cp: name for gid in gids for cp, name in self.bmp_of_gid.get(gid, ())}
        table.tableVersion, table.tables = 0, [sub]
        return bytes(table.compile(self.tt))


def _checksum(data: bytes, words: set[int] | None = None) -> int:
    """An OpenType table checksum: the sum of its big-endian 4-byte words (zero-padded), modulo 2**32; over
    ``words`` only (word indexes) when the others are known to be zero."""
    if words is None:
        padded = array("I", data + b"\0" * (-len(data) % 4))
        padded.byteswap()
        return sum(padded) & 0xFFFFFFFF
    tail = data + b"\0" * (-len(data) % 4)
    return sum(int.from_bytes(tail[4 * w:4 * w + 4], "big") for w in words) & 0xFFFFFFFF


def sfnt(tables: dict[str, bytes], sums: dict[str, int]) -> bytes:
    """The font file fontTools' ``SFNTWriter`` writes for ``tables`` (in tag order, each 4-byte aligned, the head's
    checkSumAdjustment set), taking from ``sums`` the checksums known without reading the tables: summing the two
    tables that grow with the highest glyph id (``hmtx``, ``loca``: ~180 KB each for a CJK subset) was a third of
    a subset's CPU, profiled (``tests/core/test_pdffont.py`` compares the bytes with fontTools')."""
    tags = sorted(tables)
    head = bytearray(tables["head"])
    struct.pack_into(">L", head, 8, 0)  # checkSumAdjustment: zero while summing, set below
    offset, directory, body, checksums, head_at = 12 + 16 * len(tags), [], [], [], 0
    for tag in tags:
        data = bytes(head) if tag == "head" else tables[tag]
        checksum = _checksum(data) if tag == "head" or tag not in sums else sums[tag]
        checksums.append(checksum)
        directory.append(struct.pack(">4sLLL", tag.encode("latin-1"), checksum, offset, len(data)))
        if tag == "head":
            head_at = offset
        body.append(data + b"\0" * (-len(data) % 4))
        offset += len(body[-1])
    header = struct.pack(">LHHHH", 0x00010000, len(tags), *getSearchRange(len(tags), 16)) + b"".join(directory)
    adjustment = (0xB1B0AFBA - sum(checksums) - _checksum(header)) & 0xFFFFFFFF
    font = bytearray(header + b"".join(body))
    struct.pack_into(">L", font, head_at + 8, adjustment)
    return bytes(font)


_face: _Face | None = None
_face_lock = threading.Lock()


def shared_face() -> _Face:
    global _face
    with _face_lock:
        if _face is None:
            _face = _load_face(cjk_font_bytes())
        return _face


def _load_face(data: bytes) -> _Face:
    tt = TTFont(io.BytesIO(data))
    order = tt.getGlyphOrder()
    hmtx = tt["hmtx"]
    for tag in ("head", "hhea", "OS/2", "post", "name", "maxp"):
        tt[tag]  # noqa: B018 - decompile now, so that readers later never do
    reader = SFNTReader(io.BytesIO(data))
    head = tt["head"]
    raw_loca = array("H" if head.indexToLocFormat == 0 else "I", reader["loca"])
    raw_loca.byteswap()
    loca = array("I", (v * 2 for v in raw_loca) if head.indexToLocFormat == 0 else raw_loca)
    best, gid_of = dict(tt.getBestCmap()), tt.getReverseGlyphMap()
    bmp_of_gid: dict[int, list[tuple[int, str]]] = {}
    for cp, name in best.items():
        if cp <= 0xFFFF:
            bmp_of_gid.setdefault(gid_of[name], []).append((cp, name))
    tables = {t: reader[t] for t in _COPIED if t in reader}
    return _Face(hb_font=hb.Font(hb.Face(data)), tt=tt, ps_name=_read_ps_name(tt), units_per_em=head.unitsPerEm,
                 glyph_order=order, advances=[hmtx[n][0] for n in order], reverse_cmap=tt["cmap"].buildReversed(),
                 tables=tables, head=reader["head"], glyf=reader["glyf"], loca=loca, best_cmap=best, gid_of=gid_of,
                 bmp_of_gid=bmp_of_gid, sums={t: _checksum(v) for t, v in tables.items()})


class _SubsetCIDFont(CIDFontType2):
    """pyHanko's TrueType CIDFont, embedding the subset given to it instead of saving the shared TTFont."""

    subset_bytes = b""

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """The subset Flate-compressed at zlib's fastest level: it is mostly zeros (the metrics and offsets of the
        glyph ids left empty), which level 1 packs within a tenth of the default level's size at under half its
        CPU (the default level was a fifth of a rendition page, profiled)."""
        stream = generic.StreamObject({pdf_name("/Filter"): pdf_name("/FlateDecode")},
                                      encoded_data=zlib.compress(self.subset_bytes, 1))
        ref = writer.add_object(stream)
        self._font_descriptor[pdf_name("/FontFile2")] = ref
        return ref


_Shaped = tuple[ShapeResult, tuple[tuple[int, tuple[int, int]], ...], tuple[tuple[int, str], ...]]
_SHAPED: dict[tuple[str, bool, float], _Shaped] = {}  # (text, actual text, size) -> shaped (``shape``)
_SHAPED_MAX = 8192  # entries; a few hundred bytes each


class SharedFontAccumulator(GlyphAccumulator):
    """A ``GlyphAccumulator`` over the shared face: same shaping, widths, ToUnicode and CIDFont as pyHanko's,
    without parsing or subsetting the whole font per document."""

    def __init__(self, writer: BasePdfFileWriter, font_size: float = 12) -> None:  # noqa: D107
        face = shared_face()
        FontEngine.__init__(self, writer, face.ps_name, embedded_subset=True, font_size=font_size)  # type: ignore[arg-type]
        self._face = face
        self.hb_font, self.tt = face.hb_font, face.tt
        self._font_ref = writer.allocate_placeholder()
        self.cff_charset, self.use_raw_gids = None, True
        self.cidfont_obj = _SubsetCIDFont(face.tt, face.ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = face.units_per_em
        self._glyphs: dict[int, tuple[int, int]] = {}
        self._glyph_set = None
        self._cid_to_unicode: dict[int, str] = {}
        self._GlyphAccumulator__reverse_cmap = face.reverse_cmap
        self.ot_language_tag = self.ot_script_tag = self.writing_direction = self.bcp47_lang_code = None
        self._subset_created = self._write_prepared = False

    def shape(self, txt: str, with_actual_text: bool = True) -> ShapeResult:
        """pyHanko's shaping, remembered per process (``_SHAPED``): the same text shapes to the same operators,
        glyphs and ToUnicode entries on every page, and a rendition sets mostly the same strings each time (the
        type's labels, title and footer; dates, issuers). HarfBuzz and the marked-content string written byte by
        byte per line were a sixth of a rendition page's CPU, profiled. A remembered text still registers its
        glyphs and ToUnicode entries with this document, so the subset and the CMap are what shaping gives (one
        difference: for a cluster of several glyphs pyHanko keeps a CID's first ToUnicode entry in a document and
        a replay sets it again; the CJK font's clusters are single glyphs)."""
        key = (txt, with_actual_text, self.font_size)
        found = _SHAPED.get(key)
        if found is None:
            found = self._shape_fresh(txt, with_actual_text)
            if len(_SHAPED) >= _SHAPED_MAX:
                _SHAPED.clear()  # bounded; strings that recur are shaped again once
            _SHAPED[key] = found
        result, glyphs, unicode = found
        self._glyphs.update(glyphs)
        self._cid_to_unicode.update(unicode)
        return result

    def _shape_fresh(self, txt: str, with_actual_text: bool) -> _Shaped:
        """``txt`` shaped by pyHanko, with the glyphs and ToUnicode entries it registered (collected apart from
        the document's, then handed back by ``shape``)."""
        glyphs, unicode = self._glyphs, self._cid_to_unicode
        self._glyphs, self._cid_to_unicode = {}, {}
        try:
            result = super().shape(txt, with_actual_text)
            return result, tuple(self._glyphs.items()), tuple(self._cid_to_unicode.items())
        finally:
            self._glyphs, self._cid_to_unicode = glyphs, unicode

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        found = self._glyphs.get(glyph_id)
        if found is None:  # CID = GID (Identity), as pyHanko does for TrueType outlines
            found = self._glyphs[glyph_id] = (glyph_id, self._face.advances[glyph_id])
        return found

    def _extract_subset(self, options: Any = None) -> None:
        assert isinstance(self.cidfont_obj, _SubsetCIDFont)
        self.cidfont_obj.subset_bytes = self._face.subset(set(self._glyphs))
