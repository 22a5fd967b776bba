"""Logins: levels of assurance, step-up, TOTP, key-based login, throttling, pairwise subjects, scopes."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, DecodeError
from joserfc.jwk import KeySet

from hutong.common.v1 import common_pb2
from hutong.errors import FailedPrecondition, PermissionDenied, ResourceExhausted, Unauthenticated
from hutong_client.identity import IdentityClient
from identity_svc import totp

from .conftest import EXTRA, LI, NOT_REGISTERED, PASSWORD, PEOPLE, WANG, ZHANG, World


def _enrol_totp(person: IdentityClient) -> str:
    enrolment = person.begin_totp_enrolment()
    person.confirm_totp_enrolment(totp.code_at(enrolment.secret_base32, time.time()))
    return enrolment.secret_base32


def _next_code(secret: str) -> str:
    # Codes are single use: the enrolment consumed the current period's code, so use the next one.
    return totp.code_at(secret, time.time() + 30)


def test_password_login_is_substantial_and_id_token_verifies_independently(world: World) -> None:
    world.register(ZHANG)
    tokens = world.portal.login(ZHANG, PASSWORD, nonce="n-1")
    assert (tokens.acr, list(tokens.amr)) == (common_pb2.LEVEL_OF_ASSURANCE_SUBSTANTIAL, ["pwd"])
    keys = KeySet.import_key_set(world.portal.jwks()[0])
    claims = jwt.decode(tokens.id_token, keys, algorithms=["ES256"]).claims
    assert (claims["aud"], claims["acr"], claims["nonce"], claims["sub"]) == ("portal", "substantial", "n-1",
                                                                             tokens.subject)
    header, payload, signature = tokens.id_token.split(".")
    for tampered in (f"{header}.{payload}.{_flip(signature)}", f"{header}.{_flip(payload)}.{signature}"):
        try:
            jws.deserialize_compact(tampered, keys, algorithms=["ES256"])
        except (BadSignatureError, DecodeError, ValueError):
            continue
        raise AssertionError("a token with one byte changed verified")


def _flip(segment: str) -> str:
    """Change one character in the middle of a base64url segment."""
    i = len(segment) // 2
    return segment[:i] + ("A" if segment[i] != "A" else "B") + segment[i + 1:]


def test_wrong_password_and_unknown_person_look_the_same(world: World, expect) -> None:
    world.register(ZHANG)
    before = world.snapshot()
    expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, ZHANG, "wrong password 1")
    expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, NOT_REGISTERED, PASSWORD)
    assert world.snapshot() == before


def test_platform_requiring_high_refuses_substantial_and_accepts_totp(world: World, expect) -> None:
    person = world.person(ZHANG)
    err = expect(PermissionDenied, "STEP_UP_REQUIRED", world.secure.login, ZHANG, PASSWORD)
    assert err.metadata == {"required_acr": "high", "acr": "substantial"}
    secret = _enrol_totp(person)
    tokens = world.secure.login(ZHANG, PASSWORD, totp_code=_next_code(secret))
    assert (tokens.acr, list(tokens.amr)) == (common_pb2.LEVEL_OF_ASSURANCE_HIGH, ["pwd", "otp"])
    assert world.secure.verify_id_token(tokens.id_token)["acr"] == "high"


def test_totp_failures(world: World, expect) -> None:
    person = world.person(ZHANG)
    expect(FailedPrecondition, "TOTP_NOT_ENROLLED", world.secure.login, ZHANG, PASSWORD, totp_code="123456")
    secret = _enrol_totp(person)
    code = _next_code(secret)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    expect(Unauthenticated, "TOTP_INVALID", world.secure.login, ZHANG, PASSWORD, totp_code=wrong)
    world.secure.login(ZHANG, PASSWORD, totp_code=code)
    expect(Unauthenticated, "TOTP_INVALID", world.secure.login, ZHANG, PASSWORD, totp_code=code)  # replay


def test_totp_enrolment_needs_a_correct_code(world: World, expect) -> None:
    from hutong.errors import InvalidArgument

    person = world.person(LI)
    secret = person.begin_totp_enrolment().secret_base32
    bad = f"{(int(totp.code_at(secret, time.time())) + 1) % 10**6:06d}"
    expect(InvalidArgument, "TOTP_CONFIRMATION_FAILED", person.confirm_totp_enrolment, bad)
    expect(PermissionDenied, "STEP_UP_REQUIRED", world.secure.login, LI, PASSWORD)


def test_key_based_login_reaches_high(world: World, expect) -> None:
    person = world.person(WANG)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    person.register_public_key(public_key_pem=pem)
    ch = world.secure.create_login_challenge(WANG)
    signature = key.sign(ch.to_sign, ec.ECDSA(hashes.SHA256()))
    tokens = world.secure.login(WANG, PASSWORD, challenge_id=ch.challenge_id, signature=signature)
    assert list(tokens.amr) == ["pwd", "hwk"] and tokens.acr == common_pb2.LEVEL_OF_ASSURANCE_HIGH
    expect(Unauthenticated, "CHALLENGE_INVALID", world.secure.login, WANG, PASSWORD,
           challenge_id=ch.challenge_id, signature=signature)
    other = ec.generate_private_key(ec.SECP256R1())
    ch2 = world.secure.create_login_challenge(WANG)
    expect(Unauthenticated, "KEY_SIGNATURE_INVALID", world.secure.login, WANG, PASSWORD,
           challenge_id=ch2.challenge_id, signature=other.sign(ch2.to_sign, ec.ECDSA(hashes.SHA256())))


def test_throttling_grows_then_locks_out_one_identity_only(world: World, expect) -> None:
    world.register(ZHANG)
    world.register(LI)
    for _ in range(2):  # free failures
        expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, ZHANG, "wrong password 1")
    err = expect(ResourceExhausted, "LOGIN_THROTTLED", world.portal.login, ZHANG, PASSWORD)
    assert int(err.metadata["retry_after_seconds"]) >= 1
    world.portal.login(LI, PASSWORD)  # another identity is not affected
    time.sleep(0.45)
    expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, ZHANG, "wrong password 1")
    expect(ResourceExhausted, "LOGIN_THROTTLED", world.portal.login, ZHANG, PASSWORD)  # delay doubled
    time.sleep(0.85)
    expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, ZHANG, "wrong password 1")
    err = expect(ResourceExhausted, "ACCOUNT_LOCKED", world.portal.login, ZHANG, PASSWORD)
    assert int(err.metadata["retry_after_seconds"]) > 50


def test_throttling_per_client(world: World, expect) -> None:
    for number in EXTRA[:6]:  # one failure each: no identity is throttled, the platform is
        expect(Unauthenticated, "INVALID_CREDENTIALS", world.portal.login, number, "wrong password 1")
    expect(ResourceExhausted, "CLIENT_THROTTLED", world.portal.login, EXTRA[6], "wrong password 1")
    world.register(EXTRA[7], via=world.idapp)
    world.idapp.login(EXTRA[7], PASSWORD)  # other platforms carry on


def test_sub_is_pairwise_per_platform_and_stable(world: World) -> None:
    portal_sub = world.register(ZHANG)
    idapp_sub = world.idapp.login(ZHANG, PASSWORD).subject
    assert portal_sub != idapp_sub
    assert world.portal.login(ZHANG, PASSWORD).subject == portal_sub
    assert world.idapp.login(ZHANG, PASSWORD).subject == idapp_sub


def test_id_number_only_for_platforms_registered_for_it(world: World, expect) -> None:
    world.register(ZHANG)
    expect(PermissionDenied, "SCOPE_NOT_ALLOWED", world.portal.login, ZHANG, PASSWORD, scopes=["id_number"])
    plain = world.portal.verify_id_token(world.portal.login(ZHANG, PASSWORD, scopes=["profile"]).id_token)
    assert "id_number" not in plain and plain["name"] == "张三"
    assert ZHANG not in json.dumps(plain)
    tokens = world.idapp.login(ZHANG, PASSWORD, scopes=["openid", "id_number"])
    assert world.idapp.verify_id_token(tokens.id_token)["id_number"] == ZHANG


def test_operator_scope_is_the_platforms_own(world: World, expect) -> None:
    """A platform registered with node:operate is the operator; a person's token never carries the scope."""
    from hutong.auth import OPERATOR_SCOPE
    from identity_svc import platforms
    from identity_svc.authn import TokenAuthenticator

    ops = platforms.add_platform(world.idn, client_id="ops", name="Operator", scopes=["openid", OPERATOR_SCOPE])
    authn = TokenAuthenticator(world.idn)
    assert authn.authenticate({"x-hutong-client-id": "ops", "x-hutong-client-secret": ops.client_secret}).is_operator
    client = IdentityClient(world.channel, client_id="ops", client_secret=ops.client_secret)
    client.register_person(ZHANG, PEOPLE[ZHANG], PASSWORD)
    expect(PermissionDenied, "SCOPE_NOT_ALLOWED", client.login, ZHANG, PASSWORD, scopes=["openid", OPERATOR_SCOPE])
    person = authn.authenticate({"authorization": f"Bearer {client.login(ZHANG, PASSWORD).access_token}",
                                 "x-hutong-client-id": "ops", "x-hutong-client-secret": ops.client_secret})
    assert person.kind == "person" and not person.is_operator
