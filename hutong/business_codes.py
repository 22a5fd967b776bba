"""Individual-business codes (USCC prefix 92, 个体工商户) are personal data: protected at rest.

An individual business is one person trading under their own name; its unified social credit code
identifies that person as surely as a citizen ID number. So wherever a table keeps a USCC, a
``BusinessCode`` column stores a 92-code encrypted with the node's data-protection key (in the HSM),
deterministically (``NodePki.protect_deterministic``: the IV is the blind-index HMAC of the code): the
same code always gives the same stored value under one data key, so equality lookups, primary and foreign
keys work as with the clear code, and the stored value is its own blind index. Other codes (companies,
public bodies) are public and stay in clear. Reading decrypts transparently, so domain code handles clear
codes only.

The data key rolls over (``hutong.rekey``): a stored value says which key made it (a one-byte tag in place of
the HSM blob's constant version byte, so the value keeps its 64 characters and every value stored before
rollovers existed stays valid: the first key's tag is that version byte), new values are made with the
active key, and while older ones remain a lookup by code must try the code under every live key: that is
``candidates`` (and ``matching``, ``get`` built on it), the one way every lookup by code is written. The
re-encryption job moves stored values to the active key, a primary key together with the rows referring
to it, in one transaction (``move_key``); then the old key holds nothing and may be destroyed. A code read
from a referenced primary key (``ReferencedBusinessCode``) remembers its stored form, so a row written to
refer to it names the parent exactly as stored, whichever key made it.

The column type finds the node's key through the engine's dialect (``use_node_keys``), set when the
node opens; a 92-code met without it is a programming error, never silently stored in clear.

``reprotect`` encrypts 92-codes stored in clear before this rule (run with the schema migration;
idempotent: protected values start with ``~``). Audit records are written with 92-codes masked
(``hutong.audit`` calls ``mask_codes``); records written before stay as they are: the audit log is a
hash-chained transparency log and is never rewritten. Remembered answers (idempotency results) that hold a
92-code are stored protected whole (``CodesInBlob``); the HSM keeps such a seal's certificate beside its key as a
private object (encrypted in SoftHSM2's token files).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, LargeBinary, String, Table, Text, inspect, select, text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from hsm.errors import HsmError

INDIVIDUAL_PREFIX = "92"
MARK = "~"  # protected values start with it (no USCC does: not in the GB 32100 alphabet)
AAD = b"uscc"
STORED_LENGTH = 64  # "~" + base64url(version 1 + IV 12 + code 18 + tag 16 = 47 bytes) = 64 characters
_ATTR = "hutong_node_keys"
_T = TypeVar("_T")
_CODE_RE = re.compile(r"92[0-9A-HJ-NPQRTUWXY]{16}")


class NodeKeys(Protocol):
    def protect_deterministic(self, value: str, *, aad: bytes, labels: Sequence[str] | None = None) -> list[bytes]:
        ...

    def deterministic_keys(self) -> list[str]: ...

    def data_keys(self) -> list[str]: ...

    def decrypt_with(self, label: str, blob: bytes, *, aad: bytes) -> bytes: ...

    def refresh_keys(self) -> None: ...

    def data_key_tag(self, label: str) -> int: ...

    def protect(self, plaintext: bytes, *, aad: bytes = b"") -> bytes: ...

    def unprotect(self, blob: bytes, *, aad: bytes = b"") -> bytes: ...


def is_individual_business(code: str) -> bool:
    return code.startswith(INDIVIDUAL_PREFIX)


def use_node_keys(engine: Engine, keys: NodeKeys) -> None:
    """Let this engine's ``BusinessCode`` columns protect and reveal 92-codes with the node's keys."""
    setattr(engine.dialect, _ATTR, keys)


def _keys(dialect: Dialect) -> NodeKeys:
    keys: NodeKeys | None = getattr(dialect, _ATTR, None)
    if keys is None:
        raise RuntimeError("an individual-business code needs the node's data-protection key (use_node_keys)")
    return keys


_HSM_VERSION = b"\x01"  # the first byte of every AES-GCM blob the HSM makes (hsm.keys), stored as the key's tag


def _encode(keys: NodeKeys, label: str, blob: bytes) -> str:
    if blob[:1] != _HSM_VERSION:
        raise ValueError("not an AES-GCM blob of the HSM's version 1")
    raw = bytes([keys.data_key_tag(label)]) + blob[1:]
    return MARK + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def protect(keys: NodeKeys, code: str, *, label: str | None = None) -> str:
    """``code`` as stored: protected under the active data key (or ``label``), naming it."""
    labels = [label] if label is not None else keys.deterministic_keys()[:1]
    return _encode(keys, labels[0], keys.protect_deterministic(code, aad=AAD, labels=labels)[0])


def candidates(keys: NodeKeys, code: str) -> list[str]:
    """Every form ``code`` may be stored in right now: one per live data key (one outside a rollover). A lookup
    by code matches any of them (``matching``); a clear code (not an individual business) is its only form."""
    code = str(code)
    if not is_individual_business(code):
        return [code]
    labels = keys.deterministic_keys()
    return [_encode(keys, label, blob) for label, blob in
            zip(labels, keys.protect_deterministic(code, aad=AAD, labels=labels), strict=True)]


def revealed(keys: NodeKeys, stored: str) -> tuple[str, str]:
    """The data key that made a stored 92-code, and the code."""
    raw_text = stored[len(MARK):]
    raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
    blob = _HSM_VERSION + raw[1:]
    for attempt in range(2):
        for label in (k for k in keys.data_keys() if keys.data_key_tag(k) == raw[0]):
            try:
                return label, keys.decrypt_with(label, blob, aad=AAD).decode()
            except HsmError:
                continue  # another key with the same tag, or not this node's value
        if attempt == 0:  # made by a key this process has not seen yet (another worker's newer snapshot)
            keys.refresh_keys()
    from hsm import errors as hsm_errors

    raise hsm_errors.decrypt_failed("a protected individual-business code names no data key this node has")


def reveal(keys: NodeKeys, stored: str) -> str:
    return revealed(keys, stored)[1]


def recoded(keys: NodeKeys, stored: str, label: str) -> str | None:
    """A stored 92-code re-made under the data key ``label`` (None: that key made it already)."""
    made_by, code = revealed(keys, stored)
    return None if made_by == label else protect(keys, code, label=label)


def recoded_text(keys: NodeKeys, value: str, label: str) -> str | None:
    """``recoded`` for each 92-code in a ``CodesInText`` value (None: nothing to change)."""
    new = _STORED_RE.sub(lambda m: recoded(keys, m.group(0), label) or m.group(0), value)
    return None if new == value else new


def stored_codes(value: str) -> list[str]:
    """The protected 92-codes in a stored value (a ``BusinessCode`` or a ``CodesInText``)."""
    return _STORED_RE.findall(value) if MARK in value else []


def _session_keys(s: Session) -> NodeKeys:
    return _keys(s.get_bind().dialect)


def matching(s: Session, column: Any, codes: str | Iterable[str]) -> ColumnElement[bool]:
    """``column`` equal to any of ``codes`` (clear), in whichever form each is stored (``candidates``)."""
    wanted = [codes] if isinstance(codes, str) else list(codes)
    forms: list[str] = []
    for code in wanted:
        forms += candidates(_session_keys(s), code) if is_individual_business(str(code)) else [str(code)]
    found: ColumnElement[bool] = column.in_(forms)  # a mapped attribute or a Column
    return found


def get(s: Session, entity: type[_T], code: str) -> _T | None:
    """``Session.get`` of a row whose primary key is a ``BusinessCode`` column, by the clear code."""
    if not is_individual_business(str(code)):
        return s.get(entity, code)
    key = inspect(entity).primary_key[0]
    return s.scalars(select(entity).where(matching(s, key, code))).first()


class Stored(str):
    """A code read from a referenced primary key: equal to the clear code, and it remembers the stored form,
    so a row referring to it (a foreign key) is written with exactly that form."""

    stored: str

    def __new__(cls, code: str, stored: str) -> Stored:
        made = super().__new__(cls, code)
        made.stored = stored
        return made

    def __reduce__(self) -> tuple[type[str], tuple[str]]:  # pickled (remembered answers) as the plain code
        return str, (str(self),)


class BusinessCode(TypeDecorator[str]):
    """A USCC column: 92-codes stored protected (see the module), other codes as they are."""

    impl = String(STORED_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, Stored):
            return value.stored if value.stored.startswith(MARK) else str(value)
        if isinstance(value, str) and is_individual_business(value):
            return protect(_keys(dialect), value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(MARK):
            return reveal(_keys(dialect), value)
        return value


class ReferencedBusinessCode(BusinessCode):
    """A ``BusinessCode`` primary key other rows refer to: read as ``Stored`` (see there)."""

    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(MARK):
            return Stored(reveal(_keys(dialect), value), value)
        return value


_STORED_RE = re.compile(re.escape(MARK) + f"[A-Za-z0-9_-]{{{STORED_LENGTH - len(MARK)}}}")


class CodesInText(TypeDecorator[str]):
    """A text column (JSON) that may name USCCs: each 92-code in it is stored protected, as in ``BusinessCode``."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and INDIVIDUAL_PREFIX in value:
            return _CODE_RE.sub(lambda m: protect(_keys(dialect), m.group(0)), value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and MARK in value:
            return _STORED_RE.sub(lambda m: reveal(_keys(dialect), m.group(0)), value)
        return value


_CODE_BYTES_RE = re.compile(_CODE_RE.pattern.encode())
BLOB_MARK = b"\x00hutong-protected-1\x00"  # no serialised answer starts with a NUL byte and this text
BLOB_AAD = b"result-blob"


class CodesInBlob(TypeDecorator[bytes]):
    """A binary column (a remembered answer, serialised): stored protected whole when it holds a 92-code."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, bytes) and _CODE_BYTES_RE.search(value):
            return BLOB_MARK + _keys(dialect).protect(value, aad=BLOB_AAD)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is not None and bytes(value[:len(BLOB_MARK)]) == BLOB_MARK:
            return _keys(dialect).unprotect(bytes(value)[len(BLOB_MARK):], aad=BLOB_AAD)
        return value


CERT_AAD = b"certificate-pem"


def names_individual_business(pem: str) -> bool:
    """Whether a PEM certificate's subject carries a 92-code as organizationIdentifier (a seal certificate)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from hutong.verify.x509 import USCC_PREFIX

    try:
        subject = x509.load_pem_x509_certificate(pem.encode()).subject
    except ValueError:
        return False
    return any(_CODE_RE.fullmatch(str(a.value).removeprefix(USCC_PREFIX))  # "NTRCN-92..."
               for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER))


class PersonalCertificate(TypeDecorator[str]):
    """A PEM certificate column: a certificate naming an individual business (its code in the subject) is
    stored encrypted (not deterministically: it is never looked up by value); others in clear."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and not value.startswith(MARK) and names_individual_business(value):
            blob = _keys(dialect).protect(value.encode(), aad=CERT_AAD)
            return MARK + base64.urlsafe_b64encode(blob).decode()
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(MARK):
            return _keys(dialect).unprotect(base64.urlsafe_b64decode(value[len(MARK):]), aad=CERT_AAD).decode()
        return value


def mask_codes(value: str) -> str:
    """``value`` with every 92-code in it masked (first 4 and last 2 characters kept), for audit records."""
    from hutong.identifiers import mask

    return _CODE_RE.sub(lambda m: mask(m.group(0)), value) if INDIVIDUAL_PREFIX in value else value


def reprotect(engine: Engine, keys: NodeKeys) -> int:
    """Encrypt every 92-code still stored in clear in a ``BusinessCode`` column; returns how many values.

    A code that is a primary key other rows refer to is moved: the row is copied under the protected
    key, the referring rows follow, the old row goes, all in one transaction. Then the tables' files
    are rewritten (the old values would otherwise linger in free pages)."""
    from hutong.db import Base, load_models

    load_models()
    columns = [(t, c) for t in Base.metadata.sorted_tables for c in t.columns if isinstance(c.type, BusinessCode)]
    referring = referring_columns()
    done = 0
    with engine.begin() as conn:
        for table, column in columns:
            name, col = table.name, column.name
            olds = conn.execute(text(f"SELECT DISTINCT {col} FROM {name} WHERE {col} LIKE '92%'")).scalars().all()
            for old in olds:
                children = referring.get((name, col), [])
                if not children:
                    conn.execute(text(f"UPDATE {name} SET {col} = :new WHERE {col} = :old"),
                                 {"old": old, "new": protect(keys, old)})
                else:
                    move_key(conn, table, col, children, old=old, new=protect(keys, old))
                done += 1
        if done:  # an older version's data: its certificates naming individual businesses too
            done += _reprotect_certificates(conn, keys)
    if done:
        _erase_old_pages(engine, {t.name for t, _ in columns})
    return done


def referring_columns() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(table, column) -> the (table, column)s whose foreign keys refer to it."""
    from hutong.db import Base, load_models

    load_models()
    referring: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for t in Base.metadata.sorted_tables:
        for fk in t.foreign_keys:
            referring.setdefault((fk.column.table.name, fk.column.name), []).append((fk.parent.table.name,
                                                                                    fk.parent.name))
    return referring


def move_key(conn: Any, table: Table, column: str, children: Iterable[tuple[str, str]], *, old: str,
             new: str) -> int:
    """Change a primary key ``column`` from ``old`` to ``new`` and every row referring to it, in the caller's
    transaction (``conn``: a Connection or Session): the row is copied under ``new`` (unless a row has it
    already), the referring rows follow, the old row goes. Returns the rows removed under ``old`` (0: another
    run moved it first)."""
    name, values = table.name, {"old": old, "new": new}
    if conn.execute(text(f"SELECT 1 FROM {name} WHERE {column} = :new"), values).first() is None:
        names = [c.name for c in table.columns]
        copied = ", ".join("CAST(:new AS VARCHAR)" if n == column else n for n in names)
        conn.execute(text(f"INSERT INTO {name} ({', '.join(names)}) SELECT {copied} FROM {name} "
                          f"WHERE {column} = :old"), values)
    for child, child_col in children:
        conn.execute(text(f"UPDATE {child} SET {child_col} = :new WHERE {child_col} = :old"), values)
    return int(conn.execute(text(f"DELETE FROM {name} WHERE {column} = :old"), values).rowcount)


def _reprotect_certificates(conn: Any, keys: NodeKeys) -> int:
    from hutong.db import Base

    done = 0
    for table in Base.metadata.sorted_tables:
        key = [c.name for c in table.primary_key.columns]
        for column in (c for c in table.columns if isinstance(c.type, PersonalCertificate)):
            if len(key) != 1:
                continue
            rows = conn.execute(text(f"SELECT {key[0]}, {column.name} FROM {table.name} "
                                     f"WHERE {column.name} NOT LIKE '{MARK}%'")).all()
            for pk, pem in rows:
                if names_individual_business(pem):
                    stored = MARK + base64.urlsafe_b64encode(keys.protect(pem.encode(), aad=CERT_AAD)).decode()
                    conn.execute(text(f"UPDATE {table.name} SET {column.name} = :v WHERE {key[0]} = :k"),
                                 {"v": stored, "k": pk})
                    done += 1
    return done


def _erase_old_pages(engine: Engine, tables: set[str]) -> None:
    """Rows updated or deleted keep their old bytes in free pages (SQLite) or dead tuples (PostgreSQL) until
    the file is rewritten: rewrite it, so the clear codes are gone from disk too."""
    raw = engine.raw_connection()  # outside any transaction (both refuse VACUUM in one)
    try:
        if engine.dialect.name == "sqlite":  # the node's connections run with isolation_level None
            statements = ["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"]
        else:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            statements = [f"VACUUM FULL {name}" for name in sorted(tables)]
        cursor = raw.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
    finally:
        if engine.dialect.name != "sqlite":
            raw.driver_connection.autocommit = False  # type: ignore[union-attr]
        raw.close()
