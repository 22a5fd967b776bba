"""The servicers the gRPC server registers, kept for the HTTP edge so both call the same objects.

``hutong.server.start_server`` registers the services through ``capture(server, node)``: a stand-in
that forwards every registration to the real ``grpc.Server`` and remembers the generic handlers per
node. The edge's Connect routes then call exactly those handlers (same servicer instances, same
facades). Only gRPC is imported here, so the server pays nothing for Starlette unless the edge runs.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import grpc

_lock = threading.Lock()
_captured: dict[int, list[grpc.GenericRpcHandler]] = {}  # by id(node); Node is unhashable, dropped with it


class Recorder:
    """Stands in for ``grpc.Server`` while the service modules register their servicers; forwards to
    ``target`` when there is one."""

    def __init__(self, target: grpc.Server | None = None) -> None:
        self.target = target
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.handlers.extend(handlers)
        if self.target is not None:
            self.target.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        if self.target is not None:
            self.target.add_registered_method_handlers(service, handlers)  # type: ignore[attr-defined]


def capture(server: grpc.Server, node: Any) -> grpc.Server:
    """Use in place of ``server`` when adding services: the node's handlers are remembered."""
    recorder = Recorder(server)
    with _lock:
        _captured[id(node)] = recorder.handlers
    weakref.finalize(node, _captured.pop, id(node), None)
    return recorder  # type: ignore[return-value]


def captured(node: Any) -> list[grpc.GenericRpcHandler] | None:
    with _lock:
        return _captured.get(id(node))
