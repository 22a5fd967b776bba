"""Uploads are taken in by ``pdfio.spool``: small ones stay in memory, larger ones go to an anonymous temporary
file; either way the bytes, size and SHA-256 are exactly what was sent, and the size limit holds."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from hutong.errors import ResourceExhausted
from hutong.verify.pdfio import IN_MEMORY, scratch_file, spool


@pytest.mark.parametrize(("size", "piece"), [
    (0, 65536), (1, 65536), (4096, 1000), (IN_MEMORY - 1, 65536), (IN_MEMORY, 65536), (IN_MEMORY, IN_MEMORY),
    (IN_MEMORY + 1, 65536), (IN_MEMORY + 1, IN_MEMORY), (3 * IN_MEMORY + 5, 65536), (3 * IN_MEMORY + 5, IN_MEMORY),
])
def test_spooled_bytes_are_exactly_the_upload(tmp_path: Path, size: int, piece: int) -> None:
    data = os.urandom(size)
    doc = spool((data[i:i + piece] for i in range(0, size, piece)), limit=10 * IN_MEMORY, temp_dir=str(tmp_path))
    try:
        assert doc.size == size and doc.sha256 == hashlib.sha256(data).hexdigest()
        assert b"".join(doc.chunks(7919)) == data
        doc.file.seek(size // 2)
        assert doc.file.read() == data[size // 2:]
        # in memory up to IN_MEMORY bytes, a real (anonymous) file past it
        assert isinstance(doc.file, io.BytesIO) == (size <= IN_MEMORY)
    finally:
        doc.close()


@pytest.mark.parametrize("limit", [100, IN_MEMORY + 100])
def test_the_limit_holds_in_memory_and_on_disk(tmp_path: Path, limit: int) -> None:
    data = os.urandom(limit + 1)
    with pytest.raises(ResourceExhausted) as err:
        spool((data[i:i + 40000] for i in range(0, len(data), 40000)), limit=limit, temp_dir=str(tmp_path))
    assert err.value.reason == "UPLOAD_TOO_LARGE"
    assert os.listdir(tmp_path) == []  # nothing named left behind


def test_a_sealed_copy_is_written_where_its_upload_was_held(tmp_path: Path) -> None:
    small, large = scratch_file(str(tmp_path), IN_MEMORY), scratch_file(str(tmp_path), IN_MEMORY + 1)
    try:
        assert isinstance(small, io.BytesIO) and not isinstance(large, io.BytesIO)
        for f in (small, large):
            f.write(b"%PDF-1.7 sealed")
            f.seek(0)
            assert f.read() == b"%PDF-1.7 sealed"
        assert os.listdir(tmp_path) == []  # the file is anonymous: nothing left behind by a crash
    finally:
        small.close()
        large.close()
