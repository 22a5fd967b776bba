"""Figure 6: mixed load against ``hutong serve --workers 2`` -- what a node serves at once, not one RPC alone.

Each client thread works through the same cycle of calls, in this order and proportion (a citizen's day at a
portal: logins are rare and dear, token checks and certificate look-ups common, a seal now and then):

    login, refresh x 3, introspect x 4, get certificate x 4, sign (1-page visible seal, PAdES B-B)

Reported: completed calls/s over all kinds, p50 and p99 latency over all calls, and the error count. The
target is 0 errors (the p99 is reported, not bounded). Bounded in time: 60 s in full mode, 10 s in quick.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import Mode, Row, not_measured, percentile, run_load
from bench.world import PASSWORD, Prepared

FIGURE = "mixed load calls/s: login, refresh, introspect, get certificate, sign (hutong serve --workers 2)"
TARGET = "0 errors; p50/p99 reported"
CYCLE = ("login", "refresh", "refresh", "refresh", "introspect", "introspect", "introspect", "introspect",
         "get", "get", "get", "get", "sign")
SECONDS = {"tiny": 2.0, "quick": 10.0, "full": 60.0}
_counter = itertools.count()


def mixed_op(args: tuple[str, Prepared, str, str]) -> Callable[[], object]:
    """One thread's client: its own person, session, certificate client and seal stub; each call is the next
    kind in ``CYCLE``. A call that does not return what it should raises (counted as an error)."""
    from bench.fig_cert import _client as cert_client
    from bench.fig_identity import _client as identity_client
    from bench.fig_seal import sign_op

    target, prep, pdf_path, identifier = args
    idn = identity_client(target, prep)
    certs = cert_client(target, prep)
    sign = sign_op((target, prep, pdf_path, "B_B"))
    person = prep.people[next(_counter) % len(prep.people)]
    tokens = idn.login(person, PASSWORD)
    state: dict[str, Any] = {"rt": tokens.refresh_token, "at": tokens.access_token}
    kinds = itertools.cycle(CYCLE)

    def login() -> None:
        t = idn.login(person, PASSWORD)
        state["rt"], state["at"] = t.refresh_token, t.access_token

    def refresh() -> None:
        t = idn.refresh(state["rt"])
        state["rt"], state["at"] = t.refresh_token, t.access_token

    def introspect() -> None:
        if not idn.introspect(state["at"]).active:
            raise RuntimeError("a fresh access token introspected inactive")

    def get() -> None:
        if certs.get(identifier).identifier != identifier:
            raise RuntimeError("GetCertificate returned another certificate")

    calls: dict[str, Callable[[], object]] = {"login": login, "refresh": refresh, "introspect": introspect,
                                              "get": get, "sign": sign}
    return lambda: calls[next(kinds)]()


def run(mode: Mode, target: str, prep: Prepared, work: Path) -> list[Row]:
    from bench.fig_cert import ORG_NAME, ORG_USCC, licence_fields
    from bench.fig_cert import _client as cert_client
    from bench.pdfgen import write_pdf_file

    seconds = SECONDS.get(mode.name, mode.seconds)
    try:
        pdf = write_pdf_file(work / "mixed-one-page.pdf")
        identifier = cert_client(target, prep).issue(prep.type_code, ORG_USCC, ORG_NAME,
                                                     licence_fields(prep)).identifier
        res = run_load(mixed_op, (target, prep, str(pdf), identifier), procs=mode.client_procs,
                       threads=mode.client_threads, seconds=seconds, keep_latencies=True)
    except Exception as exc:  # noqa: BLE001 - reported as a row
        return [not_measured(FIGURE, TARGET, str(exc))]
    p50, p99 = percentile(res.latencies, 50) * 1000, percentile(res.latencies, 99) * 1000
    note = (f"{seconds:g} s, {mode.client_procs} client processes x {mode.client_threads} threads; "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; {res.errors} errors in {res.ops + res.errors} calls")
    if res.first_error:
        note += f"; first error: {res.first_error}"
    return [Row(FIGURE, res.rate, None, None, TARGET, res.errors == 0 and res.ops > 0, "calls/s", note,
                fairness="absolute throughput; no peer figure")]
