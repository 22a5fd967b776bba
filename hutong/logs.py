"""Structured logs: every line one JSON object, UTC ISO 8601 times, the request id of the call it belongs to.

Why here: operators ship node logs to a collector that parses JSON; a single plain-text line (a
gRPC/TLS message from the C core, a stray warning) breaks their parser and hides what happened.

- ``RequestInfo`` is the call in progress (request id, method, caller, outcome), held in a contextvar
  that the call's entry point sets (``hutong.observe``: the gRPC interceptor, the HTTP edge).
  ``current_request_id()`` is what ``audit.append`` stores with a record so an audit record names the
  request that caused it.
- ``JsonFormatter`` adds node, worker (pid) and request id to every record; ``extra={"fields": {...}}``
  adds structured fields (the access line uses it).
- ``setup_logging`` installs it at the configured level (``[log] level`` in hutong.toml or
  ``$HUTONG_LOG_LEVEL``) and, with ``capture_stderr``, routes everything written to file descriptor 2
  (gRPC's C core writes TLS handshake failures there) through the formatter as well.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from hutong.errors import ConfigError

ACCESS = logging.getLogger("hutong.access")
SECURITY = logging.getLogger("hutong.security")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass
class RequestInfo:
    """The call being served by this thread: filled in by the RPC boundary and the authenticator."""

    request_id: str
    method: str
    started: float = field(default_factory=time.perf_counter)
    platform: str = ""  # the relying platform's client id
    subject: str = ""  # the local account id (a pseudonym: never an ID number)
    caller_kind: str = ""
    transport: str = "grpc"  # "grpc", "connect" (JSON over the HTTP edge) or "http" (an edge page/endpoint)
    grpc_type: str = ""  # set when the call is an RPC ("unary", "server_stream" …): hutong.observe.rpc
    status: str = "OK"  # a gRPC status code name, set when the call fails (hutong.observe.failed)
    reason: str = ""  # the stable reason of a failure (docs/errors.md)


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("hutong_request", default=None)


def request_id_from(supplied: str | None) -> str:
    """The caller's ``x-request-id`` when it is a sane token (so a trace spans the load balancer), else new."""
    if supplied and _REQUEST_ID_OK.match(supplied):
        return supplied
    return uuid.uuid4().hex


def begin_request(method: str, request_id: str) -> RequestInfo:
    """Start a call's context. Always a fresh object: pool threads are reused across calls."""
    info = RequestInfo(request_id=request_id, method=method)
    _current.set(info)
    return info


def end_request() -> None:
    _current.set(None)


def current() -> RequestInfo | None:
    return _current.get()


def set_caller(kind: str, platform: str, subject: str = "") -> None:
    """Called where the caller is authenticated; a no-op outside a call."""
    info = _current.get()
    if info is not None:
        info.caller_kind, info.platform, info.subject = kind, platform, subject


def current_request_id() -> str | None:
    """The request id of the call in progress (None outside a call): every audit record written during a
    call carries it (``hutong.audit.append``)."""
    info = _current.get()
    return info.request_id if info is not None else None


def security_event(event: str, **fields: Any) -> None:
    """A security-relevant refusal (failed login, lockout, permission refused): WARNING on hutong.security."""
    SECURITY.warning(event, extra={"fields": {"event": event, **fields}})


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, node, worker, request id, fields."""

    def __init__(self, node_id: str = "") -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": utc_iso(record.created), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        if self.node_id:
            entry["node"] = self.node_id
        entry["worker"] = record.process
        info = _current.get()
        if info is not None:
            entry["request_id"] = info.request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def parse_level(value: str) -> int:
    name = value.strip().upper()
    if name not in LEVELS:
        raise ConfigError("CONFIG_INVALID", f"[log] level must be one of {', '.join(LEVELS)}, got {value!r}")
    return int(getattr(logging, name))


@dataclass(frozen=True)
class LogSettings:
    """``[log]`` in hutong.toml (read through ``config.settings_of``; a bad level fails there)."""

    level: str = "INFO"

    def __post_init__(self) -> None:
        parse_level(self.level)


def configured_level(settings: LogSettings, env: Any = None) -> int:
    """``$HUTONG_LOG_LEVEL`` over ``[log] level`` over INFO."""
    env = os.environ if env is None else env
    return parse_level(str(env.get("HUTONG_LOG_LEVEL") or settings.level))


def setup_logging(level: int = logging.INFO, *, node_id: str = "", capture_stderr: bool = False) -> None:
    stream: TextIO = sys.stderr
    if capture_stderr:
        stream = _capture_fd2()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(node_id))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)


_C_CORE_LEVEL = {"E": "ERROR", "W": "WARNING", "I": "INFO", "D": "DEBUG", "F": "CRITICAL"}
_captured: TextIO | None = None


def _capture_fd2() -> TextIO:
    """Point fd 2 at a pipe and re-emit each line written there as JSON; return the real stderr for us.

    gRPC's C core (TLS handshake failures, "Invalid metadata" …) and any native library write plain
    text straight to fd 2, below Python's logging; this is the only place to catch them."""
    global _captured
    if _captured is not None:
        return _captured
    real = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    lock = threading.Lock()

    def pump() -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                text = line.rstrip("\n")
                if not text.strip():
                    continue
                if text.startswith("{") and text.endswith("}"):
                    out = text  # already one of ours (e.g. a child process's formatter)
                else:
                    level = _C_CORE_LEVEL.get(text[:1], "WARNING") if re.match(r"^[EWIDF]\d{4} ", text) \
                        else "ERROR" if text.startswith(("error: ", "Traceback")) else "WARNING"
                    out = json.dumps({"time": utc_iso(time.time()), "level": level, "logger": "native.stderr",
                                      "message": text, "worker": os.getpid()}, ensure_ascii=False)
                with lock:
                    real.write(out + "\n")

    thread = threading.Thread(target=pump, name="stderr-json", daemon=True)
    thread.start()

    def drain_at_exit() -> None:
        # What is written last (the CLI's "error: ..." line on a failed start, a traceback) must be
        # pumped out before the process ends: point fd 2 back at the real stderr (which ends the pipe),
        # then let the pump finish.
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
            os.dup2(real.fileno(), 2)
        thread.join(2.0)

    atexit.register(drain_at_exit)
    _captured = real
    return real
