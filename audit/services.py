"""Writing, verifying and exporting the audit log."""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.net import client_ip
from audit.context import current_actor, current_request
from audit.models import GENESIS_HASH, AuditChainHead, AuditEntry

PLATFORM_CHAIN = "platform"


def chain_for(organization) -> str:
    return f"org:{organization.pk}" if organization is not None else PLATFORM_CHAIN


def _canonical(value):
    """JSON-normalise ``value`` so the hash computed now equals the one recomputed later."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def compute_hash(entry: AuditEntry) -> str:
    payload = {
        "chain": entry.chain,
        "seq": entry.seq,
        "organization_id": entry.organization_id,
        "created_at": entry.created_at.astimezone(datetime.UTC).isoformat(),
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_label": entry.target_label,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    message = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    key = settings.AUDIT_CHAIN_KEY.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _describe_target(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    meta = getattr(target, "_meta", None)
    target_type = meta.label_lower if meta else type(target).__name__
    return target_type, str(getattr(target, "pk", "") or ""), str(target)[:300]


def record(action, *, actor, organization, target=None, request=None, **details) -> AuditEntry:
    """Append one entry to ``organization``'s chain (or the platform chain if ``None``).

    ``actor`` may be a user, ``None`` (the system) or a string label (an e-mail address
    that failed to log in). ``request``, when given, supplies the client address and user
    agent. The entry commits or rolls back with the caller's transaction, so an operation
    that fails leaves no entry claiming it happened.
    """
    request = request if request is not None else current_request()
    if actor is None:
        actor = current_actor()
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    if actor_user is not None:
        actor_label = actor_user.email
    elif isinstance(actor, str):
        actor_label = actor[:254]
    else:
        actor_label = ""
    target_type, target_id, target_label = _describe_target(target)
    chain = chain_for(organization)
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(chain=chain)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        entry = AuditEntry(
            chain=chain,
            seq=head.seq + 1,
            organization=organization,
            created_at=timezone.now(),
            actor=actor_user,
            actor_label=actor_label,
            action=str(action),
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            ip=client_ip(request) if request is not None else None,
            user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request else ""),
            details=_canonical(details),
            prev_hash=head.hash,
        )
        entry.hash = compute_hash(entry)
        entry.save()
        AuditChainHead.objects.filter(pk=head.pk).update(seq=entry.seq, hash=entry.hash)
        # Watched actions are evaluated for alerts once the caller's transaction commits.
        from audit.alerts import queue_evaluation

        queue_evaluation(entry)
    return entry


def record_for_user(action, user, request=None, label: str = "", **details) -> None:
    """Record an event about a person (login, 2FA) in each organisation they belong to.

    Such events have no single organisation; writing them to every chain the person is in
    lets each organisation's admins see them. ``label`` (the address typed) names the
    actor of a failed attempt, who is not yet anybody. With no organisation (or no user),
    the entry goes to the platform chain.
    """
    organizations = []
    if user is not None:
        # Always in the same order: each record() locks its chain's head until the
        # caller's transaction ends, and two transactions taking the same heads in
        # different orders would deadlock.
        organizations = [
            m.organization
            for m in user.memberships.filter(is_active=True)
            .select_related("organization")
            .order_by("organization_id")
        ]
    for organization in organizations or [None]:
        record(
            action,
            actor=label or user,
            organization=organization,
            target=user,
            request=request,
            **details,
        )


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    seq: int | None
    entry_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry id={self.entry_id} (seq {self.seq})" if self.entry_id else "chain end"
        return f"{self.chain}: {where}: {self.reason}"


def verify_chain(chain: str) -> ChainProblem | None:
    """Walk one chain from the start; return its first problem, or ``None`` if intact.

    Detects an altered entry (its hash no longer matches its content), an inserted or
    removed entry (a sequence gap or a broken link to the previous hash), and a removed
    last entry (the chain head points past the last stored entry).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    entries = AuditEntry.objects.filter(chain=chain).order_by("seq", "id")
    for entry in entries.iterator(chunk_size=2000):
        if entry.seq != expected_seq:
            return ChainProblem(
                chain, entry.seq, entry.pk, f"expected sequence {expected_seq}, found {entry.seq}"
            )
        if entry.prev_hash != expected_prev:
            return ChainProblem(
                chain, entry.seq, entry.pk, "does not link to the previous entry's hash"
            )
        if compute_hash(entry) != entry.hash:
            return ChainProblem(chain, entry.seq, entry.pk, "content does not match its hash")
        expected_prev = entry.hash
        expected_seq += 1
    head = AuditChainHead.objects.filter(chain=chain).first()
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != expected_prev):
        return ChainProblem(
            chain, head.seq, None, f"chain head is at {head.seq} but entries end at {last_seq}"
        )
    return None


def all_chains() -> list[str]:
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains.update(AuditEntry.objects.values_list("chain", flat=True).distinct())
    return sorted(chains)


# A cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value) -> str:
    """Make a value safe to open in Excel: prefix formula-like text with a quote."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


EXPORT_COLUMNS = [
    "time",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target",
    "ip",
    "details",
    "seq",
    "hash",
]


def export_rows(entries: Iterable[AuditEntry]) -> Iterator[list[str]]:
    yield EXPORT_COLUMNS
    for entry in entries:
        row = [
            entry.created_at.isoformat(),
            entry.actor_label,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.target_label,
            entry.ip or "",
            json.dumps(entry.details, ensure_ascii=False, sort_keys=True),
            entry.seq,
            entry.hash,
        ]
        yield [neutralise_cell(cell) for cell in row]


def export_csv(entries: Iterable[AuditEntry]) -> str:
    """CSV text (UTF-8; the caller adds a BOM for Excel) with every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in export_rows(entries):
        writer.writerow(row)
    return buffer.getvalue()
