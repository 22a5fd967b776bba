"""A seal-service server in a process of its own, so a test can measure its memory honestly.

Usage: python seal_server_proc.py DATA_DIR; callers authenticate with real identity_svc tokens of the
node in DATA_DIR (the node's own authenticator). Prints the port, then serves until stdin closes.
"""

from __future__ import annotations

import sys
from concurrent import futures
from pathlib import Path

import grpc

from hutong.node import open_node
from hutong.rpc import ErrorInterceptor
from hutong.wiring import wire
from seal_svc.service import add_to_server


def main() -> None:
    node = wire(open_node(Path(sys.argv[1])))
    limit = node.config.server.max_message_bytes
    opts = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[ErrorInterceptor()], options=opts)
    add_to_server(server, node)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # the test closes our stdin to stop us
    server.stop(grace=0)
    node.close()


if __name__ == "__main__":
    main()
