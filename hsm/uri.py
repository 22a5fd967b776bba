"""RFC 7512 ``pkcs11:`` URIs naming a key: ``pkcs11:token=node;object=root-ca;id=%01%02;type=private``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from hsm import errors

SCHEME = "pkcs11:"
# RFC 7512 path attributes. Slot/library attributes are accepted and ignored: the manager's configuration
# already chose the module and token.
_PATH_ATTRS = {
    "token",
    "manufacturer",
    "serial",
    "model",
    "library-manufacturer",
    "library-description",
    "library-version",
    "object",
    "type",
    "id",
    "slot-description",
    "slot-manufacturer",
    "slot-id",
}
_TYPES = {"public", "private", "cert", "secret-key", "data"}
# pk11-safe characters of RFC 7512 §2.3 (unreserved plus ":[]@!$'()*+,=&"); everything else is encoded.
_SAFE = ":[]@!$'()*+,=&"
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class KeyRef:
    """A key on the manager's token, by label and/or CKA_ID (both must match when both are given)."""

    label: str | None = None
    id: bytes | None = None
    token: str | None = None
    object_type: str | None = None

    def __post_init__(self) -> None:
        if not self.label and not self.id:
            raise errors.invalid_key_uri("a key reference needs a label or an id")

    def describe(self) -> str:
        parts = [f"label '{self.label}'"] if self.label else []
        if self.id:
            parts.append(f"id {self.id.hex()}")
        return " and ".join(parts)


def _decode(name: str, value: str) -> bytes:
    if _BAD_PCT.search(value):
        raise errors.invalid_key_uri(f"bad percent-encoding in the '{name}' attribute")
    return unquote_to_bytes(value)


def parse(uri: str) -> KeyRef:
    """Parse a ``pkcs11:`` URI. PINs inside URIs (``pin-value``) are refused: PINs come from files only."""
    if not uri.lower().startswith(SCHEME):
        raise errors.invalid_key_uri("a key URI must start with 'pkcs11:'")
    path, _, query = uri[len(SCHEME) :].partition("?")
    attrs: dict[str, bytes] = {}
    for part in filter(None, path.split(";")):
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise errors.invalid_key_uri(f"'{part}' is not an attribute=value pair")
        if name not in _PATH_ATTRS and not name.startswith("x-"):
            raise errors.invalid_key_uri(f"unknown attribute '{name}' in key URI")
        if name in attrs:
            raise errors.invalid_key_uri(f"attribute '{name}' appears twice in key URI")
        attrs[name] = _decode(name, value)
    for part in filter(None, query.split("&")):
        if part.split("=", 1)[0].strip().lower() == "pin-value":
            raise errors.invalid_key_uri("key URIs must not carry a PIN (pin-value)")
    try:
        label = attrs["object"].decode("utf-8") if "object" in attrs else None
        token = attrs["token"].decode("utf-8") if "token" in attrs else None
        obj_type = attrs["type"].decode("ascii") if "type" in attrs else None
    except UnicodeDecodeError:
        raise errors.invalid_key_uri("key URI attributes must be UTF-8") from None
    if obj_type is not None and obj_type not in _TYPES:
        raise errors.invalid_key_uri(f"unknown object type '{obj_type}' in key URI")
    key_id = attrs.get("id") or None
    if not label and not key_id:
        raise errors.invalid_key_uri("a key URI must name an object (object=...) or an id (id=...)")
    return KeyRef(label=label or None, id=key_id, token=token, object_type=obj_type)


def format_uri(
    *,
    token: str | None = None,
    label: str | None = None,
    key_id: bytes | None = None,
    object_type: str | None = None,
) -> str:
    """Format a ``pkcs11:`` URI; the id is always fully percent-encoded, as RFC 7512 recommends."""
    parts = []
    if token is not None:
        parts.append("token=" + quote(token, safe=_SAFE))
    if label is not None:
        parts.append("object=" + quote(label, safe=_SAFE))
    if key_id:
        parts.append("id=" + "".join(f"%{b:02X}" for b in key_id))
    if object_type is not None:
        parts.append("type=" + object_type)
    return SCHEME + ";".join(parts)


def to_ref(ref: str | KeyRef) -> KeyRef:
    """A ``KeyRef`` from a URI (``pkcs11:...``), a plain label, or a ``KeyRef``."""
    if isinstance(ref, KeyRef):
        return ref
    if not ref:
        raise errors.invalid_key_uri("empty key reference")
    if ref.lower().startswith(SCHEME):
        return parse(ref)
    return KeyRef(label=ref)
