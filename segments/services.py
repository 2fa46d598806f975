"""The rules for segments and campaign audiences.

Plain functions. Views (and later the API) call these and nothing else; campaigns build
their recipient lists and approval fingerprints with ``audience_contacts`` /
``audience_count`` / ``audience_sample`` / ``audience_definition``.

Who sees what: a count or sample computed *for a member* (``membership=``) covers only
the contacts ``contacts.services.visible_contacts`` lets that person see, so a restricted
list's contacts never show up in the numbers or samples of someone without a grant.
Without ``membership`` (the send itself) the whole organisation counts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import get_object_for_member, require_perm
from accounts.models import Membership, Organization
from audit import record
from audit.enums import Action
from contacts.enums import ContactStatus
from contacts.models import Contact, ContactList, CustomField, ListMembership, Suppression, Tag
from contacts.services import visible_contacts, visible_lists
from segments.compiler import Compiler
from segments.models import Segment
from segments.rules import Catalogue, RuleError, validate_rules

# A builder preview that takes longer than this is cancelled and reported, so one huge
# rule tree cannot hold a database connection (milliseconds; PostgreSQL only).
PREVIEW_TIMEOUT_MS = getattr(settings, "SEGMENT_PREVIEW_TIMEOUT_MS", 10_000)
SAMPLE_SIZE = 10


class AudienceError(ValueError):
    """An audience that cannot be built: a list or segment that is not the
    organisation's (or no longer exists), or a segment whose rules no longer compile.
    ``str()`` names it and says why."""


# --- Rules ------------------------------------------------------------------------------


def organization_today(organization: Organization) -> datetime.date:
    return timezone.localtime(timezone.now(), ZoneInfo(organization.time_zone)).date()


def catalogue_for(
    organization: Organization,
    *,
    membership: Membership | None = None,
    today: datetime.date | None = None,
) -> Catalogue:
    """What rules of ``organization`` may refer to. With ``membership``, only the lists
    that person may see (what the builder offers and what they may save)."""
    lists = (
        visible_lists(membership)
        if membership is not None
        else ContactList.objects.for_organization(organization)
    )
    return Catalogue.build(
        CustomField.objects.for_organization(organization).order_by("label", "key"),
        tags=dict(Tag.objects.for_organization(organization).values_list("pk", "name")),
        lists=dict(lists.order_by("name").values_list("pk", "name")),
        today=today or organization_today(organization),
        time_zone=ZoneInfo(organization.time_zone),
    )


def compile_rules(
    organization: Organization,
    rules,
    *,
    catalogue: Catalogue | None = None,
    excluding: bool = False,
) -> Q:
    """A filter over ``organization``'s contacts for ``rules`` (apply it to
    ``Contact.objects.for_organization(organization)``; it does not restrict the
    organisation itself).

    Raises ``RuleError`` naming the condition and why: an unknown field, an operator that
    does not fit, a value of the wrong type, a tag or list that is not the organisation's,
    an engagement condition before delivery data exists.

    ``excluding``: the rules keep people out of an audience (an excluded segment), which
    changes how a list its member left counts (``segments.compiler.Compiler._lists``).
    """
    catalogue = catalogue or catalogue_for(organization)
    canonical = validate_rules(rules, catalogue)
    return Compiler(organization, catalogue, excluding=excluding).compile(canonical)


def check_rules_for_member(membership: Membership, rules) -> dict:
    """The canonical tree of ``rules`` as ``membership`` may save it (lists they cannot
    see are refused), compiled once so that nothing uncompilable is ever stored."""
    organization = membership.organization
    catalogue = catalogue_for(organization, membership=membership)
    canonical = validate_rules(rules, catalogue)
    Compiler(organization, catalogue).compile(canonical)
    return canonical


# --- Segments ---------------------------------------------------------------------------


def segments_for_member(membership: Membership) -> QuerySet[Segment]:
    require_perm(membership, "segments.view")
    return Segment.objects.for_organization(membership.organization_id).select_related(
        "created_by", "updated_by"
    )


def get_segment_for_member(membership: Membership, pk, perm: str = "segments.view") -> Segment:
    """One segment of the member's organisation: 404 for another's, 403 without ``perm``."""
    return get_object_for_member(membership, Segment.objects.all(), perm, pk=pk)


def _clean_name(organization_id: int, name: str, exclude_pk=None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the segment a name.")})
    if len(name) > 200:
        raise ValidationError({"name": _("At most 200 characters.")})
    others = Segment.objects.for_organization(organization_id).annotate(key=Lower("name"))
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.filter(key=name.lower()).exists():
        raise ValidationError({"name": _("A segment with this name already exists.")})
    return name


@transaction.atomic
def create_segment(
    membership: Membership, *, name: str, description: str = "", rules, request=None
) -> Segment:
    """Save a new segment. Raises ``ValidationError`` (name) or ``RuleError`` (rules)."""
    require_perm(membership, "segments.edit")
    organization = membership.organization
    name = _clean_name(organization.pk, name)
    canonical = check_rules_for_member(membership, rules)
    now = timezone.now()
    segment = Segment.objects.create(
        organization=organization,
        name=name,
        description=(description or "").strip(),
        rules=canonical,
        created_by=membership.user,
        created_at=now,
        updated_by=membership.user,
        updated_at=now,
    )
    record(
        Action.SEGMENT_CREATED,
        actor=membership.user,
        organization=organization,
        target=segment,
        request=request,
        name=name,
        rules_after=canonical,
    )
    return segment


@transaction.atomic
def update_segment(
    membership: Membership,
    segment: Segment,
    *,
    name: str,
    description: str = "",
    rules,
    request=None,
) -> Segment:
    """Change a segment; the audit entry carries the rules before and after. Nothing
    changed: nothing written. Campaigns holding an approval over this segment see their
    audience definition change (and so lose the approval)."""
    segment = get_segment_for_member(membership, segment.pk, "segments.edit")
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    name = _clean_name(segment.organization_id, name, exclude_pk=segment.pk)
    description = (description or "").strip()
    canonical = check_rules_for_member(membership, rules)
    changes = {}
    if name != segment.name:
        changes["name"] = [segment.name, name]
    if description != segment.description:
        changes["description"] = [segment.description, description]
    rules_before = segment.rules
    if canonical != rules_before:
        changes["rules"] = True
    if not changes:
        return segment
    segment.name, segment.description, segment.rules = name, description, canonical
    segment.updated_by, segment.updated_at = membership.user, timezone.now()
    segment.save()
    record(
        Action.SEGMENT_UPDATED,
        actor=membership.user,
        organization=segment.organization,
        target=segment,
        request=request,
        changes=changes,
        rules_before=rules_before,
        rules_after=canonical,
    )
    return segment


@transaction.atomic
def delete_segment(membership: Membership, segment: Segment, request=None) -> None:
    """Delete a segment. Refused (``ValidationError``) while campaigns use it."""
    segment = get_segment_for_member(membership, segment.pk, "segments.edit")
    pk, name, rules = segment.pk, segment.name, segment.rules
    try:
        with transaction.atomic():
            segment.delete()
    except ProtectedError as error:
        users = sorted({str(obj) for obj in error.protected_objects})
        raise ValidationError(
            _("This segment is used by %(users)s; remove it there first.")
            % {"users": ", ".join(users)}
        ) from None
    record(
        Action.SEGMENT_DELETED,
        actor=membership.user,
        organization=membership.organization,
        request=request,
        segment_id=pk,
        name=name,
        rules_before=rules,
    )


# --- Audiences ----------------------------------------------------------------------------


def _in_lists(list_ids, *, subscribed_only: bool = True) -> Q:
    """Membership of any of ``list_ids``.

    Included lists count subscribed members only: a person who left a list through the
    preference page (``ListMembership.unsubscribed_at``) is not in its audience, though
    the row stays. Excluded lists count every row (``subscribed_only=False``): leaving
    a list must never put a person into an audience they were kept out of (leaving a
    "do not mail" list is not asking for more mail).
    """
    memberships = ListMembership.objects.all()
    if subscribed_only:
        memberships = memberships.subscribed()
    return Q(Exists(memberships.filter(contact=OuterRef("pk"), contact_list_id__in=list_ids)))


def _suppressed(organization_id: int) -> Exists:
    return Exists(
        Suppression.objects.filter(organization_id=organization_id, lifted_at__isnull=True)
        .annotate(address_key=Lower("address"))
        .filter(address_key=Lower(OuterRef("email")))
    )


def sendable(contacts: QuerySet[Contact], organization_id: int) -> QuerySet[Contact]:
    """Only contacts who may receive mail: subscribed and not on the suppression list."""
    return contacts.filter(status=ContactStatus.SUBSCRIBED).filter(~_suppressed(organization_id))


@dataclass(frozen=True)
class _Parts:
    include_lists: tuple[int, ...]
    exclude_lists: tuple[int, ...]
    include_segments: tuple[Segment, ...]
    exclude_segments: tuple[Segment, ...]


def _pks(items: Iterable, what: str) -> list[int]:
    pks = set()
    for item in items or ():
        pk = getattr(item, "pk", item)
        if isinstance(pk, bool) or not isinstance(pk, int):
            raise AudienceError(
                _("%(what)s: “%(value)s” is not an id.") % {"what": what, "value": pk}
            )
        pks.add(pk)
    return sorted(pks)


def _resolve(organization, include_lists, include_segments, exclude_lists, exclude_segments):
    """Ids checked against the organisation; segments read fresh from the database."""

    def lists(items):
        pks = _pks(items, _("Lists"))
        found = set(
            ContactList.objects.for_organization(organization)
            .filter(pk__in=pks)
            .values_list("pk", flat=True)
        )
        missing = [pk for pk in pks if pk not in found]
        if missing:
            raise AudienceError(_("List %(id)s does not exist.") % {"id": missing[0]})
        return tuple(pks)

    def segments(items):
        pks = _pks(items, _("Segments"))
        found = Segment.objects.for_organization(organization).in_bulk(pks)
        missing = [pk for pk in pks if pk not in found]
        if missing:
            raise AudienceError(_("Segment %(id)s does not exist.") % {"id": missing[0]})
        return tuple(found[pk] for pk in pks)

    return _Parts(
        include_lists=lists(include_lists),
        exclude_lists=lists(exclude_lists),
        include_segments=segments(include_segments),
        exclude_segments=segments(exclude_segments),
    )


def _base(organization: Organization, membership: Membership | None) -> QuerySet[Contact]:
    if membership is None:
        return Contact.objects.for_organization(organization)
    if membership.organization_id != organization.pk:
        raise AudienceError(_("That person is not a member of this organisation."))
    return visible_contacts(membership)


def _segment_filter(
    organization, segment: Segment, catalogue: Catalogue, *, excluding: bool = False
) -> Q:
    try:
        return compile_rules(organization, segment.rules, catalogue=catalogue, excluding=excluding)
    except RuleError as error:
        raise AudienceError(
            _("Segment “%(name)s”: %(error)s") % {"name": segment.name, "error": error.message}
        ) from error


def audience_contacts(
    organization: Organization,
    *,
    include_lists: Iterable = (),
    include_segments: Iterable = (),
    exclude_lists: Iterable = (),
    exclude_segments: Iterable = (),
    membership: Membership | None = None,
) -> QuerySet[Contact]:
    """Contacts of ``organization`` in any included list or matching any included segment,
    minus those in an excluded list or matching an excluded segment, minus contacts who
    are not subscribed or whose address is on the suppression list.

    Lists and segments may be given as objects or ids; both are checked against the
    organisation and segments are read fresh from the database (``AudienceError``
    otherwise). One row per contact, and a contact is unique per address in its
    organisation, so the result is deduplicated by address. With ``membership``, only
    the contacts that person may see. Nothing included: nobody.
    """
    parts = _resolve(organization, include_lists, include_segments, exclude_lists, exclude_segments)
    contacts = _base(organization, membership)
    catalogue = catalogue_for(organization)
    include = [_segment_filter(organization, s, catalogue) for s in parts.include_segments]
    if parts.include_lists:
        include.insert(0, _in_lists(parts.include_lists))
    if not include:
        return contacts.none()
    exclude = [
        _segment_filter(organization, s, catalogue, excluding=True) for s in parts.exclude_segments
    ]
    if parts.exclude_lists:
        exclude.insert(0, _in_lists(parts.exclude_lists, subscribed_only=False))
    # Compiled filters are never NULL, so negating them cannot drop a contact by accident.
    contacts = contacts.filter(reduce(or_, include))
    if exclude:
        contacts = contacts.filter(~reduce(or_, exclude))
    return sendable(contacts, organization.pk)


def _counted(run, error_class=AudienceError):
    """Run a query in a savepoint; a stored date PostgreSQL cannot read becomes a clear
    error instead of a 500 (the schema's date pattern lets through only "2023-02-30")."""
    try:
        with transaction.atomic():
            return run()
    except DataError:
        raise error_class(
            _("Some contacts have a stored date that is not a real day (like 30 February); "
              "correct them or remove the date condition.")
        ) from None  # fmt: skip


def audience_count(organization: Organization, **audience) -> int:
    """Exactly ``len(audience_contacts(organization, **audience))``."""
    return _counted(lambda: audience_contacts(organization, **audience).count())


def audience_sample(organization: Organization, *, n: int = SAMPLE_SIZE, **audience) -> list:
    """Up to ``n`` contacts of the audience, most recently added first."""
    return _counted(lambda: list(audience_contacts(organization, **audience).order_by("-pk")[:n]))


def audience_definition(
    organization: Organization,
    *,
    include_lists: Iterable = (),
    include_segments: Iterable = (),
    exclude_lists: Iterable = (),
    exclude_segments: Iterable = (),
    membership: Membership | None = None,
) -> dict:
    """What decides an audience, as canonical JSON: sorted list ids, and each segment's
    id with its rules (as stored), sorted by id. Campaigns hash it into an approval; any
    change to a chosen segment's rules changes it. It does not depend on who asks
    (``membership`` is accepted for a uniform signature and ignored)."""
    parts = _resolve(organization, include_lists, include_segments, exclude_lists, exclude_segments)

    def segments(items):
        return [{"id": s.pk, "rules": s.rules} for s in sorted(items, key=lambda s: s.pk)]

    return {
        "version": 1,
        "include_lists": list(parts.include_lists),
        "exclude_lists": list(parts.exclude_lists),
        "include_segments": segments(parts.include_segments),
        "exclude_segments": segments(parts.exclude_segments),
    }


# --- The builder's live preview -----------------------------------------------------------


@dataclass
class Preview:
    """What the builder shows: the recipient count and a sample, or why not."""

    count: int | None = None
    sample: list = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.count is not None


def preview_rules(membership: Membership, rules, *, n: int = SAMPLE_SIZE) -> Preview:
    """The recipients ``rules`` would reach, as ``membership`` may see them: how many, and
    up to ``n`` of them. Problems come back in the preview, never raised."""
    require_perm(membership, "segments.view")
    organization = membership.organization
    catalogue = catalogue_for(organization, membership=membership)
    try:
        canonical = validate_rules(rules, catalogue)
        condition = Compiler(organization, catalogue).compile(canonical)
    except RuleError as error:
        return Preview(errors=error.errors, message=error.message)
    contacts = sendable(visible_contacts(membership).filter(condition), organization.pk)
    return _measure(contacts, n)


def segment_preview(membership: Membership, segment: Segment, *, n: int = SAMPLE_SIZE) -> Preview:
    """A saved segment's recipients as ``membership`` may see them."""
    require_perm(membership, "segments.view")
    try:
        contacts = audience_contacts(
            membership.organization, include_segments=[segment], membership=membership
        )
    except AudienceError as error:
        cause = error.__cause__
        errors = cause.errors if isinstance(cause, RuleError) else []
        return Preview(errors=errors, message=str(error))
    return _measure(contacts, n)


def _measure(contacts: QuerySet[Contact], n: int) -> Preview:
    def run():
        if connection.vendor != "postgresql":
            return Preview(count=contacts.count(), sample=list(contacts.order_by("-pk")[:n]))
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(PREVIEW_TIMEOUT_MS)]
            )
            preview = Preview(count=contacts.count(), sample=list(contacts.order_by("-pk")[:n]))
            # Inside a caller's transaction the setting would outlive this savepoint.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        return preview

    try:
        return _counted(run)
    except AudienceError as error:
        return Preview(message=str(error))
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
        return Preview(
            message=_("Counting took longer than %(seconds)s seconds; simplify the rules.")
            % {"seconds": PREVIEW_TIMEOUT_MS // 1000}
        )
