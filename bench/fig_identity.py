"""Figure 3: token refresh grants/s and password logins/s (Argon2id at Keycloak's default cost) against
``hutong serve --workers N``, client load in separate processes. Keycloak's published figures (120 refresh
grants/s and 15 password logins/s per vCPU, i.e. 240/s and 30/s on this machine's 2) are printed beside."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from bench.core import Mode, Row, load_rate, not_measured, rate_row, run_load
from bench.world import PASSWORD, PORTAL, SERVER_WORKERS, Prepared, channel

FIG_REFRESH = "token refresh grants/s (hutong serve --workers 2)"
FIG_LOGIN = "password logins/s, Argon2id Keycloak default (hutong serve --workers 2)"
KEYCLOAK_REFRESH_2VCPU = 240.0
KEYCLOAK_LOGIN_2VCPU = 30.0
_counter = itertools.count()


def _client(target: str, prep: Prepared) -> Any:
    from hutong_client.identity import IdentityClient

    return IdentityClient(channel(target), client_id=PORTAL, client_secret=prep.portal_secret, timeout=60)


def register_people(target: str, prep: Prepared) -> None:
    """Everyone in the register gets an account at the portal (idempotent across server restarts)."""
    from hutong.errors import AlreadyExists

    client = _client(target, prep)
    for i, number in enumerate(prep.people):
        with contextlib.suppress(AlreadyExists):
            client.register_person(number, f"测试{i}", PASSWORD)
    client.channel.close()


def refresh_op(args: tuple[str, Prepared]) -> Callable[[], object]:
    """A session of its own, then refresh after refresh (each grant spends the previous refresh token)."""
    target, prep = args
    client = _client(target, prep)
    person = prep.people[next(_counter) % len(prep.people)]
    state = {"rt": client.login(person, PASSWORD).refresh_token}

    def op() -> None:
        state["rt"] = client.refresh(state["rt"]).refresh_token

    return op


def login_op(args: tuple[str, Prepared]) -> Callable[[], object]:
    target, prep = args
    client = _client(target, prep)
    person = prep.people[next(_counter) % len(prep.people)]
    return lambda: client.login(person, PASSWORD)


# What the last refresh measurement cost, per grant: "server CPU x ms + client CPU y ms" (the row's note).
CPU_NOTE: dict[int, str] = {}


def refresh_rate(mode: Mode, target: str, prep: Prepared, server_cpu: Callable[[], float] | None = None,
                 workers: int = SERVER_WORKERS) -> float:
    """Refresh grants/s; with ``server_cpu`` (the server's CPU seconds so far) the CPU each grant cost the server
    and the client load processes is kept in ``CPU_NOTE[workers]``: on a shared 2-core machine the two compete,
    so a throughput figure says little without them."""
    before = server_cpu() if server_cpu else 0.0
    res = run_load(refresh_op, (target, prep), procs=mode.client_procs, threads=mode.client_threads,
                   seconds=mode.seconds)
    if res.ops == 0 or res.errors > res.ops:
        raise RuntimeError(f"{res.errors} of {res.ops + res.errors} operations failed: {res.first_error}")
    if server_cpu:
        server_ms = (server_cpu() - before) / res.ops * 1000  # includes the server's background threads
        CPU_NOTE[workers] = (f"CPU per grant: server {server_ms:.2f} ms, client {res.cpu_seconds / res.ops * 1000:.2f}"
                             f" ms ({mode.client_procs} client processes x {mode.client_threads} threads)")
    return res.rate


def run(mode: Mode, target: str, prep: Prepared, refresh_by_workers: dict[int, float]) -> list[Row]:
    rows: list[Row] = []
    try:
        value = refresh_by_workers.get(2) or refresh_rate(mode, target, prep)
        cpu = f"; {CPU_NOTE[SERVER_WORKERS]}" if SERVER_WORKERS in CPU_NOTE else ""
        rows.append(rate_row(FIG_REFRESH, value, 600, baseline=KEYCLOAK_REFRESH_2VCPU, unit="/s",
                             note=f"baseline: Keycloak published 120/s per vCPU x 2{cpu}",
                             fairness=f"server --workers {SERVER_WORKERS} vs Keycloak per vCPU x {SERVER_WORKERS}"))
    except Exception as exc:  # noqa: BLE001 - reported as a row
        rows.append(not_measured(FIG_REFRESH, ">= 600/s", str(exc)))
    try:
        value = load_rate(login_op, (target, prep), procs=mode.client_procs, threads=mode.client_threads,
                          seconds=mode.seconds)
        rows.append(rate_row(FIG_LOGIN, value, 30, baseline=KEYCLOAK_LOGIN_2VCPU, unit="/s",
                             note="Argon2id t=5 m=7168KiB p=1; baseline: Keycloak published 15/s per vCPU x 2",
                             fairness=f"server --workers {SERVER_WORKERS} vs Keycloak per vCPU x {SERVER_WORKERS}"))
    except Exception as exc:  # noqa: BLE001
        rows.append(not_measured(FIG_LOGIN, ">= 30/s", str(exc)))
    return rows
