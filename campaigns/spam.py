"""SpamAssassin score of a rendered campaign, run locally.

Debian's ``spamassassin`` script in test mode: ``-L`` (local tests only: no DNS
blocklists, no Razor/Pyzor, nothing leaves the machine), ``-t`` (report), ``-x`` (no
per-user preferences file is created) and Bayes off (scoring a draft must not train
anything). It runs in a subprocess with a timeout; results are cached by the message's
hash so the editor and the approval page do not pay for the same message twice.

Where spamassassin is not installed the result says so (``available=False``) and the
pre-send check shows that as a warning rather than failing.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from campaigns.rendering import RenderedMessage

TIMEOUT_SECONDS = 30
CACHE_SECONDS = 24 * 3600
_STATUS = re.compile(r"score=(-?\d+(?:\.\d+)?)\s+required=(-?\d+(?:\.\d+)?)")
_TESTS = re.compile(r"tests=([A-Za-z0-9_,\s]*?)(?:\s+autolearn=|\s+version=|$)")
_RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclass(frozen=True)
class SpamResult:
    available: bool
    score: float | None = None
    required: float | None = None
    rules: list[tuple[float, str, str]] = field(default_factory=list)  # points, name, text
    error: str = ""


def spamassassin_path() -> str | None:
    configured = getattr(settings, "SPAMASSASSIN_BIN", "")
    return configured or shutil.which("spamassassin")


def mime_message(message: RenderedMessage, recipient: str = "recipient@example.com") -> bytes:
    """``message`` as the multipart/alternative MIME a recipient would get (unsigned,
    without delivery's tracking and List-Unsubscribe headers)."""
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = formataddr((message.from_name, message.from_address or "sender@example.com"))
    mime["To"] = recipient
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    domain = (message.from_address.rpartition("@")[2] or "example.com").strip() or "example.com"
    mime["Message-ID"] = make_msgid(domain=domain)
    charset = "iso-2022-jp" if message.charset == "iso-2022-jp" else "utf-8"
    cte = "7bit" if charset == "iso-2022-jp" else "quoted-printable"
    mime.set_content(message.text or "\n", charset=charset, cte=cte)
    if message.html:
        mime.add_alternative(message.html, subtype="html", charset=charset, cte=cte)
    return mime.as_bytes()


def _parse(output: str) -> SpamResult:
    head = output.split("\n\n", 1)[0]
    unfolded = re.sub(r"\n[ \t]+", " ", head)
    status = next(
        (line for line in unfolded.splitlines() if line.lower().startswith("x-spam-status:")), ""
    )
    match = _STATUS.search(status)
    if match is None:
        return SpamResult(available=True, error=_("spamassassin printed no score"))
    rules = []
    in_table = False
    for line in output.splitlines():
        if line.startswith("---- "):
            in_table = True
            continue
        if in_table:
            rule = _RULE_LINE.match(line)
            if rule:
                rules.append((float(rule.group(1)), rule.group(2), rule.group(3).strip()))
            elif line.strip() and not line.startswith((" ", "\t")):
                in_table = False
    unique = list({name: (points, name, text) for points, name, text in rules}.values())
    return SpamResult(
        available=True,
        score=float(match.group(1)),
        required=float(match.group(2)),
        rules=unique,
    )


def spam_score(message_bytes: bytes, *, timeout: float = TIMEOUT_SECONDS) -> SpamResult:
    """Score ``message_bytes`` with ``spamassassin -L -t``; never raises."""
    binary = spamassassin_path()
    if not binary:
        return SpamResult(available=False, error=_("spamassassin is not installed"))
    key = "campaigns:spam:" + hashlib.sha256(message_bytes).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    command = [
        binary,
        "-L",
        "-t",
        "-x",
        "--cf=use_bayes 0",
        "--cf=bayes_auto_learn 0",
    ]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            command, input=message_bytes, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return SpamResult(
            available=True,
            error=_("spamassassin took longer than %(seconds)s s") % {"seconds": f"{timeout:g}"},
        )
    except OSError as error:
        return SpamResult(available=False, error=str(error))
    result = _parse(completed.stdout.decode("utf-8", "replace").replace("\r\n", "\n"))
    if result.score is None and completed.returncode not in (0, 1):
        stderr = completed.stderr.decode("utf-8", "replace").strip()[-300:]
        return SpamResult(available=True, error=stderr or result.error)
    if result.score is not None:
        cache.set(key, result, CACHE_SECONDS)
    return result
