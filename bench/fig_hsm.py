"""Figure 1: ``hsm/`` ECDSA P-256 signatures per second against a bare PyKCS11 loop on the same key, and
two processes against one (PyKCS11 holds the GIL during C_Sign: throughput scales with processes)."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.core import Mode, Row, interleaved, not_measured, ratio_row, run_load

KEY_LABEL = "bench-sign-p256"
DATA = b"hutong benchmark payload " * 8
FIG_BARE = "hsm signatures/s EC P-256 vs bare PyKCS11 loop"
FIG_PROCS = "hsm signatures/s 2 processes vs 1"


def create_key(data_dir: Path) -> None:
    from hsm import CreateKeyRequest, KeyAlgorithm
    from hutong.node import open_node

    node = open_node(data_dir)
    try:
        node.keys.create_key(CreateKeyRequest(label=KEY_LABEL, algorithm=KeyAlgorithm.EC_P256))
    finally:
        node.close()


def _key_manager(data_dir: str) -> Any:
    from hsm import KeyManager
    from hutong.config import load_config
    from hutong.node import hsm_config

    return KeyManager(hsm_config(load_config(Path(data_dir))))


def hsm_op(data_dir: str) -> Callable[[], object]:
    """One ``hsm/`` signature (local SHA-256, CKM_ECDSA, DER encoding), as services sign."""
    signer = _key_manager(data_dir).signer(KEY_LABEL)
    return lambda: signer.sign(DATA)


def bare_op(data_dir: str) -> Callable[[], object]:
    """The same work on the same key with PyKCS11 alone: hash, then C_Sign with CKM_ECDSA."""
    import PyKCS11
    from PyKCS11 import LowLevel as L

    from hsm._module import get_module

    manager = _key_manager(data_dir)  # loads the module with the node's SoftHSM configuration
    lib = get_module(manager.config.module_path).lib
    label = manager.config.token_label
    slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == label)
    session = lib.openSession(slot, L.CKF_SERIAL_SESSION | L.CKF_RW_SESSION)
    try:
        session.login(manager.config.read_pin())
    except PyKCS11.PyKCS11Error as exc:
        if exc.value != L.CKR_USER_ALREADY_LOGGED_IN:
            raise
    key = session.findObjects([(L.CKA_CLASS, L.CKO_PRIVATE_KEY), (L.CKA_LABEL, KEY_LABEL)])[0]
    mech = PyKCS11.Mechanism(L.CKM_ECDSA)
    return lambda: session.sign(key, hashlib.sha256(DATA).digest(), mech)


def _compare_in_child(data_dir: str, seconds: float, rounds: int) -> tuple[float, float]:
    subject, baseline = hsm_op(data_dir), bare_op(data_dir)
    return interleaved(subject, baseline, seconds, rounds)


def run(mode: Mode, data_dir: Path, scaling: dict[str, list[tuple[float, float]]]) -> list[Row]:
    rows: list[Row] = []
    try:
        create_key(data_dir)
    except Exception as exc:  # noqa: BLE001 - reported as a row
        return [not_measured(FIG_BARE, ">= 0.9x", f"cannot create the key: {exc}"),
                not_measured(FIG_PROCS, ">= 1.7x", f"cannot create the key: {exc}")]
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            value, base = pool.submit(_compare_in_child, str(data_dir), mode.seconds * 2, mode.rounds).result(
                timeout=120 + mode.seconds * 2 * mode.rounds)
        rows.append(ratio_row(FIG_BARE, value, base, minimum=0.9, unit="sig/s",
                              note="one process, interleaved rounds, median",
                              fairness="1 process vs 1 process, same CPU"))
    except Exception as exc:  # noqa: BLE001
        rows.append(not_measured(FIG_BARE, ">= 0.9x", str(exc)))
    try:
        procs = sorted({1, 2, *mode.workers})
        rates: dict[int, list[float]] = {n: [] for n in procs}
        for _ in range(mode.rounds):
            for n in procs:
                res = run_load(hsm_op, str(data_dir), procs=n, threads=1, seconds=mode.seconds)
                if res.errors:
                    raise RuntimeError(res.first_error)
                rates[n].append(res.rate)
        med = {n: statistics.median(v) for n, v in rates.items()}
        scaling["hsm signatures/s vs processes"] = [(float(n), med[n]) for n in procs]
        rows.append(ratio_row(FIG_PROCS, med[2], med[1], minimum=1.7, unit="sig/s",
                              note="separate processes, same token",
                              fairness="a scaling ratio of the same code (2 processes vs 1)"))
    except Exception as exc:  # noqa: BLE001
        rows.append(not_measured(FIG_PROCS, ">= 1.7x", str(exc)))
    return rows
