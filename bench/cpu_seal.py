"""CPU per operation of the seal figures' work, for a machine too loaded for throughput ratios.

``python -m bench.cpu_seal`` prepares a node like ``hutong bench`` does and prints, per operation, the CPU
time (``time.thread_time``: the calling thread only, so other load on the machine hardly moves it) of:

- the seal service's own path in process (no gRPC): ``Sealer.seal_chunks`` at B-B and B-T, ``verify_chunks``;
- the pyHanko baselines of ``fig_seal`` (``sign_pdf`` B-B with a software key, ``validate_pdf_signature``
  with a new validation context), each in a spawned process of its own (pure pyHanko, nothing of ours
  imported there);
- one ``hsm/`` signature and one bare PyKCS11 signature, interleaved in one process.

What gRPC, the client and the audit integrator add is not in these figures; ``hutong bench`` measures the
whole. Median of rounds; no thresholds (this is a profile aid, not a figure with a target).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bench import fig_hsm, fig_seal
from bench.pdfgen import write_pdf_file
from bench.world import PORTAL, prepare_node


def cpu_ms(op: Callable[[], object], count: int, rounds: int) -> float:
    """Median over ``rounds`` of the thread CPU per call, in ms (one warm-up call first)."""
    op()
    samples = []
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(count):
            op()
        samples.append((time.thread_time() - started) / count * 1000)
    return statistics.median(samples)


def _baseline(kind: str, args: tuple[object, ...], count: int, rounds: int) -> float:
    op = fig_seal.pyhanko_sign_op(args) if kind == "sign" else fig_seal.pyhanko_verify_op(args)  # type: ignore[arg-type]
    return cpu_ms(op, count, rounds)


def _hsm(data_dir: str, count: int, rounds: int) -> tuple[float, float]:
    ours, bare = fig_hsm.hsm_op(data_dir), fig_hsm.bare_op(data_dir)
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(cpu_ms(ours, count, 1))
        b.append(cpu_ms(bare, count, 1))
    return statistics.median(a), statistics.median(b)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20, help="operations per round (seal figures)")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args(argv)

    from cryptography.hazmat.primitives.serialization import Encoding

    from hutong import pki
    from hutong.auth import Principal
    from hutong.node import open_node
    from hutong.verify.pdf import verify_chunks
    from seal_svc.crl import current_crl
    from seal_svc.sealing import PadesLevel, Placement, Sealer, SealOptions
    from seal_svc.seals import SealService

    with tempfile.TemporaryDirectory(prefix="cpu-seal-") as tmp:
        work = Path(tmp)
        prep = prepare_node(work / "node")
        fig_hsm.create_key(Path(prep.data_dir))
        node = open_node(Path(prep.data_dir))
        try:
            sealer = Sealer(SealService(node))
            one_page = write_pdf_file(work / "one-page.pdf")
            data = one_page.read_bytes()
            caller = Principal(kind="platform", subject=PORTAL, platform=PORTAL)

            def sign(level: PadesLevel) -> Callable[[], bytes]:
                options = SealOptions(placement=Placement(page=1, x=400, y=60, width=120, height=120),
                                      reason="benchmark", level=level)

                def op() -> bytes:
                    doc = sealer.seal_chunks(caller, prep.seal_id, [data], options, declared_size=len(data))
                    try:
                        return doc.read()
                    finally:
                        doc.close()
                return op

            sealed = sign(PadesLevel.B_T)()
            (work / "sealed.pdf").write_bytes(sealed)
            temp_dir = sealer.settings.temp_dir

            def verify() -> object:
                report = verify_chunks([sealed], sealer.trust, limit=len(sealed) + 1, temp_dir=temp_dir)
                if not report.signatures:
                    raise RuntimeError("no signature found")
                return report

            ours = {name: cpu_ms(op, opts.count, opts.rounds) for name, op in
                    (("SignPdf B-B", sign(PadesLevel.B_B)), ("SignPdf B-T", sign(PadesLevel.B_T)),
                     ("VerifyPdf", verify))}
            cas = [c.public_bytes(Encoding.DER) for c in node.pki.chain(pki.SEAL_CA)]
            crls = [current_crl(node, pki.SEAL_CA).der, current_crl(node, pki.ROOT).der]
        finally:
            node.close()
        key_path, cert_path = fig_seal.software_key(work)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            base_sign = pool.submit(_baseline, "sign", (str(one_page), str(key_path), str(cert_path)),
                                    opts.count, opts.rounds).result()
            base_verify = pool.submit(_baseline, "verify", (str(work / "sealed.pdf"), cas, crls),
                                      opts.count, opts.rounds).result()
            hsm_ours, hsm_bare = pool.submit(_hsm, prep.data_dir, 300, opts.rounds * 3).result()

    print(f"{'operation':<44}{'ours ms':>9}{'baseline ms':>13}{'baseline/ours':>15}")
    for name, base, label in (("SignPdf B-B", base_sign, "pyHanko sign_pdf B-B"),
                              ("SignPdf B-T", base_sign, "pyHanko sign_pdf B-B"),
                              ("VerifyPdf", base_verify, "pyHanko validate_pdf_signature")):
        print(f"{name + ' vs ' + label:<44}{ours[name]:>9.1f}{base:>13.1f}{base / ours[name]:>15.2f}")
    print(f"{'hsm/ signature vs bare PyKCS11':<44}{hsm_ours:>9.3f}{hsm_bare:>13.3f}{hsm_bare / hsm_ours:>15.2f}")


if __name__ == "__main__":
    main()
