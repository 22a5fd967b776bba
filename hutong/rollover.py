"""Staged key rollover for the node's own keys: never a raw swap.

A rollover has two steps, each one audited in the same transaction as the registry change:

1. **prepare** -- a new key is generated in the HSM under a label of its own and, for certified roles,
   certified by the root. It is registered as *pending*: published at once by every worker (JWKS,
   trust anchors, the node's trust-list descriptor, accepted for decryption) but not used to sign.
2. **activate** -- the pending key becomes *active* (every worker signs with it from its next call on)
   and the previous active key becomes *retired*: still published and accepted until ``needed_until``
   (the last token it signed has expired; the last certificate it issued has expired).

Activation is refused while the node is federated and the trust list in force does not yet carry the
successor: members would otherwise reject what the node makes. ``hutong hsm destroy`` refuses keys the
registry still needs. ``plan`` says what the next step would do (``--dry-run``) without doing it.

On the hub, the trust-list signing key pivots: while its successor is pending every published list
announces it (``next_signers``); activation is refused until the latest published list does, and members
that fetched it accept lists signed by the successor -- and by no other new key.

The root rolls over with everything it certifies: prepare makes the new root (self-signed, and cross-certified
by the current root so that a verifier knowing only the old root reaches the new one) and a pending successor
of every subordinate (seal CA, issuer CA, TSA, token signing, trust-list signing) certified by the new root;
activate switches all of them in one transaction. The old root stays published (retired) as long as its
certificate lives: what its subordinates signed before keeps verifying.

The transparency-log key (``node.audit-log``, signing the audit log's checkpoints) rolls over like a
token key: its successor is announced in the trust-list descriptor (``previous_log_keys``) before it signs;
retired log keys stay published for good, since every checkpoint they signed must keep verifying.

Supported roles: root, token signing, seal CA, issuer CA, TSA, trust-list signing (the hub), federation
decryption, audit log, and the data-protection key, which has a third step, **reencrypt** (``hutong.rekey``: every
protected record re-encrypted in the background, resumable), and the blind-index key, whose third step is
**reindex** (``hutong.reindex``: every stored blind index recomputed with the new key on the same machinery;
look-ups match both keys meanwhile).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from hsm import CreateKeyRequest, CreateSecretKeyRequest, KeyAlgorithm
from hutong import audit, keyring, peers, pki, reindex, rekey
from hutong.db import Database
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound
from hutong.federation import hub
from hutong.federation.trustlist import TrustList
from hutong.keyring import NodeKey
from hutong.node import Node
from hutong.tlog.integrator import LOG_KEY_LABEL, LOG_KEY_ROLE
from hutong.tlog.note import signer_key
from hutong.tlog.witness import witness_name
from hutong.verify import jose

Step = Literal["auto", "prepare", "activate", "reencrypt", "reindex"]

CERTIFIED = (pki.SEAL_CA, pki.ISSUER_CA, pki.TSA, pki.TOKEN, pki.TRUST_LIST)
SUPPORTED = (pki.ROOT, *CERTIFIED, pki.FEDERATION_ENC, LOG_KEY_ROLE, pki.DATA_KEY, pki.BLIND_INDEX)
# How long a retired federation decryption key stays accepted: senders encrypt to the key their copy of the
# trust list names until they fetch the next list.
FEDERATION_ENC_OVERLAP = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class Plan:
    """What a rollover step does (or did), in words an officer reads."""

    role: str
    step: Literal["prepare", "activate", "reencrypt", "reindex"]
    actions: list[str] = field(default_factory=list)
    label: str = ""  # the key made (prepare) or activated (activate)
    retired: str = ""  # activate: the key that was active before
    needed_until: datetime | None = None  # activate: until when the retired key stays published
    follows: list[Plan] = field(default_factory=list)  # root: the subordinates' steps done with it


def role_of(name: str) -> str:
    """``node.token-signing`` or ``token-signing`` -> ``token-signing``; refuses other labels."""
    role = name.removeprefix(pki.KEY_PREFIX)
    if role in SUPPORTED:
        return role
    raise InvalidArgument("NODE_KEY_ROLE_UNKNOWN", f"'{name}' is not a node key role; roles: "
                          + ", ".join(SUPPORTED))


def plan(node: Node, name: str, step: Step = "auto", *, now: datetime | None = None) -> Plan:
    """The next step of the rollover of ``name``'s role, checked but not done."""
    role = role_of(name)
    now = now or datetime.now(UTC)
    snap = node.pki.registry.snapshot()
    pending, active = snap.pending(role), snap.active(role)
    if step == "auto":
        step = ("activate" if pending else "reencrypt" if role == pki.DATA_KEY and rekey.status(node)
                else "reindex" if role == pki.BLIND_INDEX and reindex.status(node) else "prepare")
    if step == "reencrypt":
        return _reencrypt_plan(node, role)
    if step == "reindex":
        return _reindex_plan(node, role)
    if step == "prepare":
        if pending:
            raise FailedPrecondition("ROLLOVER_IN_PROGRESS", f"{pending.label} is already pending for {role}: "
                                     "activate it (or destroy it) before preparing another")
        label = _new_label(role, now)
        p = Plan(role, "prepare", label=label)
        kind = ("AES-256 secret" if role == pki.DATA_KEY else "HMAC-SHA256 secret" if role == pki.BLIND_INDEX
                else _algorithm(role).value)
        p.actions.append(f"generate {kind} key {label} in the HSM")
        if role == pki.ROOT:
            return _plan_root_prepare(snap, p, now)
        if role in CERTIFIED:
            p.actions.append(f"certify it under the node root ({_what(role)})")
        p.actions.append("register it as pending: published (JWKS, trust anchors, trust-list descriptor), "
                         "not yet used")
        if role == LOG_KEY_ROLE:
            p.actions.append("it signs checkpoints only once activated; publish this node's descriptor first "
                             "(previous_log_keys), so that the hub's witness and members accept them; on the hub "
                             "it also cosigns as the witness: publish a list (it names the successor among the "
                             "witness keys) and let members refresh before activating")
        if role == pki.TRUST_LIST:
            p.actions.append("announce it as the next signer in every trust list published from now on: publish "
                             "one (hutong federation publish) and let members refresh before activating")
        return p
    if pending is None:
        raise FailedPrecondition("ROLLOVER_NOT_PREPARED", f"no pending {role} key: prepare one first "
                                 "(hutong hsm rotate without --step, or --step prepare)")
    if role == pki.ROOT:
        return _plan_root_activate(node, snap, pending, active, now)
    _require_published(node, role, pending)
    if role == LOG_KEY_ROLE:
        _require_witness_announced(node, pending)
    announced_in = _require_announced_by_hub(node, pending) if role == pki.TRUST_LIST else None
    p = Plan(role, "activate", label=pending.label, retired=active.label if active else "")
    if announced_in is not None:
        p.actions.append(f"sign the next trust lists with it: members holding list #{announced_in} or later "
                         "follow; a member still holding an older list refuses them (TRUST_LIST_SIGNER_NOT_ANNOUNCED)")
    p.needed_until = _needed_until(node, role, active, now) if active else None
    p.actions.append(f"make {pending.label} the active {role} key: every worker uses it from its next call")
    if active:
        until = p.needed_until.isoformat(timespec="seconds") if p.needed_until else "as long as it exists"
        p.actions.append(f"retire {active.label}: still published and accepted until {until}")
    if role == pki.DATA_KEY:
        p.actions.append("then re-encrypt every protected record (run this command again: step reencrypt)")
    if role == pki.BLIND_INDEX:
        p.actions.append("new blind indexes are stored under it; look-ups match both keys until the old one is "
                         "released")
        p.actions.append("then re-index every stored blind index: the serving node starts it by itself ([rekey] "
                         "automatic); otherwise run this command again (step reindex)")
    return p


def _reindex_plan(node: Node, role: str) -> Plan:
    st = reindex.status(node) if role == pki.BLIND_INDEX else None
    if st is None:
        raise FailedPrecondition("REINDEX_NOT_NEEDED", f"nothing to re-index for {role}: only the blind-index key "
                                 "has this step, after a new key was activated")
    p = Plan(role, "reindex", label=st.key_label)
    p.actions.append(f"recompute with {st.key_label}, in batches while the node serves, every stored blind index "
                     f"still under {', '.join(st.retired)} whose original the node holds (a protected ID number, "
                     f"certificate forms, or such a row under the same index): {st.describe()}")
    p.actions.append("then release the retired keys if no stored index is under them any more; otherwise they "
                     "stay in use until what waits is re-imported or presented again, and this step is run again")
    return p


def _reencrypt_plan(node: Node, role: str) -> Plan:
    st = rekey.status(node) if role == pki.DATA_KEY else None
    if st is None:
        raise FailedPrecondition("REKEY_NOT_NEEDED", f"nothing to re-encrypt for {role}: only the data-protection "
                                 "key has this step, after a new key was activated")
    p = Plan(role, "reencrypt", label=st.key_label)
    p.actions.append(f"re-encrypt, in batches while the node serves, every record still protected by "
                     f"{', '.join(st.retired)}: {st.describe()}")
    p.actions.append("individual-business codes too: each primary key moves with the rows referring to it, "
                     "and lookups by code try every live key meanwhile")
    p.actions.append("then release the retired keys (hsm destroy may remove them)")
    return p


def rotate(node: Node, name: str, step: Step = "auto", *, dry_run: bool = False, actor: str = "officer",
           batch: int = rekey.BATCH, pause: float = 0.0) -> Plan:
    """Plan the next step and, unless ``dry_run``, do it (``batch``, ``pause``: the re-encryption's pace)."""
    p = plan(node, name, step)
    if dry_run:
        return p
    if p.step == "reencrypt":
        st = rekey.reencrypt(node, actor=actor, batch=batch, pause=pause)
        p.actions.append(f"done: {st.rows_done} records re-encrypted")
        return p
    if p.step == "reindex":
        before = reindex.status(node)
        done = reindex.reindex(node, actor=actor, batch=batch, pause=pause)
        p.actions.append(f"done: {done.rows_done} blind indexes recomputed; " + (
            f"{', '.join(before.retired if before else [])} released" if done.waiting == 0 else
            f"{done.waiting} stored indexes still wait for their value to be presented or re-imported: the old key "
            "stays in use"))
        return p
    return _prepare(node, p, actor) if p.step == "prepare" else _activate(node, p, actor)


def _prepare(node: Node, p: Plan, actor: str) -> Plan:
    if p.role == pki.ROOT:
        return _prepare_root(node, p, actor)
    pem = _make(node, p)
    with node.db.session() as s:
        _register(s, node, p, pem, actor)
    node.pki.registry.invalidate()
    return p


def _make(node: Node, p: Plan, *, root: tuple[str, x509.Certificate] | None = None) -> str | None:
    """The HSM side of a prepare: the key, and its certificate (PEM) for a certified role -- under the active
    root, or ``root`` (label, certificate: a root being prepared, not registered yet). Nothing registered."""
    role = p.role
    if role in (pki.DATA_KEY, pki.BLIND_INDEX):
        node.keys.create_secret_key(CreateSecretKeyRequest(label=p.label,
                                                           kind="aes" if role == pki.DATA_KEY else "hmac"))
        pem = None
    elif role == pki.FEDERATION_ENC:
        node.keys.create_key(CreateKeyRequest(label=p.label, algorithm=KeyAlgorithm.RSA_2048, usage="decrypt"))
        pem = None
    elif role == LOG_KEY_ROLE:  # uncertified: checkpoints name the key by its id, verifiers hold its vkey
        node.keys.create_key(CreateKeyRequest(label=p.label, algorithm=KeyAlgorithm.EC_P256))
        pem = None
    else:
        info = node.keys.create_key(CreateKeyRequest(label=p.label, algorithm=_algorithm(role)))
        cert = node.pki.certify(role, info.public_key, root=root)
        node.keys.import_certificate(p.label, cert)
        pem = pki.pem(cert)
    return pem


def _register(s: Session, node: Node, p: Plan, pem: str | None, actor: str) -> None:
    """The database side of a prepare, in the caller's transaction: the key pending, audited."""
    role = p.role
    if role == LOG_KEY_ROLE and not keyring.rows(s, LOG_KEY_ROLE, ("active",)):
        # The log key predates the registry: register it as the active key it is, with its successor.
        node.tlog.signer()
        keyring.add(s, label=LOG_KEY_LABEL, role=LOG_KEY_ROLE, state="active", activated=True)
    keyring.add(s, label=p.label, role=role, state="pending", certificate_pem=pem)
    audit.append(s, actor=actor, action="pki.rollover.prepare", target=role,
                 details={"label": p.label, **({"certificate_serial": format(
                     pki.load_pem(pem).serial_number, "x")} if pem else {})})


def _activate(node: Node, p: Plan, actor: str) -> Plan:
    """Activate the step's key and, for the root, its subordinates' successors: all in one transaction, so
    every worker switches from a consistent old set to a consistent new set."""
    now = datetime.now(UTC)
    with node.db.session() as s:
        for step in (p, *p.follows):
            new = s.get(NodeKey, step.label)
            if new is None or new.state != "pending":
                raise FailedPrecondition("ROLLOVER_NOT_PREPARED", f"{step.label} is no longer pending")
            for old in s.scalars(select(NodeKey).where(NodeKey.role == step.role, NodeKey.state == "active")):
                old.state, old.retired_at, old.needed_until = "retired", now, step.needed_until
            new.state, new.activated_at = "active", now
            if step.role in (pki.ROOT, *CERTIFIED) and new.certificate:
                pki.record_current_certificate(s, step.role, step.label, new.certificate)
            audit.append(s, actor=actor, action="pki.rollover.activate", target=step.role,
                         details={"label": step.label, "retired": step.retired,
                                  "needed_until": step.needed_until.isoformat() if step.needed_until else None})
        keyring.bump(s)
    node.pki.registry.invalidate()
    return p


# -- the root ---------------------------------------------------------------------------------------------
def _plan_root_prepare(snap: keyring.Snapshot, p: Plan, now: datetime) -> Plan:
    busy = [r for r in CERTIFIED if snap.pending(r)]
    if busy:
        raise FailedPrecondition("ROLLOVER_IN_PROGRESS", "finish the pending rollover of " + ", ".join(busy)
                                 + " first: a root rollover makes a successor of every key the root certifies")
    p.actions.append(f"self-sign it as the new root and cross-certify it with the current root "
                     f"(a {pki.ROOT}.cross.{p.label} certificate: verifiers that know only the old root reach the "
                     "new one)")
    for role in CERTIFIED:
        sub = Plan(role, "prepare", label=_new_label(role, now))
        p.follows.append(sub)
        p.actions.append(f"generate {sub.label} and certify it under the new root ({_what(role)})")
    p.actions.append("register them all as pending: the new root, its cross certificate and the successors are "
                     "published (trust anchors, JWKS, trust-list descriptor), not yet used")
    return p


def _plan_root_activate(node: Node, snap: keyring.Snapshot, pending: keyring.KeyEntry,
                        active: keyring.KeyEntry | None, now: datetime) -> Plan:
    _require_published(node, pki.ROOT, pending)
    p = Plan(pki.ROOT, "activate", label=pending.label, retired=active.label if active else "")
    p.needed_until = _needed_until(node, pki.ROOT, active, now) if active else None
    new_root = pending.certificate
    for role in CERTIFIED:
        sub = snap.pending(role)
        if sub is None or sub.certificate is None or new_root is None or sub.certificate.issuer != new_root.subject:
            continue  # not made by this root rollover (destroyed, or never made): the role keeps its key
        p.follows.append(plan(node, role, "activate", now=now))
    p.actions.append(f"make {pending.label} the active root and, with it, "
                     + ", ".join(f.label for f in p.follows) + ": every worker uses them from its next call")
    if active:
        until = p.needed_until.isoformat(timespec="seconds") if p.needed_until else "as long as it exists"
        p.actions.append(f"retire {active.label} and the subordinates it certified: still published and trusted "
                         f"until {until}, so what they signed keeps verifying")
    return p


def _prepare_root(node: Node, p: Plan, actor: str) -> Plan:
    """Atomic: every key and certificate is made in the HSM first (the new root, its cross certificate, a
    successor of every subordinate certified by it), then all are registered in one transaction. A crash or
    an HSM failure in the middle leaves nothing registered (the run can simply be repeated; keys it made are
    unused, under labels nothing names), never a pending root with only some successors."""
    info = node.keys.create_key(CreateKeyRequest(label=p.label, algorithm=KeyAlgorithm.EC_P256))
    self_signed, cross = node.pki.new_root(p.label, info.public_key)
    node.keys.import_certificate(p.label, self_signed)
    made = [(sub, _make(node, sub, root=(p.label, self_signed))) for sub in p.follows]
    with node.db.session() as s:
        keyring.add(s, label=p.label, role=pki.ROOT, state="pending", certificate_pem=pki.pem(self_signed))
        s.add(pki.NodeCertificate(name=f"{pki.ROOT}.cross.{p.label}", key_label=p.label, pem=pki.pem(cross),
                                  created_at=datetime.now(UTC)))
        audit.append(s, actor=actor, action="pki.rollover.prepare", target=pki.ROOT,
                     details={"label": p.label, "certificate_serial": format(self_signed.serial_number, "x"),
                              "cross_certificate_serial": format(cross.serial_number, "x")})
        for sub, pem in made:
            _register(s, node, sub, pem, actor)
    node.pki.registry.invalidate()
    return p


def check_destroy(snapshot: keyring.Snapshot, label: str, *, now: datetime | None = None,
                  db: Database | None = None) -> None:
    """Refuse to destroy a node key that is active, pending, or retired but still needed for verification
    (a blind-index key: while stored indexes are under it, counted in ``db``)."""
    entry = snapshot.entry(label)
    blind = reindex.why_kept(db, snapshot, label) if entry is not None and entry.state == "retired" else None
    if blind is not None:
        raise FailedPrecondition(blind[0], f"key '{label}' is kept: {blind[1]}")
    if entry is None or not entry.still_needed(now):
        return
    kept = rekey.why_kept(snapshot, label)
    if kept:
        why = kept
    elif entry.state == "retired":
        until = entry.needed_until.isoformat(timespec="seconds") if entry.needed_until else "indefinitely"
        why = f"it is retired but still verifies what it signed (until {until})"
    else:
        why = f"it is the {entry.state} {entry.role} key"
    raise FailedPrecondition("NODE_KEY_STILL_NEEDED", f"key '{label}' is kept: {why}")


def _latest_published(node: Node) -> TrustList | None:
    """The newest trust list this node published as a hub (None: it never published one, or is no hub)."""
    try:
        token = hub.latest(node)
    except NotFound:
        return None
    return TrustList.from_claims(json.loads(jose.decode_payload(token)))  # our own publication, from our database


def _require_witness_announced(node: Node, pending: keyring.KeyEntry) -> None:
    """On the hub the log key also cosigns members' checkpoints: it switches only once its latest list names the
    successor as a witness key, so members holding that list accept what the new key cosigns."""
    tl = _latest_published(node)
    if tl is None:
        return
    vkey = signer_key(witness_name(node.id), node.keys.signer(pending.label)).encode()
    if vkey not in tl.witness_keys():
        raise FailedPrecondition(
            "ROLLOVER_NOT_PUBLISHED",
            f"trust list #{tl.sequence} does not name {pending.label} as a witness key yet: publish a list "
            "(hutong federation publish), let members refresh, then activate")


def _require_announced_by_hub(node: Node, pending: keyring.KeyEntry) -> int | None:
    """The hub switches trust-list keys only once its latest list announces the successor (the pivot).
    Returns that list's sequence (None: nothing published yet, so no member to strand)."""
    tl = _latest_published(node)
    if tl is None:
        return None
    if pending.certificate_pem not in tl.next_signers:
        raise FailedPrecondition(
            "ROLLOVER_NOT_PUBLISHED",
            f"trust list #{tl.sequence} does not announce {pending.label} as the next signer yet: publish a list "
            "(hutong federation publish), let members refresh, then activate")
    return tl.sequence


# -- helpers ----------------------------------------------------------------------------------------------
def _new_label(role: str, now: datetime) -> str:
    return f"{pki.key_label(role)}.{now.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def _algorithm(role: str) -> KeyAlgorithm:
    return KeyAlgorithm.RSA_2048 if role == pki.FEDERATION_ENC else KeyAlgorithm.EC_P256


def _what(role: str) -> str:
    return {pki.SEAL_CA: "issues seal certificates", pki.ISSUER_CA: "issues department certificates",
            pki.TSA: "signs timestamps", pki.TOKEN: "signs ID and access tokens",
            pki.TRUST_LIST: "signs trust lists", LOG_KEY_ROLE: "signs the audit log's checkpoints"}.get(role, role)


def _needed_until(node: Node, role: str, active: keyring.KeyEntry, now: datetime) -> datetime | None:
    """Until when a key retired now must stay published and accepted."""
    if role == pki.TOKEN:
        identity = peers.identity(node)
        if identity is None:
            raise FailedPrecondition("TOKEN_LIFETIME_UNKNOWN", "the token-signing key rolls over on a node wired "
                                     "with its identity service, which says how long its tokens live")
        # The last token it signs expires at most this long after the switch.
        return now + timedelta(seconds=identity.token_lifetime_seconds()) + CLOCK_SKEW
    if role == pki.FEDERATION_ENC:
        return now + FEDERATION_ENC_OVERLAP
    if role == LOG_KEY_ROLE:
        return None  # every checkpoint it signed must keep verifying: published as long as it exists
    cert = active.certificate
    # What a CA or the TSA certified lives at most as long as its own certificate.
    return cert.not_valid_after_utc if cert is not None else None


def _require_published(node: Node, role: str, pending: keyring.KeyEntry) -> None:
    """A federated node activates a successor only once the trust list in force announces it."""
    if not node.trust.federated or role not in (pki.ROOT, pki.TOKEN, pki.SEAL_CA, pki.ISSUER_CA, pki.TSA,
                                                LOG_KEY_ROLE):
        return
    tl = node.trust.trust_list()
    assert tl is not None
    try:
        entry = tl.member(node.id)
    except Exception:  # noqa: BLE001 - not listed at all: nothing to break yet
        return
    if role == LOG_KEY_ROLE:
        vkey = signer_key(node.tlog.origin, node.keys.signer(pending.label)).encode()
        announced = vkey in entry.log_keys()
    elif role == pki.TOKEN:
        cert = pending.certificate
        assert cert is not None
        from hutong.verify import jose

        kid = jose.public_jwk(cert.public_key())["kid"]  # type: ignore[arg-type]
        announced = any(k.get("kid") == kid for k in entry.jwks.get("keys", []))
    else:
        trust_role = {pki.ROOT: "root", pki.SEAL_CA: "seal", pki.ISSUER_CA: "issuer", pki.TSA: "tsa"}[role]
        announced = pending.certificate in entry.certificates(trust_role)
    if not announced:
        raise FailedPrecondition(
            "ROLLOVER_NOT_PUBLISHED",
            f"trust list {tl.sequence} does not announce {pending.label} yet: have the hub publish this node's "
            "new descriptor (hutong federation describe / member add / publish), let it refresh, then activate")
