"""DKIM signatures over the final message bytes (dkimpy).

Signed headers: everything a reader or a mailbox provider acts on, each over-signed
(listed once more than present) so nobody can add a second From, Subject or
List-Unsubscribe after signing. dkimpy's default set leaves List-Unsubscribe-Post out,
which RFC 8058 requires inside the signature, so the list is explicit. No ``l=``: the
whole body is signed.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "feedback-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
OVERSIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
)


class SigningError(RuntimeError):
    """The message could not be signed (bad key, malformed message)."""


@dataclass(frozen=True)
class SigningKey:
    domain: str
    selector: str
    algorithm: str  # "rsa" or "ed25519"
    private_key: str


def _present_headers(message: bytes) -> list[str]:
    head = message.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        names.append(line.split(b":", 1)[0].strip().lower().decode("ascii", "replace"))
    return names


def include_headers(message: bytes) -> list[bytes]:
    present = _present_headers(message)
    signed = [name for name in present if name in SIGNED_HEADERS]
    extra = [name for name in OVERSIGNED_HEADERS if name in signed or name == "from"]
    return [name.encode() for name in signed + extra]


def sign(message: bytes, keys: list[SigningKey]) -> bytes:
    """Return ``message`` with one DKIM-Signature per key prepended (RSA first).

    ``message`` must use CRLF line endings and already carry every header that goes out.
    """
    headers = include_headers(message)
    signatures = b""
    for key in keys:
        algorithm = b"ed25519-sha256" if key.algorithm == "ed25519" else b"rsa-sha256"
        try:
            signature = dkim.sign(
                message,
                key.selector.encode(),
                key.domain.encode(),
                key.private_key.encode(),
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=algorithm,
                include_headers=headers,
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            raise SigningError(f"DKIM signing for {key.domain} failed: {exc}") from exc
        signatures += signature
    return signatures + message
