"""A 50 MB PDF seals and verifies through the API; the server process's peak memory (VmHWM, reset
after warm-up) grows by at most three times the document size."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from bench.pdfgen import make_pdf_file
from hutong.common.v1 import common_pb2
from hutong.seal.v1 import seal_pb2
from tests.seal.conftest import SealEnv, org_a_people

MB = 1024 * 1024
CORNER = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _client(port: int, token: str) -> object:
    from hutong_client.seal import SealClient

    opts = [("grpc.max_receive_message_length", 8 * MB), ("grpc.max_send_message_length", 8 * MB)]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=opts)
    grpc.channel_ready_future(channel).result(timeout=30)
    return SealClient(channel, token=token)


@pytest.mark.slow
def test_50mb_pdf_seals_and_verifies_within_three_times_its_size(env: SealEnv, tmp_path: Path) -> None:
    user = org_a_people(env)[2]  # a staff member's real token, for the server in the other process
    seal = env.seal_for(user=user.principal)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("seal_server_proc.py")), str(env.node.config.data_dir)],  # type: ignore[attr-defined]
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        client = _client(int(proc.stdout.readline()), user.token)
        small = make_pdf_file(tmp_path / "small.pdf")
        client.sign_file(small, tmp_path / "small-sealed.pdf", seal.seal_id, placement=CORNER)  # type: ignore[attr-defined]
        client.verify_file(tmp_path / "small-sealed.pdf")  # type: ignore[attr-defined]  # warm-up
        big = make_pdf_file(tmp_path / "big.pdf", filler_bytes=50 * MB)
        size = big.stat().st_size
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        baseline_kb = _status_kb(proc.pid, "VmRSS")
        started = time.monotonic()
        result = client.sign_file(big, tmp_path / "big-sealed.pdf", seal.seal_id, placement=CORNER,  # type: ignore[attr-defined]
                                  level=seal_pb2.PADES_LEVEL_B_T)
        report = client.verify_file(tmp_path / "big-sealed.pdf")  # type: ignore[attr-defined]
        elapsed = time.monotonic() - started
        growth = _status_kb(proc.pid, "VmHWM") * 1024 - baseline_kb * 1024
        print(f"\n50 MB PDF: {size / MB:.1f} MiB, seal+verify {elapsed:.1f} s, server RSS baseline "
              f"{baseline_kb / 1024:.0f} MiB, peak growth {growth / MB:.1f} MiB ({growth / size:.2f}x document)")
        assert result.output_size > size
        assert report.verdict == common_pb2.VERDICT_VALID
        assert growth <= 3 * size
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)
