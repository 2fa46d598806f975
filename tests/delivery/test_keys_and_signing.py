"""DKIM keys, signatures and encrypted secrets, checked with dkimpy's own verifier."""

from __future__ import annotations

import re

import dkim
import pytest
from cryptography.fernet import Fernet
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery import crypto
from delivery.keys import dkim_record_value, generate_ed25519, generate_rsa
from delivery.signing import SigningKey, include_headers, relaxed_body, sign

MESSAGE = (
    b"From: Shop <news@shop.example>\r\n"
    b"To: taro@example.jp\r\n"
    b"Subject: =?utf-8?b?44GK55+l44KJ44Gb?=\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0900\r\n"
    b"Message-ID: <abc@shop.example>\r\n"
    b"List-Unsubscribe: <https://t.example/u/xyz>, <mailto:u+xyz@shop.example>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def _dns_for(selector: str, domain: str, key_type: str, public: str):
    name = f"{selector}._domainkey.{domain}.".encode()

    def dnsfunc(query, timeout=5):
        return dkim_record_value(key_type, public).encode() if query == name else None

    return dnsfunc


@pytest.mark.parametrize("generate", [generate_rsa, generate_ed25519])
def test_signature_verifies_with_published_key(generate):
    pair = generate()
    signed = sign(MESSAGE, [SigningKey("shop.example", "t1", pair.algorithm, pair.private_key)])
    dnsfunc = _dns_for("t1", "shop.example", pair.algorithm, pair.public_key)
    assert dkim.verify(signed, dnsfunc=dnsfunc) is True


def test_rsa_key_is_2048_bits():
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pair = generate_rsa()
    assert load_pem_private_key(pair.private_key.encode(), None).key_size == 2048


def test_signature_covers_list_unsubscribe_post_and_oversigns_from():
    pair = generate_rsa()
    signed = sign(MESSAGE, [SigningKey("shop.example", "t1", "rsa", pair.private_key)])
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    h_tag = re.search(r"\bh=([^;]+);", header.replace("\r\n", "").replace(" ", "")).group(1)
    names = h_tag.split(":")
    assert names.count("from") == 2
    assert names.count("list-unsubscribe-post") == 2
    assert names.count("list-unsubscribe") == 2
    assert {"to", "subject", "date", "message-id"} <= set(names)
    assert not re.search(r";\s*l=", header)


def test_adding_a_second_from_after_signing_breaks_the_signature():
    pair = generate_rsa()
    signed = sign(MESSAGE, [SigningKey("shop.example", "t1", "rsa", pair.private_key)])
    tampered = signed.replace(b"From: Shop", b"From: Evil <evil@x.example>\r\nFrom: Shop", 1)
    dnsfunc = _dns_for("t1", "shop.example", "rsa", pair.public_key)
    assert dkim.verify(tampered, dnsfunc=dnsfunc) is False


def test_dual_signing_adds_two_signatures_that_both_verify():
    rsa_pair, ed_pair = generate_rsa(), generate_ed25519()
    signed = sign(
        MESSAGE,
        [
            SigningKey("shop.example", "r1", "rsa", rsa_pair.private_key),
            SigningKey("shop.example", "e1", "ed25519", ed_pair.private_key),
        ],
    )
    assert signed.count(b"DKIM-Signature:") == 2
    records = {
        b"r1._domainkey.shop.example.": dkim_record_value("rsa", rsa_pair.public_key).encode(),
        b"e1._domainkey.shop.example.": dkim_record_value("ed25519", ed_pair.public_key).encode(),
    }
    results = [
        dkim.DKIM(signed).verify(idx=i, dnsfunc=lambda q, timeout=5: records.get(q))
        for i in range(2)
    ]
    assert results == [True, True]


def test_include_headers_lists_present_headers_then_oversigned_ones():
    names = [n.decode() for n in include_headers(MESSAGE)]
    assert names[:9] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
    ]
    assert names[9:] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ]


def test_encrypted_secrets_round_trip_and_rotate(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = crypto.encrypt("private key material")
    assert "private key material" not in token
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(token) == "private key material"
    rotated = crypto.rotate(token)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "private key material"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n\r\n",
        b"line with trailing space   \r\n\ttabbed\t \tline\r\n\r\n\r\n",
        b"no final newline",
    ],
)
def test_relaxed_canonicalisation_agrees_with_dkimpy(body):
    pair = generate_rsa()
    message = (
        b"From:   Shop \r\n  <news@shop.example>\r\n"
        b"To: taro@example.jp\r\n"
        b"Subject:  folded\r\n\tsubject   line \r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0900\r\n"
        b"Message-ID: <abc@shop.example>\r\n"
        b"\r\n" + body
    )
    signed = sign(message, [SigningKey("shop.example", "t1", "rsa", pair.private_key)])
    dnsfunc = _dns_for("t1", "shop.example", "rsa", pair.public_key)
    assert dkim.verify(signed, dnsfunc=dnsfunc) is True


def test_changing_the_body_breaks_the_signature():
    pair = generate_ed25519()
    signed = sign(MESSAGE, [SigningKey("shop.example", "e1", "ed25519", pair.private_key)])
    dnsfunc = _dns_for("e1", "shop.example", "ed25519", pair.public_key)
    assert dkim.verify(signed.replace(b"Hello", b"Hallo"), dnsfunc=dnsfunc) is False


def test_perl_mail_dkim_accepts_the_rsa_signature():
    """An independent implementation (Mail::DKIM, Debian's libmail-dkim-perl) agrees.

    Debian 12's Mail::DKIM (1.20230212) predates its Ed25519 support and reports the
    Ed25519 signature as an unsupported algorithm, which receivers must ignore; the
    Ed25519 signature is checked by dkimpy (PyNaCl) above, independently of the
    OpenSSL code that made it.
    """
    import os
    import subprocess
    from pathlib import Path

    rsa_pair, ed_pair = generate_rsa(), generate_ed25519()
    signed = sign(
        MESSAGE,
        [
            SigningKey("shop.example", "r1", "rsa", rsa_pair.private_key),
            SigningKey("shop.example", "e1", "ed25519", ed_pair.private_key),
        ],
    )
    records = "|".join(
        [
            "r1._domainkey.shop.example=" + dkim_record_value("rsa", rsa_pair.public_key),
            "e1._domainkey.shop.example=" + dkim_record_value("ed25519", ed_pair.public_key),
        ]
    )
    script = Path(__file__).parent / "tools" / "verify_dkim.pl"
    result = subprocess.run(
        ["perl", str(script)],
        input=signed,
        capture_output=True,
        timeout=30,
        env={**os.environ, "DKIM_RECORDS": records},
        check=True,
    )
    assert result.stdout.decode().splitlines() == [
        "pass rsa-sha256 shop.example",
        "invalid ed25519-sha256 shop.example",
    ]
    assert "unsupported algorithm ed25519-sha256" in result.stderr.decode()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"=", b" ", b"\t", b"  ", b"\r\n", b"\r\n\r\n", b"\r", b"\n"]),
        max_size=16,
    )
)
def test_the_relaxed_body_is_dkimpys_relaxed_body(pieces):
    # The fast whole-body canonicalisation must agree with an independent implementation,
    # for bodies that end with CRLF as every message mime.build makes does (for a last
    # line without one, implementations differ on its trailing whitespace).
    body = b"".join(pieces) + b"\r\n"
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
