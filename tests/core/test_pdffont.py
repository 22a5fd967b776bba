"""The shared-font page writer embeds what pyHanko's own accumulator embeds: the same glyph ids with outlines
for the characters set, the same widths and the same text operators; and repeated verification of a
certificate (cached chains and status bits) still refuses what it refused before."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fontTools.ttLib.sfnt import SFNTReader, SFNTWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter

from hutong.pdffont import shared_face
from hutong.pdfpage import Page, to_bytes
from hutong.verify.x509 import chain_problem

TEXT = "营业执照 Hutong 2026 有限责任公司（测试）"


def _page(*, shared_font: bool) -> tuple[bytes, list[bytes]]:
    writer = PdfFileWriter()
    page = Page(writer, shared_font=shared_font)
    page.text(60, 700, TEXT, 12)
    page.centred(650, "证照标识", 9)
    ops = list(page.ops)
    page.finish()
    return to_bytes(writer), ops


def _font(pdf: bytes) -> tuple[TTFont, list[object]]:
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    type0 = page["/Resources"]["/Font"]["/F1"].get_object()
    cid = type0["/DescendantFonts"][0].get_object()
    data = cid["/FontDescriptor"]["/FontFile2"].get_object().data
    return TTFont(io.BytesIO(data)), list(cid["/W"])


def _widths(array: list[Any]) -> list[Any]:
    """A /W array as plain integers (nested lists for the runs of widths)."""
    return [[int(x) for x in w] if isinstance(w, list) else int(w) for w in array]


def test_same_glyphs_widths_and_operators_as_pyhankos_accumulator() -> None:
    ours, our_ops = _page(shared_font=True)
    core, core_ops = _page(shared_font=False)
    assert our_ops == core_ops  # the same shaping: the same text operators
    our_font, our_widths = _font(ours)
    core_font, core_widths = _font(core)
    assert _widths(our_widths) == _widths(core_widths)
    face = shared_face()
    # Glyph ids kept (CID = GID) up to the highest one used, as fontTools does.
    assert our_font["maxp"].numGlyphs == core_font["maxp"].numGlyphs <= len(face.advances)
    our_glyf, core_glyf = our_font["glyf"], core_font["glyf"]
    for ch in set(TEXT) - {" "}:
        name = face.tt.getBestCmap()[ord(ch)]
        gid = face.gid_of[name]
        ours_g, core_g = our_glyf[our_font.getGlyphName(gid)], core_glyf[core_font.getGlyphName(gid)]
        assert ours_g.numberOfContours != 0 and ours_g.numberOfContours == core_g.numberOfContours
    unused = face.gid_of[face.tt.getBestCmap()[ord("龘")]]
    assert our_glyf[our_font.getGlyphName(unused)].numberOfContours == 0  # a subset, not the whole font
    assert len(ours) < 2 * len(core)


def _unicode_map(pdf: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    return bytes(page["/Resources"]["/Font"]["/F1"].get_object()["/ToUnicode"].get_object().data)


def test_a_remembered_shaping_still_embeds_the_documents_glyphs(tmp_path: Path) -> None:
    """Shaping is remembered per process (``SharedFontAccumulator.shape``): a document that sets a text shaped
    before (here by the first document) still embeds those glyphs, widths and ToUnicode entries, and only its
    own: the text extracts with poppler, and glyphs set only in the first document are not in the second."""
    only_first = "龘"
    writer = PdfFileWriter()
    first = Page(writer)
    first.text(60, 700, TEXT + only_first, 12)
    first.text(60, 650, TEXT, 12)
    first.finish()
    second_pdf, _ = _page(shared_font=True)  # TEXT again: remembered
    core_pdf, _ = _page(shared_font=False)
    ours, core = _font(second_pdf), _font(core_pdf)
    assert _widths(ours[1]) == _widths(core[1])
    assert _unicode_map(second_pdf) == _unicode_map(core_pdf)
    face = shared_face()
    glyf = ours[0]["glyf"]
    for ch in set(TEXT) - {" "}:
        assert glyf[ours[0].getGlyphName(face.gid_of[face.tt.getBestCmap()[ord(ch)]])].numberOfContours != 0
    unused = face.gid_of[face.tt.getBestCmap()[ord(only_first)]]
    assert unused >= ours[0]["maxp"].numGlyphs or glyf[ours[0].getGlyphName(unused)].numberOfContours == 0
    (tmp_path / "second.pdf").write_bytes(second_pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "second.pdf"), "-"], capture_output=True, check=True,
                          text=True).stdout
    assert TEXT.replace(" ", "") in text.replace(" ", "") and "证照标识" in text


def test_the_subset_is_the_font_file_fonttools_writes() -> None:
    """``hutong.pdffont.sfnt`` (checksums of the large tables summed from what is known of them) writes the very
    bytes of fontTools' ``SFNTWriter``, and every table checksum and the head's adjustment verify."""
    face = shared_face()
    cmap = face.tt.getBestCmap()
    gids = {face.gid_of[cmap[ord(ch)]] for ch in TEXT + "龘" if ord(ch) in cmap}
    data = face.subset(gids)
    reader = SFNTReader(io.BytesIO(data), checkChecksums=2)  # raises on a table whose checksum is wrong
    tables = {tag: reader[tag] for tag in reader.tables}
    out = io.BytesIO()
    writer = SFNTWriter(out, len(tables))
    for tag in sorted(tables):
        writer[tag] = tables[tag]
    writer.close()
    assert out.getvalue() == data
    assert TTFont(io.BytesIO(data))["maxp"].numGlyphs > max(gids)  # ids kept (and composite glyphs' parts)


def test_cached_chain_check_still_refuses_an_untrusted_root() -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: str,
             signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(signer, hashes.SHA256()))

    root_key, other_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root, other = cert("root", root_key, "root", root_key), cert("other", other_key, "other", other_key)
    leaf = cert("leaf", leaf_key, "root", root_key)
    now = dt.datetime.now(dt.UTC)
    for _ in range(2):  # the second answer comes from the cache
        assert chain_problem([leaf, root], [root], now) == ""
        assert chain_problem([leaf, root], [other], now) == "the chain does not lead to a trusted root"
    assert "validity" in chain_problem([leaf, root], [root], now + dt.timedelta(days=3))  # never cached
