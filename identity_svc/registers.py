"""Real-name registers: does this (ID number, name) or (USCC, name) exist, and who represents a business?

Real nodes plug in an adapter for the national population and legal-entity registers; the embedded
default (``TableRegister``) answers from tables the operator loads with ``hutong registry import``:

- ``people.csv``: header ``name,id_number``
- ``orgs.csv``: header ``name,uscc,representative_name,representative_id_number``

Loading is all-or-nothing: one bad row rejects the file (reported by line number, never by value).
The tables hold blind indexes only, no ID number in clear.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from hutong import audit, business_codes
from hutong.errors import ConfigError, HutongError, InvalidArgument
from hutong.identifiers import normalise_citizen_id, normalise_uscc
from identity_svc.core import Identity
from identity_svc.models import RegisterOrganisation, RegisterPerson

PEOPLE_HEADER = ("name", "id_number")
ORGS_HEADER = ("name", "uscc", "representative_name", "representative_id_number")
MAX_REPORTED_ERRORS = 10


class RealNameRegister(Protocol):
    """What identity_svc asks of a register. Identifiers arrive validated and normalised."""

    def person_matches(self, citizen_id: str, name: str) -> bool: ...

    def organisation_matches(self, uscc: str, name: str) -> bool: ...

    def is_representative(self, uscc: str, citizen_id: str) -> bool: ...


def clean_name(name: str) -> str:
    """Names compare after Unicode NFC and trimming (full-width and half-width forms stay distinct)."""
    return unicodedata.normalize("NFC", name).strip()


class TableRegister:
    """The embedded register: tables loaded from CSV."""

    def __init__(self, idn: Identity) -> None:
        self.idn = idn

    def _match_index(self, citizen_id: str, name: str) -> str:
        return self.idn.keyed_hash("register-match", f"{citizen_id}|{clean_name(name)}")

    def person_matches(self, citizen_id: str, name: str) -> bool:
        with self.idn.node.db.session() as s:
            row = s.get(RegisterPerson, self.idn.person_index(citizen_id))
        return row is not None and row.match_index == self._match_index(citizen_id, name)

    def organisation_matches(self, uscc: str, name: str) -> bool:
        with self.idn.node.db.session() as s:
            row = business_codes.get(s, RegisterOrganisation, uscc)
        return row is not None and row.name == clean_name(name)

    def is_representative(self, uscc: str, citizen_id: str) -> bool:
        with self.idn.node.db.session() as s:
            row = business_codes.get(s, RegisterOrganisation, uscc)
        return row is not None and row.representative_index == self.idn.person_index(citizen_id)

    # -- loading -------------------------------------------------------------------------------
    def add_person(self, s: Session, citizen_id: str, name: str) -> None:
        s.merge(RegisterPerson(id_index=self.idn.person_index(citizen_id),
                               match_index=self._match_index(citizen_id, name), loaded_at=datetime.now(UTC)))

    def add_organisation(self, s: Session, uscc: str, name: str, representative_id: str) -> None:
        row = business_codes.get(s, RegisterOrganisation, uscc)  # under whichever data key made it
        if row is None:
            row = RegisterOrganisation(uscc=uscc)
            s.add(row)
        row.name, row.representative_index = clean_name(name), self.idn.person_index(representative_id)
        row.loaded_at = datetime.now(UTC)


def register_for(idn: Identity) -> RealNameRegister:
    if idn.settings.register != "table":
        raise ConfigError("CONFIG_INVALID", "[identity] register must be 'table' (the embedded register)")
    return TableRegister(idn)


@dataclass(frozen=True)
class ImportReport:
    kind: str  # "people" | "organisations"
    rows: int


def _rows(path: Path) -> tuple[tuple[str, ...], list[tuple[int, dict[str, str]]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = tuple(h.strip() for h in reader.fieldnames or ())
        rows = [(reader.line_num, {k.strip(): (v or "").strip() for k, v in r.items() if k}) for r in reader]
    return header, rows


def _validated(rows: Iterable[tuple[int, dict[str, str]]], people: bool) -> list[tuple[str, ...]]:
    good: list[tuple[str, ...]] = []
    problems: list[str] = []
    for line, row in rows:
        try:
            if not row.get("name"):
                raise InvalidArgument("NAME_REQUIRED", "name is empty")
            if people:
                good.append((normalise_citizen_id(row["id_number"]), row["name"]))
            else:
                if not row.get("representative_name"):
                    raise InvalidArgument("NAME_REQUIRED", "representative_name is empty")
                good.append((normalise_uscc(row["uscc"]), row["name"],
                             normalise_citizen_id(row["representative_id_number"]), row["representative_name"]))
        except HutongError as err:
            problems.append(f"line {line}: {err.reason}")
    if problems:
        more = f" (and {len(problems) - MAX_REPORTED_ERRORS} more)" if len(problems) > MAX_REPORTED_ERRORS else ""
        raise InvalidArgument("REGISTER_IMPORT_INVALID",
                              "nothing imported; " + "; ".join(problems[:MAX_REPORTED_ERRORS]) + more)
    return good


def import_csv(idn: Identity, path: Path) -> ImportReport:
    """Load ``people.csv`` or ``orgs.csv`` (recognised by the header) into the embedded register."""
    header, rows = _rows(path)
    if set(header) >= set(ORGS_HEADER):
        people = False
    elif set(header) >= set(PEOPLE_HEADER):
        people = True
    else:
        raise InvalidArgument("REGISTER_IMPORT_INVALID",
                              f"unknown CSV header; expected {','.join(PEOPLE_HEADER)} or {','.join(ORGS_HEADER)}")
    records = _validated(rows, people)
    table = TableRegister(idn)
    with idn.node.db.session() as s:
        for rec in records:
            if people:
                table.add_person(s, rec[0], rec[1])
            else:
                # The representative is a natural person too: the register knows them by name.
                table.add_organisation(s, rec[0], rec[1], rec[2])
                table.add_person(s, rec[2], rec[3])
        kind = "people" if people else "organisations"
        audit.append(s, actor="operator", action="identity.register.import", target=path.name,
                     details={"kind": kind, "rows": len(records)})
    return ImportReport(kind=kind, rows=len(records))
