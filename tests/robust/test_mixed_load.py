"""A short concurrent mixed load against ``hutong serve --workers 2``: no call answers INTERNAL or UNKNOWN.

The long run is ``python -m bench.mixed_load --seconds 300`` (by hand); here the same mix is bounded by a
count of calls per thread. Seals at B-B, B-T and B-LT run in parallel in each worker process, which is what
once failed (shared asn1crypto objects mutated by concurrent CMS encoding).
"""

from __future__ import annotations

from pathlib import Path

from bench.mixed_load import run
from bench.world import Server, prepare_node


def test_mixed_concurrent_load_has_no_internal(tmp_path: Path) -> None:
    prep = prepare_node(tmp_path / "node", people=2)
    with Server(tmp_path / "node", 2, tmp_path / "server.log") as server:
        tally = run(server.target, prep, threads=4, calls_per_thread=12, seed=7)
    summary = tally.summary()
    assert summary["calls"] == 48
    assert tally.internal == 0, summary
    assert any(k.startswith("SignPdf OK") for k in summary["outcomes"]), summary  # the load did seal
