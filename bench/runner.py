"""Runs the figures in order, prints the table, writes ``results.json`` (a list of rows) and the PNG plots.

Every figure is robust on its own: a failure becomes a row "not measured: why" and the run goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import fig_cert, fig_cli, fig_hsm, fig_identity, fig_mixed, fig_seal, fig_tlog, fig_tokens
from bench.core import MODES, Mode, Row, not_measured
from bench.plot import line_plot
from bench.world import SERVER_WORKERS, Prepared, Server, prepare_node

PHASES = ("hsm", "tokens", "identity", "seal", "cert", "mixed", "cli", "tlog")
PLOTS = {
    "throughput_vs_workers.png": "refresh grants/s vs server workers",
    "hsm_signatures_vs_processes.png": "hsm signatures/s vs processes",
    "latency_vs_repository_size.png": "lookup latency vs stored certificates",
}


def expected(mode: Mode) -> dict[str, list[tuple[str, str]]]:
    """The figures of each phase, for 'not measured' rows when a whole phase cannot run."""
    return {
        "hsm": [(fig_hsm.FIG_BARE, ">= 0.9x"), (fig_hsm.FIG_PROCS, ">= 1.7x")],
        "tokens": [(fig_tokens.FIGURE, fig_tokens.TARGET)],
        "identity": [(fig_identity.FIG_REFRESH, ">= 600/s"), (fig_identity.FIG_LOGIN, ">= 30/s")],
        "seal": [(fig_seal.FIG_BB, ">= 2x"), (fig_seal.FIG_BT, ">= 1.5x"), (fig_seal.FIG_VERIFY, ">= 2x"),
                 (f"SignPdf time {mode.pdf_large_mb:g} MB vs {mode.pdf_small_mb:g} MB document (B-B)", "<= 12x")],
        "cert": [(fig_cert.FIG_BATCH, ">= 500/s"), (fig_cert.FIG_PDF, ">= 20/s"),
                 (fig_cert.FIG_OFFLINE, ">= 3000/s"), (fig_cert.lookup_figure(mode), "<= 1.5x and <= 5 ms")],
        "mixed": [(fig_mixed.FIGURE, fig_mixed.TARGET)],
        "cli": [(f, f"<= {fig_cli.TARGET_MAX:g}x") for f in fig_cli.figures()],
        "tlog": [(fig_tlog.FIGURE, f">= {fig_tlog.TARGET_RATIO:g}x")],
    }


def _log(msg: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Run:
    def __init__(self, mode: Mode, out: Path, phases: tuple[str, ...]) -> None:
        self.mode, self.out, self.phases = mode, out, phases
        self.rows: list[Row] = []
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.work = Path(tempfile.mkdtemp(prefix="hutong-bench-"))
        self.data_dir = self.work / "node"
        self.log_path = out / "server.log"

    def phase(self, name: str, fn: Callable[[], list[Row]]) -> None:
        if name not in self.phases:
            return
        _log(f"{name} ...")
        t0 = time.monotonic()
        try:
            self.rows.extend(fn())
        except Exception as exc:  # noqa: BLE001 - the whole phase becomes 'not measured'
            self.rows.extend(not_measured(f, t, f"{type(exc).__name__}: {exc}") for f, t in expected(self.mode)[name])
        _log(f"{name} done in {time.monotonic() - t0:.0f} s")

    def server(self, workers: int) -> Server:
        return Server(self.data_dir, workers, self.log_path)

    def run(self) -> list[Row]:
        try:
            prep = prepare_node(self.data_dir)
        except Exception as exc:  # noqa: BLE001
            for name in self.phases:
                self.rows.extend(not_measured(f, t, f"the node could not be prepared: {exc}")
                                 for f, t in expected(self.mode)[name])
            return self.rows
        mode, data_dir = self.mode, self.data_dir
        self.phase("hsm", lambda: fig_hsm.run(mode, data_dir, self.series))
        self.phase("tokens", lambda: fig_tokens.run(mode, data_dir))
        self.phase("cli", lambda: fig_cli.run(mode))
        self.phase("tlog", lambda: fig_tlog.phase(mode))  # its own throw-away PostgreSQL cluster and node
        server_phases: list[str] = [p for p in ("identity", "seal", "cert", "mixed") if p in self.phases]
        if server_phases:
            self.serve(prep, server_phases)
        return self.rows

    def serve(self, prep: Prepared, phases: list[str]) -> None:
        refresh: dict[int, float] = {}
        mode = self.mode
        if "identity" in phases:
            for workers in [w for w in mode.workers if w != 2]:
                try:
                    with self.server(workers) as s:
                        fig_identity.register_people(s.target, prep)
                        refresh[workers] = fig_identity.refresh_rate(mode, s.target, prep)
                except Exception as exc:  # noqa: BLE001 - a missing point on the scaling plot only
                    _log(f"refresh with {workers} worker(s) not measured: {exc}")
        try:
            server = self.server(SERVER_WORKERS)
            server.wait_ready()
        except Exception as exc:  # noqa: BLE001
            for name in phases:
                self.rows.extend(not_measured(f, t, f"hutong serve --workers {SERVER_WORKERS} did not start: {exc}")
                                 for f, t in expected(mode)[name])
            return
        try:
            target = server.target

            def identity() -> list[Row]:
                fig_identity.register_people(target, prep)
                refresh[2] = fig_identity.refresh_rate(mode, target, prep, server.cpu_seconds)
                return fig_identity.run(mode, target, prep, refresh)

            self.phase("identity", identity)
            self.phase("seal", lambda: fig_seal.run(mode, target, prep, self.work))
            self.phase("cert", lambda: fig_cert.run(mode, target, prep, self.series, server.cpu_seconds))
            if "mixed" in phases and "identity" not in phases:
                fig_identity.register_people(target, prep)
            self.phase("mixed", lambda: fig_mixed.run(mode, target, prep, self.work))
        finally:
            server.stop()
        if refresh:
            self.series["refresh grants/s vs server workers"] = sorted((float(w), r) for w, r in refresh.items())

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def write_plots(out: Path, series: dict[str, list[tuple[float, float]]]) -> list[Path]:
    refresh = {k: v for k, v in series.items() if k.startswith("refresh")}
    hsm = {k: v for k, v in series.items() if k.startswith("hsm")}
    lookup = {k: v for k, v in series.items() if k.startswith("lookup")}
    return [
        line_plot(out / "throughput_vs_workers.png", "Token refresh grants/s vs hutong serve --workers", refresh,
                  xlabel="server worker processes", ylabel="grants/s"),
        line_plot(out / "hsm_signatures_vs_processes.png", "hsm/ EC P-256 signatures/s vs processes", hsm,
                  xlabel="signing processes", ylabel="signatures/s"),
        line_plot(out / "latency_vs_repository_size.png", "GetCertificate latency vs stored certificates", lookup,
                  xlabel="stored certificates", ylabel="ms", log_x=True),
    ]


def _num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if abs(v) >= 10 else f"{v:.3g}"


def table(rows: list[Row]) -> str:
    head = ("figure", "value", "baseline", "ratio", "target", "met", "fairness")
    body = [(r.figure, f"{_num(r.value)} {r.unit}".strip() if r.value is not None else "-",
             _num(r.baseline), _num(r.ratio, 2), r.target,
             "n/m" if r.met is None else ("yes" if r.met else "NO"), r.fairness) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    widths[0] = min(widths[0], 90)
    lines = ["  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(head)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(row)) for row in body]
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def run(mode_name: str, out: Path, phases: tuple[str, ...] = PHASES) -> list[Row]:
    """Run the benchmark; writes DIR/results.json, DIR/run.json and the plots; returns the rows."""
    mode = MODES[mode_name]
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bench = Run(mode, out, phases)
    try:
        rows = bench.run()
    finally:
        bench.close()
    (out / "results.json").write_text(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2),
                                      encoding="utf-8")
    (out / "run.json").write_text(json.dumps({
        "mode": mode.name, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "series": bench.series, "python": sys.version.split()[0]}, indent=2), encoding="utf-8")
    write_plots(out, bench.series)
    print(table(rows))
    print(f"\n{len(rows)} figures, {sum(1 for r in rows if r.met)} met, {sum(1 for r in rows if r.met is False)} "
          f"missed, {sum(1 for r in rows if r.met is None)} not measured; {mode.name} mode, "
          f"{time.monotonic() - started:.0f} s; results in {out}/results.json")
    return rows
