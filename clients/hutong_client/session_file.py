"""A person's session kept in a file (mode 0600) between runs of a program or the ``hutong`` CLI.

    save_session("me.session", tokens, client_id="portal")
    token = load_token("me.session", target=..., client_id="portal", client_secret=secret)

The file holds the token set as JSON (``access_token``, ``refresh_token``, ``expires_at``, ``client_id``);
a file with a bare access token works too (no refresh). With the platform's credentials at hand the
loaded session refreshes itself before expiry and writes the rotated tokens back, so the next run
uses the new refresh token (the old one is spent).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from hutong.errors import InvalidArgument
from hutong.identity.v1 import identity_pb2 as pb
from hutong_client.identity import Session

# What an access token (a JWT) may contain. Anything else would go into call metadata as it is, where
# gRPC refuses it with an unhelpful "Invalid metadata" (and older versions abort the process).
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")


def _not_a_token(where: str) -> InvalidArgument:
    return InvalidArgument("TOKEN_FILE_INVALID", f"{where} holds neither an access token nor a session "
                           "(from `hutong identity login --token-file FILE`)")


def _checked(token: str, where: str) -> str:
    if token and not _TOKEN_CHARS.match(token):
        raise _not_a_token(where)
    return token


def save_session(path: str | os.PathLike[str], tokens: pb.TokenSet, *, client_id: str = "") -> None:
    data = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "id_token": tokens.id_token, "expires_at": int(time.time()) + tokens.expires_in,
            "subject": tokens.subject, "client_id": client_id}
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, p)


def load_token(path: str | os.PathLike[str] | None, *, target: str, client_id: str = "", client_secret: str = "",
               tls: Any = None, timeout: float = 30.0) -> str | Session | None:
    """The access token (or a self-refreshing ``Session``) in ``path``, else ``$HUTONG_TOKEN``, else None."""
    if not path:
        return _checked(os.environ.get("HUTONG_TOKEN", "").strip(), "$HUTONG_TOKEN") or None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidArgument("FILE_UNREADABLE", f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _not_a_token(f"the token file {path}") from None
    if not text:  # a named file that is empty: say so, not "give --token-file"
        raise InvalidArgument("TOKEN_FILE_INVALID", f"the token file {path} is empty "
                              "(from `hutong identity login --token-file FILE`)")
    if not text.startswith("{"):
        return _checked(text, f"the token file {path}")
    try:
        data = json.loads(text)
        access = _checked(str(data["access_token"]), f"the session file {path}")
    except (ValueError, KeyError, TypeError):
        raise _not_a_token(f"the token file {path}") from None
    if not (client_id and client_secret and data.get("refresh_token")) or client_id != data.get("client_id"):
        return access
    tokens = pb.TokenSet(access_token=access, refresh_token=data["refresh_token"], id_token=data.get("id_token", ""),
                         subject=data.get("subject", ""),
                         expires_in=max(int(data.get("expires_at", 0) - time.time()), 0))

    def refresher(refresh_token: str) -> pb.TokenSet:
        from hutong_client import Hutong

        with Hutong(target, client_id=client_id, client_secret=client_secret, tls=tls, timeout=timeout) as h:
            return h.identity.refresh(refresh_token)

    return Session(tokens, refresher, on_refresh=lambda new: save_session(path, new, client_id=client_id))
