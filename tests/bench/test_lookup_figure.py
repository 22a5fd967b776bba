"""The lookup figure's fairness (``bench.fig_lookup``): every repository size is timed in as many rounds as the
others, alternating ABBA so a drift of the machine's speed weighs on each alike, and each size is measured on a
node and database of its own holding exactly that many certificates (PostgreSQL: ``bench.lookup_pg``'s database
per size). No timing is asserted: only what was measured, not how fast."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy

from bench import fig_lookup
from bench.core import MODES
from bench.lookup_pg import database_per_size
from bench.seed import SEED_LIST


@pytest.mark.parametrize("names", [[1, 2], [1, 2, 3]])
def test_rounds_alternate_and_every_size_is_timed_alike(names: list[int]) -> None:
    order = list(fig_lookup.round_order(names, 4))
    assert Counter(order) == {n: 4 for n in names}
    # in each pair of rounds every size sits once early and once late: the same mean position for all
    positions: dict[int, int] = Counter()
    for i, n in enumerate(order[: 2 * len(names)]):
        positions[n] += i
    assert len(set(positions.values())) == 1, positions
    assert order[: len(names)] == names and order[len(names): 2 * len(names)] == names[::-1]


@pytest.mark.slow
def test_each_size_is_timed_on_its_own_postgresql_database(postgres_server: str, tmp_path: Path) -> None:
    from tests.conftest import _create_database

    mode = MODES["tiny"]
    sizes = fig_lookup.sizes(mode)
    urls = database_per_size(_create_database(postgres_server), sizes)
    assert len(set(urls.values())) == len(sizes)
    latency: dict[str, list[tuple[float, float]]] = {}
    row = fig_lookup.lookup_row(mode, tmp_path / "lookup", latency, url_for=urls.__getitem__, keep=True)
    assert row.met is not None, row.note  # measured
    assert [s for s, _ in latency["lookup p99 ms vs stored certificates"]] == sizes
    assert f"{mode.lookups} timed lookups per size" in row.note
    assert "the floor, a bare grpcio Health server timed in the same rounds: p50" in row.note
    for size, url in urls.items():
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as c:
                seeded = c.execute(sqlalchemy.text("SELECT count(*) FROM certificates WHERE status_list_id = :l"),
                                   {"l": SEED_LIST}).scalar_one()
        finally:
            engine.dispose()
        assert seeded == size
