"""Figure 5: certificate issuance (JWS only, IssueBatch; and with the sealed PDF rendition), lookup by
identifier p99 as the repository grows, and offline certificate verification in the SDK (one core)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fig_lookup
from bench.core import LoadResult, Mode, Row, not_measured, rate_row, run_load, timed_rate
from bench.fig_lookup import lookup_figure
from bench.world import (
    ISSUER_PLATFORM,
    ORG_NAME,
    ORG_USCC,
    SERVER_WORKERS,
    Prepared,
    channel,
    platform_metadata,
)

FIG_BATCH = "certificate issuance/s, JWS only, IssueBatch"
FIG_PDF = "certificate issuance/s with sealed PDF rendition"
FIG_OFFLINE = "offline certificate verification in the SDK, per core"
ABSOLUTE = f"absolute target against server --workers {SERVER_WORKERS}; no peer figure"


def licence_fields(prep: Prepared) -> dict[str, str]:
    return {"name": ORG_NAME, "entity_type": "有限责任公司", "legal_representative": "测试0",
            "legal_representative_id": prep.people[0], "registered_capital": "100", "established_on": "2020-01-01",
            "address": "福建省福州市鼓楼区某某路1号", "business_scope": "软件开发；信息技术咨询服务",
            "registration_authority": "福州市市场监督管理局"}


def batch_csv(prep: Prepared, rows: int) -> bytes:
    import csv

    fields = licence_fields(prep)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["holder_id", "holder_name", *fields])
    for _ in range(rows):
        writer.writerow([ORG_USCC, ORG_NAME, *fields.values()])
    return out.getvalue().encode()


def _client(target: str, prep: Prepared) -> Any:
    from hutong_client.cert import CertClient

    return CertClient(channel(target), metadata=platform_metadata(ISSUER_PLATFORM, prep.issuer_secret), timeout=300)


# The server's workers share the port (SO_REUSEPORT): the kernel gives each connection to one worker. Two batches
# in flight on two connections left a worker idle for the whole figure whenever both connections went to the same
# one (half the runs): the figure measured that luck, not the server. So each load thread holds CONNECTIONS
# connections and sends each call on the next, and the load is the mode's client processes (2 in quick mode) x
# BATCH_THREADS batches in flight, renditions the mode's processes x threads (2 x 4), as the seal figures.
CONNECTIONS = 2
BATCH_THREADS = 2


def batch_op(args: tuple[str, Prepared, int]) -> Callable[[], object]:
    target, prep, rows = args
    clients, data = itertools.cycle([_client(target, prep) for _ in range(CONNECTIONS)]), batch_csv(prep, rows)

    def op() -> None:
        summary = None
        for msg in next(clients).issue_batch(prep.type_code, data):
            if msg.HasField("summary"):
                summary = msg.summary
        if summary is None or summary.issued != rows:
            raise RuntimeError(f"batch issued {summary.issued if summary else 0} of {rows}")

    return op


def issue_with_pdf_op(args: tuple[str, Prepared]) -> Callable[[], object]:
    target, prep = args
    clients, fields = itertools.cycle([_client(target, prep) for _ in range(CONNECTIONS)]), licence_fields(prep)

    def op() -> None:
        client = next(clients)
        cert = client.issue(prep.type_code, ORG_USCC, ORG_NAME, fields)
        pdf = client.rendition(cert.identifier)
        if not pdf.startswith(b"%PDF"):
            raise RuntimeError("the rendition is not a PDF")

    return op


def run(mode: Mode, target: str, prep: Prepared, latency: dict[str, list[tuple[float, float]]],
        server_cpu: Callable[[], float] | None = None) -> list[Row]:
    rows: list[Row] = []
    try:
        before = server_cpu() if server_cpu else 0.0
        res = run_load(batch_op, (target, prep, mode.batch_rows), procs=mode.client_procs, threads=BATCH_THREADS,
                       seconds=mode.seconds)
        if res.ops == 0 or res.errors:
            raise RuntimeError(res.first_error or "no batch finished in the time given")
        issued = res.ops * mode.batch_rows
        rows.append(rate_row(FIG_BATCH, issued / res.seconds, 500, unit="/s",
                             note=f"{mode.batch_rows} rows a batch, {mode.client_procs * BATCH_THREADS} batches at a "
                                  f"time over {mode.client_procs * BATCH_THREADS * CONNECTIONS} connections"
                                  + _cpu_note(server_cpu, before, res, issued, "row"), fairness=ABSOLUTE))
    except Exception as exc:  # noqa: BLE001 - reported as a row
        rows.append(not_measured(FIG_BATCH, ">= 500/s", str(exc)))
    try:
        before = server_cpu() if server_cpu else 0.0
        res = run_load(issue_with_pdf_op, (target, prep), procs=mode.client_procs, threads=mode.client_threads,
                       seconds=mode.seconds)
        if res.ops == 0 or res.errors > res.ops:
            raise RuntimeError(f"{res.errors} of {res.ops + res.errors} operations failed: {res.first_error}")
        load = mode.client_procs * mode.client_threads
        rows.append(rate_row(FIG_PDF, res.rate, 20, unit="/s",
                             note=f"IssueCertificate + DownloadRendition (sealed), {load} at a time over "
                                  f"{load * CONNECTIONS} connections"
                                  + _cpu_note(server_cpu, before, res, res.ops, "certificate"), fairness=ABSOLUTE))
    except Exception as exc:  # noqa: BLE001
        rows.append(not_measured(FIG_PDF, ">= 20/s", str(exc)))
    client = _client(target, prep)
    try:
        cert = client.issue(prep.type_code, ORG_USCC, ORG_NAME, licence_fields(prep))
    except Exception as exc:  # noqa: BLE001
        why = f"cannot issue a certificate: {exc}"
        return [*rows, not_measured(lookup_figure(mode), fig_lookup.TARGET, why),
                not_measured(FIG_OFFLINE, ">= 3000/s", why)]
    rows.append(offline_row(mode, client, cert.jws))
    rows.append(fig_lookup.lookup_row(mode, Path(prep.data_dir).parent / "lookup", latency, also_idle=server_cpu))
    return rows


def _cpu_note(server_cpu: Callable[[], float] | None, before: float, res: LoadResult, count: int, what: str) -> str:
    """CPU per operation of the server (all its processes) and of the load clients, over the timed window."""
    if not server_cpu or not count:
        return ""
    return (f"; CPU per {what}: server {(server_cpu() - before) / count * 1000:.2f} ms, "
            f"client {res.cpu_seconds / count * 1000:.2f} ms")


def offline_row(mode: Mode, client: Any, token: str) -> Row:
    try:
        verifier = client.offline_verifier(refresh=True)
        result = verifier.verify(token)  # fetches the status list once; cached for its TTL
        if result.verdict != "valid":
            raise RuntimeError(f"the SDK found the certificate {result.verdict}: {result.findings}")
        value = timed_rate(lambda: verifier.verify(token), mode.seconds)
        return rate_row(FIG_OFFLINE, value, 3000, unit="/s", note="one thread, trust bundle and status list cached",
                        fairness="one thread of the SDK, absolute")
    except Exception as exc:  # noqa: BLE001
        return not_measured(FIG_OFFLINE, ">= 3000/s", str(exc))
