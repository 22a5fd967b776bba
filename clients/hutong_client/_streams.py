"""Documents in and out of streaming calls: from / to files, byte strings or binary streams, in 1 MiB chunks.

A document written to a path only appears there once it is complete (written to a temporary file in
the same directory, then renamed), so a failed or interrupted transfer never leaves half a file.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from hutong_client._channel import CHUNK

Source = str | os.PathLike[str] | bytes | BinaryIO


def chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while block := stream.read(size):
        yield block


def replayable(source: Source) -> tuple[Callable[[], Iterator[bytes]], int]:
    """A factory of fresh chunk iterators over ``source`` (for retries) and its size (0 = unknown).

    Paths are reopened for every attempt, bytes re-sliced, seekable streams rewound; a stream that
    cannot seek is read once (a second attempt would fail with the stream exhausted: callers only
    retry when ``source`` is a path, bytes or seekable).
    """
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        return (lambda: chunks(io.BytesIO(data))), len(data)
    if isinstance(source, str | os.PathLike):
        path = Path(source)

        def from_file() -> Iterator[bytes]:
            with path.open("rb") as f:
                yield from chunks(f)

        return from_file, path.stat().st_size
    stream = source
    start = stream.tell() if stream.seekable() else None

    def from_stream() -> Iterator[bytes]:
        if start is not None:
            stream.seek(start)
        return chunks(stream)

    size = 0
    if start is not None:
        size = stream.seek(0, io.SEEK_END) - start
        stream.seek(start)
    return from_stream, size


@contextmanager
def atomic_file(dest: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file that appears at ``dest`` only when the block completes without an exception."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as sink:
            yield sink
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
