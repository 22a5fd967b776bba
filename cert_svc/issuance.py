"""Issuing certificates (single, batch, new versions): check, number, sign, store, audit.

Every row is checked completely before anything is written. A batch is processed in chunks: the rows are
signed outside any transaction (only their status-list slots are reserved first), then written in one
transaction per chunk with a savepoint per row, so a row that fails at any step leaves no trace (beyond an
unused status slot) and never affects the others.
"""

from __future__ import annotations

import csv
import json
import secrets
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from cert_svc import catalogue, issuers, lifecycle, reasons, records, statuslist
from cert_svc.catalogue import CertTypeSpec
from cert_svc.federation import check_remote_predecessor
from cert_svc.issuers import Issuer
from cert_svc.models import CertificateRow
from cert_svc.records import CertView, Holder
from hsm import HsmError
from hsm.signer import HsmSigner
from hutong import audit, idempotency, identifiers, metrics
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, HutongError, Internal, InvalidArgument, Kind, error_for, lift
from hutong.node import Node
from hutong.verify import jose
from hutong.verify.certs import CERT_TYP, QR_TYP

CHUNK = 200
# Rows from which a chunk reserves its status slots first and signs outside the storing transaction (see
# ``_issue_chunk``); fewer (a single IssueCertificate) sign within it: a millisecond or two under the lock costs less
# than a transaction more.
RESERVE_FROM = 8


@dataclass(frozen=True)
class IssueRequest:
    type_code: str
    holder: Holder
    fields: Mapping[str, str]
    valid_from: str = ""
    valid_until: str = ""
    predecessor: str = ""


@dataclass(frozen=True)
class Prepared:
    """A request that passed every check, ready to be numbered and signed."""

    spec: CertTypeSpec
    holder: Holder
    fields: dict[str, str]
    valid_from: date
    valid_until: date | None
    predecessor: str = ""
    extra_claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RowOutcome:
    row: int
    identifier: str = ""
    error: HutongError | None = None
    # What was issued (the claims just signed): ``issue`` answers from it; a batch's rows are not viewed
    issued: _Made | None = None


# -- checks --------------------------------------------------------------------------------------

def prepare(spec: CertTypeSpec, req: IssueRequest, today: date | None = None) -> Prepared:
    holder = _check_holder(spec, req.holder)
    fields = catalogue.check_fields(spec, req.fields)
    valid_from = _parse_date(req.valid_from, "valid_from") or today or datetime.now(UTC).date()
    valid_until = validity_end(spec, valid_from, _parse_date(req.valid_until, "valid_until"))
    predecessor = str(identifiers.parse_certificate_id(req.predecessor)) if req.predecessor else ""
    return Prepared(spec, holder, fields, valid_from, valid_until, predecessor)


def _check_holder(spec: CertTypeSpec, holder: Holder) -> Holder:
    if holder.kind and holder.kind != spec.holder_kind:
        raise InvalidArgument(reasons.HOLDER_KIND_MISMATCH, f"this type is held by a {spec.holder_kind}")
    name = holder.name.strip()
    if not name or len(name) > 200:
        raise InvalidArgument(reasons.FIELD_INVALID, "the holder's name is required", metadata={"field": "holder"})
    return Holder(kind=spec.holder_kind, id=records.holder_key(spec.holder_kind, holder.id), name=name)


def _parse_date(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(reasons.VALIDITY_INVALID, f"{name} is not a YYYY-MM-DD date") from None


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def validity_end(spec: CertTypeSpec, start: date, end: date | None) -> date | None:
    rule = spec.validity
    if end is None:
        if rule.default_years:
            return _add_years(start, rule.default_years)
        return None  # check_spec guarantees open-ended is allowed here
    if end <= start:
        raise InvalidArgument(reasons.VALIDITY_INVALID, "valid_until must be after valid_from")
    if rule.max_years and end > _add_years(start, rule.max_years):
        raise InvalidArgument(reasons.VALIDITY_INVALID, f"this type is valid for at most {rule.max_years} years")
    return end


# -- numbering, signing, storing -----------------------------------------------------------------

SERIAL_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_LENGTH = 20  # ~103 random bits, within GB/T 36904's 7-32 characters


def _serials(count: int) -> list[str]:
    """Unguessable serials: a counter let anyone enumerate certificates (and their status) by identifier.

    (Older certificates keep their year+counter serials; ``cert_serial_counters`` is no longer advanced.)
    Uniqueness is the identifier's primary key; a collision at 103 bits is not a practical concern."""
    return [_base36(secrets.randbelow(_SERIALS)) for _ in range(count)]  # one draw a serial, not one a character


_SERIALS = len(SERIAL_ALPHABET) ** SERIAL_LENGTH


def _base36(value: int) -> str:
    digits = []
    for _ in range(SERIAL_LENGTH):
        value, d = divmod(value, len(SERIAL_ALPHABET))
        digits.append(SERIAL_ALPHABET[d])
    return "".join(reversed(digits))


def _private(p: Prepared) -> dict[str, Any]:
    """What the signed form leaves out: citizen ID numbers (a person holder's, ID-number fields such as the
    legal representative's). The forms are public artefacts (the PDF embeds the JWS, anyone may be shown it);
    the server keeps these encrypted beside the forms and binds people through their blind index."""
    fields = {f.name: p.fields[f.name] for f in p.spec.fields if f.type == "citizen_id" and f.name in p.fields}
    holder = {"holder_id": p.holder.id} if p.holder.kind == "person" else {}
    return {**holder, **({"fields": fields} if fields else {})}


def _claims(p: Prepared, issuer: Issuer, identifier: str, version: int, status_ref: tuple[str, int]) -> dict[str, Any]:
    private = _private(p)
    holder = {"kind": p.holder.kind, "name": p.holder.name, **({} if "holder_id" in private else {"id": p.holder.id})}
    claims: dict[str, Any] = {
        "jti": identifier, "iss": issuer.uscc, "iss_name": issuer.name, "type": p.spec.code,
        "type_name": p.spec.name, "ver": version, "iat": int(time.time()),
        "holder": holder, "fields": {k: v for k, v in p.fields.items() if k not in private.get("fields", {})},
        "valid_from": p.valid_from.isoformat(), "valid_until": p.valid_until.isoformat() if p.valid_until else None,
        "status": {"status_list": {"idx": status_ref[1], "uri": status_ref[0]}},
    }
    if p.predecessor:
        claims["predecessor"] = p.predecessor
    return {**claims, **p.extra_claims}


class _Signer:
    """Signs a certificate's two forms with the issuer key: the full JWS and the QR JWS."""

    def __init__(self, node: Node, issuer: Issuer) -> None:
        self._hsm = _issuer_signer(node, issuer)
        self._x5c = jose.x5c_value(issuers.chain(node, issuer)[:2])  # issuer certificate + issuer CA
        self._kid = issuer.kid

    def forms(self, claims: dict[str, Any]) -> tuple[str, str]:
        token = jose.sign_compact(self._hsm, claims, typ=CERT_TYP, kid=self._kid, headers={"x5c": self._x5c})
        # The QR carries what a verifier needs, no personal data, and the full JWS's digest.
        qr_claims = {k: claims[k] for k in ("jti", "iss", "type", "valid_from", "valid_until", "status")}
        qr_claims["hn"] = masked_name(str(claims["holder"]["name"]))  # to compare with the paper, masked
        qr = jose.sign_compact(self._hsm, {**qr_claims, "dig": jose.digest(token)}, typ=QR_TYP, kid=self._kid)
        return token, qr


# Issuer signers per key manager (a node's token), by key label and kid: building one searches the token (three
# object searches and the key's attributes: profiled, a third of an IssueCertificate's CPU). A re-keyed issuer has
# a new kid, so a new signer.
_SIGNERS: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], HsmSigner]] = weakref.WeakKeyDictionary()


def _issuer_signer(node: Node, issuer: Issuer) -> HsmSigner:
    signers = _SIGNERS.setdefault(node.keys, {})
    found = signers.get((issuer.key_label, issuer.kid))
    if found is None:
        found = signers[(issuer.key_label, issuer.kid)] = node.keys.signer(issuer.key_label)
    return found


def masked_name(name: str) -> str:
    """The holder's name as the verification page shows it: ``张三`` -> ``张*``, ``王小明`` -> ``王*明``;
    longer names (organisations) keep their first and last two characters."""
    name = name.strip()
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    keep = 2 if len(name) > 6 else 1
    return name[:keep] + "*" * (len(name) - 2 * keep) + name[-keep:]


@dataclass(frozen=True)
class _Made:
    """A row signed, indexed and encrypted (the HSM's part), not yet written: ``values`` are its columns."""

    n: int
    p: Prepared
    values: dict[str, Any]
    forms: tuple[str, str]

    @property
    def identifier(self) -> str:
        return str(self.values["identifier"])


def _make(node: Node, n: int, p: Prepared, issuer: Issuer, cid: identifiers.CertificateId,
          status_ref: tuple[str, int], signer: _Signer) -> _Made:
    identifier, version = str(cid), int(cid.version)
    token, qr = signer.forms(_claims(p, issuer, identifier, version, status_ref))
    now = datetime.now(UTC)
    values = dict(
        identifier=identifier, series=identifier.rsplit(".", 2)[0], version=version, type_code=p.spec.code,
        issuer_uscc=issuer.uscc, holder_kind=p.holder.kind, holder_index=node.pki.blind_index(p.holder.id),
        protected_forms=records.protect_forms(node, identifier, token, qr, _private(p)), valid_from=p.valid_from,
        valid_until=p.valid_until, status="valid", status_reason="", status_changed_at=now,
        status_list_id=status_ref[0], status_index=status_ref[1], predecessor=p.predecessor or None, issued_at=now,
        supersedes=None, superseded_by=None, successor=None,
    )
    return _Made(n, p, values, (token, qr))


def _issued_event(principal: Principal, m: _Made) -> audit.Event:
    return audit.Event(actor=principal.actor, action="cert.issue", target=m.identifier,
                       details={"type": m.p.spec.code, "version": m.values["version"], "predecessor": m.p.predecessor})


def _issued_change(node: Node, s: Session, principal: Principal, m: _Made) -> lifecycle.StatusChange:
    return lifecycle.StatusChange(node, s, principal.actor, m.identifier, m.p.spec.code, m.p.holder, m.p.fields,
                                  "", "valid")


def _store(node: Node, s: Session, m: _Made, principal: Principal) -> CertificateRow:
    """One made row written with its audit event and listeners (ORM: new versions, successors, retried rows)."""
    row = CertificateRow(**m.values)
    s.add(row)
    if m.p.predecessor:
        _link_predecessor(s, row)
    s.flush()
    audit.append_many(s, [_issued_event(principal, m)])
    lifecycle.notify(_issued_change(node, s, principal, m))
    return row


def _store_many(node: Node, s: Session, principal: Principal, made: list[_Made]) -> None:
    """Rows without a predecessor written together: one INSERT of the certificates, one of their audit events,
    the listeners once for all (a savepoint for all; the caller retries row by row if anything refuses)."""
    with s.begin_nested():
        s.execute(insert(CertificateRow), [m.values for m in made])
        audit.append_many(s, [_issued_event(principal, m) for m in made])
        lifecycle.notify(*(_issued_change(node, s, principal, m) for m in made))


def _check_predecessor_elsewhere(node: Node, p: Prepared) -> None:
    """A predecessor not held here must exist at another member, transferred out, same holder (asked before the
    issuing transaction: no network call while it holds the database)."""
    with node.db.session(readonly=True) as s:
        if s.get(CertificateRow, p.predecessor) is not None:
            return  # ours: checked in the issuing transaction
    check_remote_predecessor(node, p.predecessor, p.holder)


def _link_predecessor(s: Session, row: CertificateRow) -> None:
    """A successor may follow only a transferred-out certificate of the same holder."""
    assert row.predecessor
    pred = s.get(CertificateRow, row.predecessor)
    if pred is None:
        return  # held at another member: checked there before this transaction (_check_predecessor_elsewhere)
    if pred.status != "transferred_out" or pred.holder_index != row.holder_index:
        raise FailedPrecondition(reasons.PREDECESSOR_INVALID,
                                 "the predecessor must be a transferred-out certificate of the same holder")
    pred.successor = row.identifier


# -- entry points --------------------------------------------------------------------------------

def issue(node: Node, principal: Principal, req: IssueRequest) -> CertView:
    outcome = next(issue_batch(node, principal, req.type_code, [(1, req)]))[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.issued is not None
    return _view(node, outcome.issued)  # answered from the claims just signed: no second read, no HSM decryption


BatchRow = tuple[int, "IssueRequest | HutongError"]
OnCommit = Callable[[Session, list[RowOutcome]], None]


def issue_batch_once(node: Node, principal: Principal, type_code: str, rows: list[BatchRow], *, key: str,
                     request_sha256: str) -> Iterator[list[RowOutcome]]:
    """``issue_batch`` under a client's idempotency key (``hutong.idempotency``): a retried batch returns the
    first one's outcomes and issues nothing again; one cut off midway goes on after the rows it committed."""
    held = idempotency.claim(node.db, actor=principal.actor, operation="cert.issue_batch", key=key,
                             request_sha256=request_sha256)
    saved = _outcomes_from(held.result)
    if held.done:
        for i in range(0, len(rows), CHUNK):
            yield [saved[n] for n, _ in rows[i:i + CHUNK] if n in saved]
        return
    if saved:
        yield [saved[n] for n, _ in rows if n in saved]

    def remember(s: Session, outcomes: list[RowOutcome]) -> None:
        saved.update((o.row, o) for o in outcomes)
        idempotency.save(s, held, _outcomes_blob(saved), done=False)

    try:
        for outcomes in issue_batch(node, principal, type_code, [r for r in rows if r[0] not in saved], remember):
            saved.update((o.row, o) for o in outcomes)
            yield outcomes
    except BaseException:
        idempotency.release(node.db, held)  # only if nothing was committed under it
        raise
    with node.db.session() as s:  # rows refused before any transaction are part of the answer too
        idempotency.save(s, held, _outcomes_blob(saved), done=True)


def _outcomes_blob(outcomes: Mapping[int, RowOutcome]) -> bytes:
    return json.dumps([{"row": o.row, "identifier": o.identifier, "kind": o.error.kind.value if o.error else "",
                        "reason": o.error.reason if o.error else "", "message": o.error.message if o.error else ""}
                       for o in outcomes.values()], ensure_ascii=False).encode()


def _outcomes_from(blob: bytes) -> dict[int, RowOutcome]:
    if not blob:
        return {}
    out = {}
    for r in json.loads(blob):
        error = error_for(Kind(r["kind"]), r["reason"], r["message"]) if r["reason"] else None
        out[int(r["row"])] = RowOutcome(int(r["row"]), r["identifier"], error)
    return out


def issue_batch(node: Node, principal: Principal, type_code: str, rows: Iterable[BatchRow],
                on_commit: OnCommit | None = None) -> Iterator[list[RowOutcome]]:
    """Issue rows of one type; yields the outcomes chunk by chunk. Errors of the caller's standing
    (not an issuer, not authorised, unknown type) are raised before any row is processed. ``on_commit``
    runs in each chunk's transaction with its outcomes (an idempotent batch records its progress there)."""
    with node.db.session() as s:
        spec = catalogue.get_type(s, type_code, for_issuing=True)
        issuer = issuers.acting_issuer(s, principal)
    issuers.require_authorised(issuer, spec.code)
    signer = _Signer(node, issuer)
    chunk: list[BatchRow] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield _issue_chunk(node, principal, spec, issuer, signer, chunk, on_commit)
            chunk = []
    if chunk:
        yield _issue_chunk(node, principal, spec, issuer, signer, chunk, on_commit)


def _issue_chunk(node: Node, principal: Principal, spec: CertTypeSpec, issuer: Issuer, signer: _Signer,
                 chunk: list[BatchRow], on_commit: OnCommit | None = None) -> list[RowOutcome]:
    """Check every row; reserve their status slots (``statuslist.reserve``); number, sign and encrypt each with no
    transaction open (a row the HSM refuses is refused alone); then in one transaction: keep the slots (a row whose
    slot a concurrent writer took is signed again), and write the rows together (under ``RESERVE_FROM`` rows:
    slots assigned and rows signed in that transaction); should the joint write refuse (a
    listener refusing one row), it is undone and the rows are written one by one, each in its savepoint, so only
    the bad row is refused."""
    outcomes: dict[int, RowOutcome] = {}
    ready: list[tuple[int, Prepared]] = []
    for n, item in chunk:
        try:
            if isinstance(item, HutongError):
                raise item
            p = prepare(spec, replace(item, type_code=spec.code))
            if p.predecessor:
                _check_predecessor_elsewhere(node, p)
            ready.append((n, p))
        except HutongError as exc:
            outcomes[n] = RowOutcome(n, error=exc)
    if ready:
        early = len(ready) >= RESERVE_FROM
        if early:
            refs = statuslist.reserve(node, issuer.uscc, len(ready))
            made = _make_all(node, issuer, signer, [(n, p, r) for (n, p), r in zip(ready, refs, strict=True)],
                             outcomes)
        with node.db.session() as s:
            if early:
                made = _keep_slots(node, s, issuer, signer, made, outcomes)
            else:
                refs = statuslist.assign(s, issuer.uscc, len(ready))
                made = _make_all(node, issuer, signer, [(n, p, r) for (n, p), r in zip(ready, refs, strict=True)],
                                 outcomes)
            together = [m for m in made if not m.p.predecessor]  # a successor updates its predecessor: alone
            try:
                if together:
                    _store_many(node, s, principal, together)
                alone = {m.n for m in made if m.p.predecessor}
            except (HutongError, HsmError):
                alone = {m.n for m in made}
            for m in made:
                outcomes[m.n] = _store_one(node, s, principal, m) if m.n in alone else _issued(m)
            if on_commit is not None:
                on_commit(s, [outcomes[n] for n, _ in chunk])
        metrics.certificate_issued(spec.code, sum(1 for n, _ in ready if outcomes[n].error is None))
    return [outcomes[n] for n, _ in chunk]


def _make_all(node: Node, issuer: Issuer, signer: _Signer, rows: list[tuple[int, Prepared, tuple[str, int]]],
              outcomes: dict[int, RowOutcome]) -> list[_Made]:
    """Number, sign and encrypt rows (no transaction open: the HSM's part of a batch, each worker on its own);
    a row the HSM or a check refuses gets its outcome and is left out."""
    made: list[_Made] = []
    for (n, p, ref), serial in zip(rows, _serials(len(rows)), strict=True):
        try:
            cid = identifiers.build_certificate_id(p.spec.code, issuer.uscc, serial, 1)
            made.append(_make(node, n, p, issuer, cid, ref, signer))
        except (HutongError, HsmError) as exc:
            outcomes[n] = _refused(n, exc)
    return made


def _keep_slots(node: Node, s: Session, issuer: Issuer, signer: _Signer, made: list[_Made],
                outcomes: dict[int, RowOutcome]) -> list[_Made]:
    """In the storing transaction (the issuer's status lists locked from here to commit): rows whose reserved
    status slot a concurrent writer stored meanwhile (two reservations may pick the same random index) get a fresh
    slot and are numbered and signed again; the rest are kept as signed."""
    clash = statuslist.taken(s, issuer.uscc, [_ref(m) for m in made])
    if not clash:
        return made
    keep = [m for m in made if _ref(m) not in clash]
    again = [m for m in made if _ref(m) in clash]
    refs = statuslist.assign(s, issuer.uscc, len(again), exclude=[_ref(m) for m in keep])
    return keep + _make_all(node, issuer, signer, [(m.n, m.p, ref) for m, ref in zip(again, refs, strict=True)],
                            outcomes)


def _ref(m: _Made) -> tuple[str, int]:
    return str(m.values["status_list_id"]), int(m.values["status_index"])


def _refused(n: int, exc: HutongError | HsmError) -> RowOutcome:
    return RowOutcome(n, error=lift(exc) or Internal("INTERNAL_ERROR", "internal error"))


def _issued(m: _Made) -> RowOutcome:
    return RowOutcome(m.n, identifier=m.identifier, issued=m)


def _view(node: Node, m: _Made) -> CertView:
    return records.view(node, CertificateRow(**m.values), forms=m.forms, private=_private(m.p))


def _store_one(node: Node, s: Session, principal: Principal, m: _Made) -> RowOutcome:
    try:
        with s.begin_nested():
            _store(node, s, m, principal)
        return _issued(m)
    except (HutongError, HsmError) as exc:
        return _refused(m.n, exc)


def new_version(node: Node, principal: Principal, identifier: str, fields: Mapping[str, str],
                valid_until: str = "", reason: str = "") -> CertView:
    """Re-issue with changed fields as version + 1; the previous version becomes invalid."""
    with node.db.session() as s:
        old = records.find(s, identifier)
        issuer = issuers.acting_issuer(s, principal)
        issuers.require_issuer_of(issuer, old.issuer_uscc, old.type_code)
        if old.status != "valid":
            raise FailedPrecondition(reasons.INVALID_TRANSITION, f"a {old.status} certificate cannot be updated")
        spec = catalogue.get_type(s, old.type_code)
        current = records.view(node, old)
        end = valid_until or (old.valid_until.isoformat() if old.valid_until else "")
        # ID-number fields are not shown back (not in the signed form): an update keeps them unless it names them
        fields = {**current.private_fields, **fields}
        p = prepare(spec, IssueRequest(spec.code, current.holder, fields, old.valid_from.isoformat(), end))
        p = replace(p, extra_claims={"supersedes": old.identifier})
        cid = identifiers.parse_certificate_id(old.identifier)
        cid = identifiers.build_certificate_id(cid.type_code, cid.issuer_uscc, cid.serial, old.version + 1)
        ref = statuslist.assign(s, issuer.uscc, 1)[0]
        made = _make(node, 0, p, issuer, cid, ref, _Signer(node, issuer))
        row = _store(node, s, made, principal)
        row.supersedes = old.identifier
        old.superseded_by, old.status, old.status_reason = row.identifier, "invalid", "superseded: " + reason[:400]
        old.status_changed_at = datetime.now(UTC)
        statuslist.touch(s, [old.status_list_id])
        audit.append(s, actor=principal.actor, action="cert.update", target=old.identifier,
                     details={"new_version": row.identifier, "reason": reason[:200]})
        lifecycle.notify(lifecycle.StatusChange(node, s, principal.actor, old.identifier, old.type_code,
                                                current.holder, current.fields, "valid", old.status))
        s.flush()
        return records.view(node, row, forms=made.forms, private=_private(p))



# -- CSV batches ---------------------------------------------------------------------------------
CSV_HOLDER_COLUMNS = ("holder_id", "holder_name")
CSV_OPTIONAL_COLUMNS = ("valid_from", "valid_until", "predecessor")


def csv_rows(text: str, type_code: str) -> Iterator[BatchRow]:
    """Rows of a UTF-8 CSV with a header: holder_id, holder_name, [valid_from, valid_until,
    predecessor], then the type's field names. A malformed header fails the whole batch; a
    malformed row fails only itself."""

    reader = csv.reader(text.lstrip("\ufeff").splitlines())
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in CSV_HOLDER_COLUMNS if c not in header]
    if missing or len(set(header)) != len(header):
        raise InvalidArgument(reasons.BATCH_INVALID, f"the CSV header needs unique columns incl. {missing}")
    special = set(CSV_HOLDER_COLUMNS + CSV_OPTIONAL_COLUMNS)
    for n, values in enumerate(reader, start=1):
        if len(values) != len(header):
            yield n, InvalidArgument(reasons.BATCH_INVALID, f"row {n} has {len(values)} columns, not {len(header)}")
            continue
        row = dict(zip(header, values, strict=True))
        yield n, IssueRequest(
            type_code=type_code, holder=Holder(kind="", id=row["holder_id"], name=row["holder_name"]),
            fields={k: v for k, v in row.items() if k not in special},
            valid_from=row.get("valid_from", ""), valid_until=row.get("valid_until", ""),
            predecessor=row.get("predecessor", ""),
        )
