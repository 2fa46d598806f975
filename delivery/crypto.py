"""Secrets at rest (DKIM private keys, relay passwords), encrypted with Fernet.

``settings.FIELD_ENCRYPTION_KEYS`` (from ``FIELD_ENCRYPTION_KEY``, comma-separated,
newest first): values are encrypted with the first key and decrypted with any of them,
so a key is rotated by putting a new one in front and running
``manage.py rotate_encryption_keys``, after which the old key can be dropped.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class DecryptionError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY lacks the key it "
            "was encrypted with."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret cannot be decrypted for rotation.") from None


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees the plaintext.

    Not searchable or orderable (the ciphertext is randomised), by design.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
