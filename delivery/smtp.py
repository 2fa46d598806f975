"""Sending bytes to an SMTP relay: TLS always, certificates always verified.

- ``starttls`` mode: the relay must offer STARTTLS; if it does not, the send fails with
  ``TLSRequiredError``. aiosmtplib's opportunistic mode (``start_tls=None``) silently
  falls back to plain text, so it is never used.
- ``tls`` mode: implicit TLS (port 465).
- Certificates are verified against the system CAs, or a relay's own CA bundle (PEM)
  for a private relay. There is no "skip verification" switch.

Connections are pooled per worker process and relay, reused across per-recipient
tasks (checked with NOOP before reuse once idle a few seconds; a busy connection the
relay closed is reopened once when MAIL fails, nothing having been handed over), and
recycled after ``max_messages`` sends or ``idle_timeout`` seconds.

Each send returns an ``SmtpResult`` whose ``status`` tells the caller what happened:
``sent`` (250 after DATA), ``temporary`` (4xx or a connection problem before DATA:
retry later), ``permanent`` (5xx: do not retry), ``tls`` (TLS refused or certificate not
valid: a configuration problem, stop the campaign), ``unknown`` (the connection broke
after the message data was sent: the server may have accepted it; never resend blindly).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import threading
import time
from dataclasses import dataclass, field

import aiosmtplib

# Seconds a pooled connection may sit unused before it is checked with NOOP on reuse.
NOOP_AFTER_IDLE = 5.0


class TLSRequiredError(aiosmtplib.SMTPException):
    """The relay does not offer STARTTLS, or the connection is not encrypted."""


@dataclass(frozen=True)
class RelaySettings:
    host: str
    port: int
    security: str = "starttls"  # "starttls" or "tls"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_bundle: str = ""  # PEM text of extra trusted CAs (private relays only)
    timeout: float = 30.0
    max_messages: int = 100  # per connection before reconnecting
    idle_timeout: float = 60.0
    rate_per_second: int = 0  # 0 = no limit (enforced by the send engine, not here)

    @property
    def pool_key(self) -> tuple:
        return (self.host, self.port, self.security, self.username, self.ca_bundle)


@dataclass(frozen=True)
class SmtpResult:
    status: str  # sent | temporary | permanent | tls | unknown
    code: int | None
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "sent"


@functools.lru_cache(maxsize=32)
def tls_context(ca_bundle: str = "") -> ssl.SSLContext:
    """The client context for a relay: system CAs (plus ``ca_bundle``), certificate and
    host name always checked, TLS 1.2 at least. Made once per bundle and shared by every
    connection (loading the system CAs costs about 20 ms); nothing changes it after."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle:
        context.load_verify_locations(cadata=ca_bundle)
    # create_default_context already sets CERT_REQUIRED and check_hostname; assert it so
    # a future edit cannot weaken it unnoticed.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # noqa: S101
    return context


def _is_tls_failure(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLError | TLSRequiredError):
            return True
        text = str(exc).lower()
        if "starttls" in text or "certificate" in text or "ssl" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@dataclass
class _Pooled:
    client: aiosmtplib.SMTP
    sent: int = 0
    last_used: float = field(default_factory=time.monotonic)


class SmtpPool:
    """Per-process pool of open, verified TLS connections, one event loop per pool."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._connections: dict[tuple, _Pooled] = {}
        self._lock = threading.Lock()

    async def _connect(self, relay: RelaySettings) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.security == "tls",
            start_tls=relay.security == "starttls",  # True = required, never opportunistic
            validate_certs=True,
            tls_context=tls_context(relay.ca_bundle),
            timeout=relay.timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPException as exc:
            if "starttls" in str(exc).lower():
                raise TLSRequiredError(
                    f"{relay.host}:{relay.port} does not offer STARTTLS; refusing to send "
                    "in plain text."
                ) from exc
            raise
        transport = client.transport
        if transport is None or transport.get_extra_info("ssl_object") is None:
            client.close()
            raise TLSRequiredError(f"{relay.host}:{relay.port}: connection is not encrypted.")
        if relay.username:
            await client.login(relay.username, relay.password)
        return client

    async def _get(self, relay: RelaySettings) -> _Pooled:
        pooled = self._connections.get(relay.pool_key)
        if pooled is not None:
            idle = time.monotonic() - pooled.last_used
            stale = pooled.sent >= relay.max_messages or idle > relay.idle_timeout
            alive = not stale and pooled.client.is_connected
            if alive and idle > NOOP_AFTER_IDLE:
                # A connection quiet for a while may have been dropped by the relay:
                # ask before reusing it. A busy one is not asked (a round trip per
                # message); if it did break, MAIL fails and _send reconnects once.
                try:
                    await pooled.client.noop()
                except (aiosmtplib.SMTPException, OSError):
                    alive = False
            if alive:
                return pooled
            await self._discard(relay)
        pooled = _Pooled(await self._connect(relay))
        self._connections[relay.pool_key] = pooled
        return pooled

    async def _discard(self, relay: RelaySettings) -> None:
        pooled = self._connections.pop(relay.pool_key, None)
        if pooled is None:
            return
        try:
            if pooled.client.is_connected:
                await pooled.client.quit()
        except aiosmtplib.SMTPException:
            pooled.client.close()

    async def _send(
        self, relay: RelaySettings, mail_from: str, recipient: str, message: bytes
    ) -> SmtpResult:
        try:
            pooled = await self._get(relay)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Nothing was handed over. A TLS problem is configuration (stop the campaign);
            # anything else about reaching the relay is worth retrying later.
            code = getattr(exc, "code", None)
            return SmtpResult("tls" if _is_tls_failure(exc) else "temporary", code, str(exc))
        client = pooled.client
        # Envelope first: a failure here means nothing was handed over; safe to classify.
        try:
            try:
                await client.mail(mail_from)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if pooled.sent == 0:
                    raise
                # A reused connection the relay closed since its last message: nothing
                # was handed over, so open a fresh one and start again, once.
                await self._discard(relay)
                try:
                    pooled = await self._get(relay)
                except (aiosmtplib.SMTPException, OSError) as again:
                    code = getattr(again, "code", None)
                    status = "tls" if _is_tls_failure(again) else "temporary"
                    return SmtpResult(status, code, str(again))
                client = pooled.client
                await client.mail(mail_from)
            await client.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_or_discard(relay, client)
            return SmtpResult(
                "permanent" if exc.code >= 500 else "temporary", exc.code, exc.message
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._discard(relay)
            return SmtpResult("temporary", None, str(exc))
        try:
            response = await client.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_or_discard(relay, client)
            return SmtpResult(
                "permanent" if exc.code >= 500 else "temporary", exc.code, exc.message
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The data went out but no verdict came back: the server may have accepted it.
            await self._discard(relay)
            return SmtpResult("unknown", None, str(exc))
        pooled.sent += 1
        pooled.last_used = time.monotonic()
        return SmtpResult("sent", response.code, response.message)

    async def _reset_or_discard(self, relay: RelaySettings, client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._discard(relay)

    async def _probe(self, relay: RelaySettings) -> tuple[bool, str]:
        try:
            client = await self._connect(relay)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return False, str(exc)
        try:
            ssl_object = client.transport.get_extra_info("ssl_object")
            version = ssl_object.version() if ssl_object else "?"
            await client.noop()
            await client.quit()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            return False, str(exc)
        return True, f"{relay.host}:{relay.port}: {version}, certificate verified"

    def probe(self, relay: RelaySettings) -> tuple[bool, str]:
        """Connect with TLS required and verified (and log in), then hang up."""
        with self._lock:
            return self._loop.run_until_complete(self._probe(relay))

    def send(
        self, relay: RelaySettings, mail_from: str, recipient: str, message: bytes
    ) -> SmtpResult:
        """Send one message to one recipient; never raises for SMTP outcomes."""
        with self._lock:
            return self._loop.run_until_complete(self._send(relay, mail_from, recipient, message))

    def close(self) -> None:
        with self._lock:
            for key in list(self._connections):
                pooled = self._connections.pop(key)
                try:
                    self._loop.run_until_complete(pooled.client.quit())
                except (aiosmtplib.SMTPException, OSError):
                    pooled.client.close()


_pool: SmtpPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def pool() -> SmtpPool:
    """This process's pool. A forked worker never reuses its parent's connections."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = SmtpPool()
            _pool_pid = os.getpid()
        return _pool
