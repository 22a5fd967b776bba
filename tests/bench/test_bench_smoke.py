"""The benchmark runs end to end on a tiny configuration: every figure yields a well-formed row (measured or
'not measured: why'), results.json is a list of such rows, and the plots are valid PNG images.

No timing is asserted: the numbers of a tiny run mean nothing, only the shape is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.plot import line_plot
from bench.runner import PLOTS, run, table

KEYS = {"figure", "value", "baseline", "ratio", "target", "met", "unit", "note", "fairness"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    out = tmp_path_factory.mktemp("bench-out")
    run("tiny", out)
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.timeout(600)  # the module's run is set up here: every phase at tiny sizes, ~5 min on a loaded machine
def test_every_figure_has_a_well_formed_row(results: tuple[Path, list[dict[str, object]]]) -> None:
    _, rows = results
    assert isinstance(rows, list) and len(rows) == 18  # 13 figures + mixed load + 3 CLI start-up + audit log
    for row in rows:
        assert set(row) == KEYS, row
        assert isinstance(row["figure"], str) and row["figure"]
        assert isinstance(row["target"], str) and row["target"]
        assert isinstance(row["fairness"], str) and row["fairness"], row  # every row says how it is matched
        if row["met"] is None:
            assert str(row["note"]).startswith("not measured: "), row
            assert row["value"] is None
        else:
            assert isinstance(row["met"], bool)
            assert isinstance(row["value"], int | float)
            assert row["baseline"] is None or isinstance(row["baseline"], int | float)
            assert row["ratio"] is None or isinstance(row["ratio"], int | float)
    per_core = [r for r in rows if "per core" in str(r["figure"]) and "SignPdf" in str(r["figure"])
                or "VerifyPdf" in str(r["figure"])]
    assert len(per_core) == 3 and all("2 processes" in str(r["fairness"]) or r["met"] is None for r in per_core)
    figures = " | ".join(str(r["figure"]) for r in rows)
    for word in ("hsm signatures/s", "2 processes", "token verification", "refresh", "logins", "B-B", "B-T",
                 "VerifyPdf", "SignPdf time", "JWS only", "sealed PDF", "lookup by identifier",
                 "offline certificate verification", "mixed load", "Merkle log vs linear chain"):
        assert word in figures, word


@pytest.mark.slow
def test_plots_are_png_images(results: tuple[Path, list[dict[str, object]]]) -> None:
    out, _ = results
    for name in PLOTS:
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG"
    assert json.loads((out / "run.json").read_text())["mode"] == "tiny"


def test_line_plot_with_and_without_data(tmp_path: Path) -> None:
    line_plot(tmp_path / "a.png", "t", {"s": [(1, 10.0), (2, 19.0)], "u": [(1, 5.0), (3, 7.5)]},
              xlabel="x", ylabel="y")
    line_plot(tmp_path / "b.png", "t", {}, xlabel="x", ylabel="y", log_x=True)
    line_plot(tmp_path / "c.png", "t", {"p99": [(10_000, 2.0), (100_000, 2.4)]}, xlabel="x", ylabel="ms", log_x=True)
    for name in ("a.png", "b.png", "c.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.size[0] > 100


def test_table_marks_missed_and_not_measured() -> None:
    from bench.core import not_measured, rate_row, ratio_row

    text = table([ratio_row("a", 1.0, 2.0, minimum=0.9), rate_row("b", 700, 600, baseline=240),
                  not_measured("c", ">= 1x", "no server")])
    assert "NO" in text and "yes" in text and "n/m" in text and "not measured: no server" in text
