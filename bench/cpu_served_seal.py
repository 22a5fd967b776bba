"""CPU per served VerifyPdf or SignPdf against pyHanko's, for a machine too loaded for throughput ratios.

``python -m bench.cpu_served_seal [verify|B_B|B_T] [--seconds S] [--rounds R]`` prepares a node like ``hutong
bench`` does, starts ``hutong serve --workers 2``, runs the bench's own client load (``fig_seal.verify_op`` or
``sign_op``, 2 processes x 4 streams) and prints, per round, the server's CPU per operation (user + system of the
server and its workers, from /proc) and the client processes' CPU per operation; then the pyHanko baseline of the
same figure in 2 processes. What ``bench.cpu_seal`` measures in process, this measures served: the difference is
what gRPC, the servicer and the client cost. No thresholds (a profile aid, not a figure with a target).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import fig_seal
from bench.core import run_load
from bench.pdfgen import write_pdf_file
from bench.world import Server, prepare_node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", default="verify", choices=["verify", "B_B", "B_T"])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cpu-served-seal-") as tmp:
        work = Path(tmp)
        prep = prepare_node(work / "node")
        one_page = write_pdf_file(work / "one-page.pdf")
        with Server(Path(prep.data_dir), 2, work / "server.log") as server:
            sealed = work / "sealed-bt.pdf"
            sealed.write_bytes(fig_seal.sign_once(server.target, prep, one_page.read_bytes(), "B_T"))
            cas, crls = fig_seal.trust_material(server.target, prep)
            for _ in range(opts.rounds):
                before = server.cpu_seconds()
                if opts.what == "verify":
                    res = run_load(fig_seal.verify_op, (server.target, prep, str(sealed)), procs=2, threads=4,
                                   seconds=opts.seconds)
                else:
                    res = run_load(fig_seal.sign_op, (server.target, prep, str(one_page), opts.what), procs=2,
                                   threads=4, seconds=opts.seconds)
                used = server.cpu_seconds() - before
                ops = max(1, res.ops)
                print(f"{opts.what}: {res.ops} ops, {res.rate:.1f}/s, {res.errors} errors; server CPU per op "
                      f"{used / ops * 1000:.2f} ms, client CPU per op {res.cpu_seconds / ops * 1000:.2f} ms",
                      flush=True)
        if opts.what == "verify":
            base = run_load(fig_seal.pyhanko_verify_op, (str(sealed), cas, crls), procs=2, threads=1,
                            seconds=opts.seconds)
        else:
            key_path, cert_path = fig_seal.software_key(work)
            base = run_load(fig_seal.pyhanko_sign_op, (str(one_page), str(key_path), str(cert_path)), procs=2,
                            threads=1, seconds=opts.seconds)
        print(f"pyHanko baseline: {base.ops} ops, {base.rate:.1f}/s; CPU per op "
              f"{base.cpu_seconds / max(1, base.ops) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
