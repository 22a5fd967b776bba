"""A seal-service server in a process of its own, so a test can measure its memory honestly.

Usage: python seal_server_proc.py DATA_DIR; bearer tokens come as JSON in HUTONG_TEST_TOKENS
({token: {"kind": ..., "subject": ..., "org_uscc": ..., "roles": [...]}}). Prints the port, then
serves until stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent import futures
from pathlib import Path

import grpc

from hutong.auth import Principal
from hutong.errors import Unauthenticated
from hutong.node import open_node
from hutong.rpc import ErrorInterceptor
from seal_svc.service import add_to_server


class EnvTokens:
    def __init__(self) -> None:
        raw = json.loads(os.environ.get("HUTONG_TEST_TOKENS", "{}"))
        self.tokens = {t: Principal(kind=p["kind"], subject=p["subject"], org_uscc=p.get("org_uscc"),
                                    roles=tuple(p.get("roles", ()))) for t, p in raw.items()}

    def authenticate(self, metadata: dict[str, str]) -> Principal:
        principal = self.tokens.get(metadata.get("authorization", "").removeprefix("Bearer "))
        if principal is None:
            raise Unauthenticated("TOKEN_INVALID", "unknown token")
        return principal


def main() -> None:
    node = open_node(Path(sys.argv[1]))
    limit = node.config.server.max_message_bytes
    opts = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[ErrorInterceptor()], options=opts)
    add_to_server(server, node, authenticator=EnvTokens())
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # the test closes our stdin to stop us
    server.stop(grace=0)
    node.close()


if __name__ == "__main__":
    main()
