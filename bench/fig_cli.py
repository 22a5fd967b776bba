"""CLI start-up: ``hutong <command> --help`` for client commands against ``python -c "import grpc"``.

The target (issue 15) is under 3x the bare gRPC import: a client command must not load SQLAlchemy,
pyHanko, PyKCS11 or the other areas' command modules. Each figure is the median wall time of several
fresh interpreter starts, the two interleaved so machine load affects both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.core import Mode, Row, ratio_row

# ``cert types --help`` is the issue's own figure; the others cover the seal and identity command modules.
COMMANDS = (("cert", "types"), ("seal", "sign"), ("identity", "login"))
FIGURE = "CLI start-up `hutong {} --help` vs `python -c 'import grpc'`"
TARGET_MAX = 3.0


def _wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def figures() -> list[str]:
    return [FIGURE.format(" ".join(c)) for c in COMMANDS]


def run(mode: Mode) -> list[Row]:
    runs = 5 if mode.name == "tiny" else 15
    baseline_cmd = [sys.executable, "-c", "import grpc"]
    rows = []
    for command in COMMANDS:
        subject_cmd = [sys.executable, "-m", "hutong.cli", *command, "--help"]
        _wall(subject_cmd), _wall(baseline_cmd)  # warm the page cache
        subject, baseline = [], []
        for _ in range(runs):
            subject.append(_wall(subject_cmd))
            baseline.append(_wall(baseline_cmd))
        value, base = statistics.median(subject), statistics.median(baseline)
        rows.append(ratio_row(FIGURE.format(" ".join(command)), value * 1000, base * 1000, maximum=TARGET_MAX,
                              unit="ms", note=f"median of {runs} starts each",
                              fairness="1 process vs 1 process, same CPU, interleaved"))
    return rows
