"""DKIM key pairs and the DNS records that publish them.

RSA-2048 for every receiver, plus Ed25519 (RFC 8463) for dual signing. Private keys are
returned as text for ``delivery.crypto`` to encrypt; they are never shown again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


@dataclass(frozen=True)
class KeyPair:
    algorithm: str  # "rsa" or "ed25519" (the DKIM k= tag)
    private_key: str  # PEM for RSA; base64 of the 32-byte seed for Ed25519 (dkimpy's form)
    public_key: str  # the base64 for the DNS p= tag


def generate_rsa(bits: int = 2048) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair("rsa", private_pem, base64.b64encode(public_der).decode())


def generate_ed25519() -> KeyPair:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return KeyPair("ed25519", base64.b64encode(seed).decode(), base64.b64encode(public).decode())


def dkim_record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def dkim_record_value(key_type: str, public_key: str) -> str:
    return f"v=DKIM1; k={key_type}; p={public_key}"
