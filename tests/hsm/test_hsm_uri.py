"""RFC 7512 pkcs11: URIs."""

from __future__ import annotations

import pytest

from hsm import KeyRef, format_uri, parse
from hsm.errors import InvalidArgument
from hsm.uri import to_ref


def test_round_trip_with_percent_encoding() -> None:
    uri = format_uri(token="node 1", label="seal;ca/é?", key_id=b"\x01\x02\xff", object_type="private")
    assert uri == "pkcs11:token=node%201;object=seal%3Bca%2F%C3%A9%3F;id=%01%02%FF;type=private"
    assert parse(uri) == KeyRef(label="seal;ca/é?", id=b"\x01\x02\xff", token="node 1", object_type="private")


def test_rfc_examples() -> None:
    ref = parse(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;"
        "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
    )
    assert ref.label == "my-certificate" and ref.id == bytes.fromhex("69953e5cf4bdec91")
    assert ref.token == "The Software PKCS#11 Softtoken" and ref.object_type == "cert"
    assert parse("pkcs11:object=k?module-path=/usr/lib/x.so") == KeyRef(label="k")
    assert parse("PKCS11:id=%01").id == b"\x01"


def test_plain_label_and_keyref() -> None:
    assert to_ref("root-ca") == KeyRef(label="root-ca")
    ref = KeyRef(id=b"\x07")
    assert to_ref(ref) is ref


@pytest.mark.parametrize(
    "bad",
    [
        "http://x",
        "pkcs11:",
        "pkcs11:token=t",
        "pkcs11:object=a;object=b",
        "pkcs11:colour=red;object=a",
        "pkcs11:object=%zz",
        "pkcs11:object",
        "pkcs11:object=k;type=thing",
        "pkcs11:object=k?pin-value=1234",
        "pkcs11:object=%ff%fe",
        "",
    ],
)
def test_bad_uris(bad: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(bad) if bad else to_ref(bad)
    assert exc.value.reason == "INVALID_KEY_URI"
    assert "1234" not in exc.value.message


def test_keyref_needs_label_or_id() -> None:
    with pytest.raises(InvalidArgument):
        KeyRef()
