"""Engagement conditions: received, opened or clicked a campaign; never opened.

The data behind them (deliveries, opens, clicks) belongs to the delivery app, which sits
above segments in the import order (``delivery -> campaigns -> segments``), so segments
cannot query it. Instead the delivery app registers a compiler when it starts::

    # delivery/apps.py, in ready()
    from segments import engagement
    engagement.register(DeliveryEngagement())

Until one is registered, a rule tree may *contain* engagement conditions (the schema
knows them) but compiling one is refused with ``NOT_AVAILABLE``; saving a segment,
counting it and building an audience all compile, so none of them silently ignores the
condition.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass
from typing import Protocol

from django.db.models import Q
from django.utils.translation import gettext as _

from segments.rules import RuleError


@dataclass(frozen=True)
class EngagementCondition:
    """One engagement condition, validated by the schema.

    ``action``: ``received``, ``opened``, ``clicked`` or ``never_opened``.
    ``campaign_id``: a campaign of the organisation, or ``None`` for any campaign.
    ``within_days``: only events of the last N days (counted from ``today``, the
    organisation's date), or ``None`` for any time.
    """

    action: str
    campaign_id: int | None
    within_days: int | None
    today: datetime.date


class EngagementCompiler(Protocol):
    def campaign_choices(self, organization) -> list[tuple[int, str]]:
        """Campaigns the builder offers, as ``(id, name)``; most recent first."""

    def compile(self, organization, condition: EngagementCondition) -> Q:
        """A never-NULL filter over ``contacts.Contact`` (use ``Exists``/``~Exists`` on
        ``OuterRef("pk")``). Raise ``ValueError(message)`` for a campaign that is not the
        organisation's; the message is shown with the condition's position."""


def not_available_message() -> str:
    return _("engagement conditions need delivery data; available once sending is enabled.")


_compiler: EngagementCompiler | None = None


def register(compiler: EngagementCompiler) -> None:
    """Called once by the delivery app; a second registration replaces the first."""
    global _compiler
    _compiler = compiler


def unregister() -> None:
    global _compiler
    _compiler = None


def current() -> EngagementCompiler | None:
    return _compiler


@contextlib.contextmanager
def override(compiler: EngagementCompiler | None):
    """Install ``compiler`` (``None``: none at all) for a block, then restore what was
    there (tests: the delivery app registers its compiler at start-up)."""
    global _compiler
    saved = _compiler
    _compiler = compiler
    try:
        yield
    finally:
        _compiler = saved


def campaign_choices(organization) -> list[tuple[int, str]]:
    return [] if _compiler is None else list(_compiler.campaign_choices(organization))


def compile_condition(organization, condition: dict, path, today, field_label: str) -> Q:
    if _compiler is None:
        raise RuleError(not_available_message(), path, field_label=field_label)
    value = condition.get("value") or {}
    subject = EngagementCondition(
        action=condition["op"],
        campaign_id=value.get("campaign"),
        within_days=value.get("days"),
        today=today,
    )
    try:
        return _compiler.compile(organization, subject)
    except ValueError as error:
        raise RuleError(str(error), path, field_label=field_label) from None
