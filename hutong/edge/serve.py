"""Running the edge beside the gRPC server, in the same process.

Each server process (``hutong serve --workers N`` spawns N) runs uvicorn in a thread of its own,
with its own event loop, on a socket bound with SO_REUSEPORT when there are several workers: the
kernel spreads HTTP connections over the processes as it does gRPC ones, and each process calls
its own servicers and HSM session (PyKCS11 holds the GIL while signing, so processes, not threads,
give throughput). TLS comes from ``[server] tls_cert_file`` / ``tls_key_file``, as for gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from dataclasses import dataclass

import uvicorn

from hutong.edge.app import build_app
from hutong.edge.settings import EdgeSettings, base_url, edge_settings, listen_address
from hutong.errors import ConfigError
from hutong.node import Node

log = logging.getLogger("hutong.edge")


TICK_SECONDS = 1.0


class _EdgeServer(uvicorn.Server):
    """uvicorn's server, looking up once a second instead of ten times, and woken at once by ``exit_now``.

    Why: uvicorn's loop wakes every 0.1 s only to refresh the Date header (to the second) and to see whether
    it should exit. In a worker, each wake-up takes the GIL from the gRPC calls being served: ten a second
    per worker were a quarter of an idle node's CPU, and idle workers beside a busy one lengthened its tail."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        while not await self.on_tick(0):  # counter 0: the Date header is refreshed on every tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)

    def exit_now(self) -> None:
        """Stop from another thread: uvicorn's graceful shutdown begins now, not at the next tick."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(wake.set)


@dataclass
class RunningEdge:
    server: _EdgeServer
    thread: threading.Thread
    port: int
    base_url: str

    def stop(self, timeout: float = 10.0) -> None:
        self.server.exit_now()
        self.thread.join(timeout)


def _bind(listen: str, reuse_port: bool) -> socket.socket:
    host, _, port = listen.rpartition(":")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto given explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (accepted ones
    # inherit it); without it, Nagle plus the client's delayed ACK add 40 ms to every keep-alive response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def start_edge(node: Node, *, grpc_listen: str | None = None, reuse_port: bool = False,
               settings: EdgeSettings | None = None) -> RunningEdge | None:
    """Serve the edge for ``node`` in a background thread; None when ``[edge] listen = "off"``.

    ``grpc_listen`` is where the gRPC server listens (the edge's address derives from it unless
    ``[edge] listen`` is set)."""
    settings = settings or edge_settings(node.config)
    if not settings.enabled:
        return None
    listen = listen_address(settings, grpc_listen or node.config.server.listen)
    try:
        sock = _bind(listen, reuse_port)
    except OSError as exc:
        raise ConfigError("CONFIG_INVALID", f"the HTTP edge cannot listen on {listen} ({exc.strerror}): "
                                            "set [edge] listen, or \"off\"") from None
    port = sock.getsockname()[1]
    tls = node.config.server
    config = uvicorn.Config(
        build_app(node, settings), log_config=None, access_log=False, server_header=False, lifespan="off",
        ssl_certfile=tls.tls_cert_file or None, ssl_keyfile=tls.tls_key_file or None,
        timeout_graceful_shutdown=5,
        proxy_headers=False,  # uvicorn would believe X-Forwarded-For from loopback: [edge] trusted_proxies decides
    )
    # No access log: nothing about who opened the verification page (address, browser, path) is kept.
    # uvicorn logs access whenever "uvicorn.access" reaches a handler, whatever access_log says.
    logging.getLogger("uvicorn.access").disabled = True
    server = _EdgeServer(config)
    ready = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        task = loop.create_task(server.serve(sockets=[sock]))
        ready.set()
        loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, name="hutong-edge", daemon=True)
    thread.start()
    ready.wait()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.01)
    return RunningEdge(server=server, thread=thread, port=port, base_url=base_url(node.config, settings, port=port))
