"""What the pages show about sending: a campaign's live progress and its report, the
organisation's overview and onboarding checklist, hot prospects, and the report's CSV.

Read-only computations over ``Delivery`` and ``DeliveryEvent`` (the CSV export writes
one audit entry). Every function takes the campaign or membership it reports on and
queries through that organisation; the views only check access and render.

Definitions (the same on every page and in the CSV):

- *Sent*: the relay accepted the message (``status = sent``). *Delivered*: sent and no
  bounce recorded afterwards (an asynchronous DSN sets ``bounced_at`` on a sent row).
- *Bounced, hard*: failed with a permanent (5xx) reply, or bounced after sending
  (``bounced_at`` set). *Bounced, soft*: failed after temporary (4xx) replies up to the
  retry limit (failed, no ``bounced_at``).
- *Opens / clicks, unique*: deliveries with ``opened_at`` / ``clicked_at`` (set only by
  people: machine opens never set them; a click also counts as an open, since images are
  often blocked). *Total*: the open / click events, machine events excluded.
- Rates are percentages with one decimal. Delivery and bounce rates are over the
  messages attempted (sent + failed); open, click, unsubscribe and complaint rates are
  over the messages delivered; click-to-open is unique clicks over unique opens. A rate
  over zero messages is ``None`` (shown as a dash), never 0 % or a division error.
- *Unknown*: the relay may have accepted the message but the engine could not record it;
  listed for the operator, never re-sent automatically.

Addresses (the unknown rows, the CSV, hot prospects) are only those of contacts the
member may see (``contacts.services.visible_contacts``): a marketer without access to a
restricted list sees counts, not its people.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import tempfile
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.access import has_perm, require_perm
from accounts.models import Membership, Organization
from audit import record
from audit.enums import Action
from audit.services import neutralise_cell
from campaigns.enums import CampaignState
from campaigns.models import Campaign, SenderProfile
from contacts.models import Contact
from contacts.services import visible_contacts
from delivery.enums import PENDING_STATUSES, DeliveryStatus, DomainStatus, EventKind
from delivery.models import Delivery, DeliveryEvent, SendingDomain, SmtpRelay

# The order the progress table lists statuses in: the life of a row, then its endings.
STATUS_ORDER = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.UNKNOWN,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.SKIPPED,
)
# Campaign states in which rows may still move: the progress fragment keeps polling.
ACTIVE_STATES = frozenset({CampaignState.SENDING, CampaignState.PAUSED})
RATE_WINDOW = datetime.timedelta(minutes=1)
# Hour buckets up to this span; beyond it the chart switches to days (opens trickle in
# for weeks, and 700 hourly bars are unreadable).
MAX_HOURLY_BUCKETS = 72
PROSPECT_DAYS = 30
PROSPECT_CLICK_WEIGHT = 3
PROSPECT_OPEN_WEIGHT = 1
UNKNOWN_ROWS_SHOWN = 200
LINKS_SHOWN = 50


def _deliveries(campaign: Campaign) -> QuerySet[Delivery]:
    return Delivery.objects.for_organization(campaign.organization_id).filter(campaign=campaign)


def _events(campaign: Campaign) -> QuerySet[DeliveryEvent]:
    return DeliveryEvent.objects.for_organization(campaign.organization_id).filter(
        delivery__campaign=campaign
    )


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _org_zone(organization: Organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.time_zone)


# --- Progress -------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every DeliveryStatus value, zeros included
    total: int
    done: int  # rows no longer queued or sending
    percent: int  # floor(done / total): 100 only when every row is done
    sent_last_minute: int
    seconds_left: int | None  # None: nothing to estimate from (paused, no recent sends)
    active: bool  # the campaign is sending or paused: rows may still move

    @property
    def rows(self) -> list[StatusCount]:
        labels = dict(DeliveryStatus.choices)
        return [StatusCount(s.value, str(labels[s]), self.counts[s]) for s in STATUS_ORDER]

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def time_left(self) -> str:
        return describe_duration(self.seconds_left) if self.seconds_left is not None else ""


def describe_duration(seconds: int) -> str:
    """A rough, translated duration for "time left" ("about 3 minutes")."""
    if seconds < 60:
        return _("less than a minute")
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return ngettext("about %(n)d minute", "about %(n)d minutes", minutes) % {"n": minutes}
    hours, rest = divmod(minutes, 60)
    return _("about %(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}


def campaign_progress(campaign: Campaign, now: datetime.datetime | None = None) -> Progress:
    """Counts by status, percent done, sends in the last minute and a time-left estimate
    (pending rows at the last minute's rate). One query."""
    now = now or timezone.now()
    aggregates = _deliveries(campaign).aggregate(
        **{f"s_{status}": Count("pk", filter=Q(status=status)) for status in DeliveryStatus},
        recent=Count("pk", filter=Q(status=DeliveryStatus.SENT, sent_at__gte=now - RATE_WINDOW)),
    )
    counts = {status.value: aggregates[f"s_{status}"] for status in DeliveryStatus}
    total = sum(counts.values())
    pending = sum(counts[s] for s in PENDING_STATUSES)
    done = total - pending
    recent = aggregates["recent"]
    seconds_left = None
    if campaign.state == CampaignState.SENDING and pending and recent:
        seconds_left = math.ceil(pending * RATE_WINDOW.total_seconds() / recent)
    return Progress(
        counts=counts,
        total=total,
        done=done,
        percent=done * 100 // total if total else 0,
        sent_last_minute=recent,
        seconds_left=seconds_left,
        active=campaign.state in ACTIVE_STATES,
    )


def _visible_deliveries(membership: Membership, deliveries: QuerySet[Delivery]):
    """Only rows whose contact the member may see. Admins see every row, including
    those whose contact was deleted since."""
    if membership.role == "admin":
        return deliveries
    return deliveries.filter(contact__in=visible_contacts(membership).values("pk"))


def unknown_deliveries(membership: Membership, campaign: Campaign) -> list[Delivery]:
    """The rows in ``unknown`` the member may see (at most ``UNKNOWN_ROWS_SHOWN``)."""
    rows = _deliveries(campaign).filter(status=DeliveryStatus.UNKNOWN)
    rows = _visible_deliveries(membership, rows)
    return list(
        rows.order_by("address").only(
            "pk", "address", "claimed_at", "smtp_response", "error", "message_id"
        )[:UNKNOWN_ROWS_SHOWN]
    )


# --- The report -----------------------------------------------------------------------


@dataclass(frozen=True)
class LinkStats:
    url: str
    total: int
    unique: int


@dataclass(frozen=True)
class Report:
    recipients: int
    sent: int
    delivered: int
    failed: int
    hard_bounced: int
    soft_bounced: int
    suppressed: int
    unknown: int
    opens_unique: int
    opens_total: int
    clicks_unique: int
    clicks_total: int
    unsubscribes: int
    complaints: int
    links: list[LinkStats] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.failed

    @property
    def delivery_rate(self):
        return _rate(self.delivered, self.attempted)

    @property
    def hard_bounce_rate(self):
        return _rate(self.hard_bounced, self.attempted)

    @property
    def soft_bounce_rate(self):
        return _rate(self.soft_bounced, self.attempted)

    @property
    def open_rate(self):
        return _rate(self.opens_unique, self.delivered)

    @property
    def click_rate(self):
        return _rate(self.clicks_unique, self.delivered)

    @property
    def click_to_open_rate(self):
        return _rate(self.clicks_unique, self.opens_unique)

    @property
    def unsubscribe_rate(self):
        return _rate(self.unsubscribes, self.delivered)

    @property
    def complaint_rate(self):
        return _rate(self.complaints, self.delivered)


def campaign_report(campaign: Campaign) -> Report:
    """The campaign's figures (see the module docstring). Three queries."""
    sent_q = Q(status=DeliveryStatus.SENT)
    failed_q = Q(status=DeliveryStatus.FAILED)
    bounced_q = Q(bounced_at__isnull=False)
    row = _deliveries(campaign).aggregate(
        recipients=Count("pk"),
        sent=Count("pk", filter=sent_q),
        delivered=Count("pk", filter=sent_q & ~bounced_q),
        failed=Count("pk", filter=failed_q),
        hard_bounced=Count("pk", filter=bounced_q),
        soft_bounced=Count("pk", filter=failed_q & ~bounced_q),
        suppressed=Count("pk", filter=Q(status=DeliveryStatus.SUPPRESSED)),
        unknown=Count("pk", filter=Q(status=DeliveryStatus.UNKNOWN)),
        opens_unique=Count("pk", filter=Q(opened_at__isnull=False)),
        clicks_unique=Count("pk", filter=Q(clicked_at__isnull=False)),
        unsubscribes=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        complaints=Count("pk", filter=Q(complained_at__isnull=False)),
    )
    people = _events(campaign).filter(is_machine=False)
    totals = people.aggregate(
        opens_total=Count("pk", filter=Q(kind=EventKind.OPEN)),
        clicks_total=Count("pk", filter=Q(kind=EventKind.CLICK)),
    )
    links = [
        LinkStats(url=link["url"], total=link["total"], unique=link["unique"])
        for link in people.filter(kind=EventKind.CLICK)
        .values("url")
        .annotate(total=Count("pk"), unique=Count("delivery", distinct=True))
        .order_by("-total", "url")[:LINKS_SHOWN]
    ]
    return Report(**row, **totals, links=links)


# --- The chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    start: datetime.datetime  # aware, in the organisation's time zone
    sends: int
    opens: int


@dataclass(frozen=True)
class Series:
    unit: str  # "hour" or "day"
    buckets: list[Bucket]

    @property
    def peak(self) -> int:
        return max((max(b.sends, b.opens) for b in self.buckets), default=0)


def campaign_series(campaign: Campaign) -> Series:
    """Sends and (human) opens per hour in the organisation's time zone, from the first
    send to the last event, gaps filled with zeros; per day when that spans more than
    ``MAX_HOURLY_BUCKETS`` hours. Two queries."""
    zone = _org_zone(campaign.organization)
    sends = dict(
        _deliveries(campaign)
        .filter(sent_at__isnull=False)
        .annotate(bucket=TruncHour("sent_at", tzinfo=zone))
        .order_by()
        .values_list("bucket")
        .annotate(n=Count("pk"))
    )
    opens = dict(
        _events(campaign)
        .filter(kind=EventKind.OPEN, is_machine=False)
        .annotate(bucket=TruncHour("at", tzinfo=zone))
        .order_by()
        .values_list("bucket")
        .annotate(n=Count("pk"))
    )
    hours = sorted(set(sends) | set(opens))
    if not hours:
        return Series("hour", [])
    first, last = hours[0].astimezone(zone), hours[-1].astimezone(zone)
    span_hours = int((last - first).total_seconds() // 3600) + 1
    if span_hours <= MAX_HOURLY_BUCKETS:
        buckets = []
        for i in range(span_hours):
            # Step in UTC so a daylight-saving change neither repeats nor skips an hour.
            start = (first.astimezone(datetime.UTC) + datetime.timedelta(hours=i)).astimezone(zone)
            buckets.append(Bucket(start, sends.get(start, 0), opens.get(start, 0)))
        return Series("hour", buckets)
    by_day: dict[datetime.date, list[int]] = {}
    for hour in hours:
        day = hour.astimezone(zone).date()
        counts = by_day.setdefault(day, [0, 0])
        counts[0] += sends.get(hour, 0)
        counts[1] += opens.get(hour, 0)
    days = []
    day, end = first.date(), last.date()
    while day <= end:
        start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
        counts = by_day.get(day, [0, 0])
        days.append(Bucket(start, counts[0], counts[1]))
        day += datetime.timedelta(days=1)
    return Series("day", days)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times 10^n at or above ``value`` (a readable axis maximum)."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


SEND_COLOUR = "#1f5fbf"
OPEN_COLOUR = "#d97706"
GRID_COLOUR = "#d8dce3"
TEXT_COLOUR = "#5b6475"


def chart_svg(series: Series, *, width: int = 720, height: int = 260) -> SafeString:
    """The series as an inline SVG: a bar per bucket with sends (``class="sends"``), a
    line with a point per bucket for opens (``class="opens"``).

    Presentation attributes only (``fill=``, ``stroke=``): the CSP forbids inline
    ``style``. Every bar and point has a ``<title>`` (a tooltip and the accessible text).
    Returns '' for an empty series.
    """
    if not series.buckets:
        return SafeString("")
    left, right, top, bottom = 48, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(series.buckets)
    slot = plot_w / n
    bar_w = min(max(slot * 0.7, 1.0), 36.0)  # a few wide buckets would look like a wall
    y_max = _nice_ceiling(series.peak)

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / y_max

    def label(bucket: Bucket, short: bool) -> str:
        if series.unit == "day":
            return bucket.start.strftime("%m/%d")
        return bucket.start.strftime("%H:00" if short else "%m/%d %H:00")

    parts: list[str] = []
    # Grid lines with their values (0, half, max).
    for value in (0, y_max // 2 if y_max >= 2 else None, y_max):
        if value is None:
            continue
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="{}">{}</text>',
                left,
                f"{y(value):.1f}",
                left + plot_w,
                f"{y(value):.1f}",
                GRID_COLOUR,
                left - 6,
                f"{y(value) + 4:.1f}",
                TEXT_COLOUR,
                value,
            )
        )
    # Sends: one bar per bucket that has any.
    for i, bucket in enumerate(series.buckets):
        if not bucket.sends:
            continue
        x = left + i * slot + (slot - bar_w) / 2
        parts.append(
            format_html(
                '<rect class="sends" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{}</title></rect>",
                f"{x:.1f}",
                f"{y(bucket.sends):.1f}",
                f"{bar_w:.1f}",
                f"{top + plot_h - y(bucket.sends):.1f}",
                SEND_COLOUR,
                _("%(when)s: %(n)s sent") % {"when": label(bucket, False), "n": bucket.sends},
            )
        )
    # Opens: a line through every bucket, and a point on each.
    points = [
        (left + i * slot + slot / 2, y(bucket.opens)) for i, bucket in enumerate(series.buckets)
    ]
    parts.append(
        format_html(
            '<polyline class="opens-line" points="{}" fill="none" stroke="{}" stroke-width="2"/>',
            " ".join(f"{px:.1f},{py:.1f}" for px, py in points),
            OPEN_COLOUR,
        )
    )
    for (px, py), bucket in zip(points, series.buckets, strict=True):
        parts.append(
            format_html(
                '<circle class="opens" cx="{}" cy="{}" r="3" fill="{}"><title>{}</title></circle>',
                f"{px:.1f}",
                f"{py:.1f}",
                OPEN_COLOUR,
                _("%(when)s: %(n)s opened") % {"when": label(bucket, False), "n": bucket.opens},
            )
        )
    # Time labels: at most eight, evenly spaced.
    every = max(1, math.ceil(n / 8))
    previous_day = None
    for i in range(0, n, every):
        bucket = series.buckets[i]
        day = bucket.start.date()
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="{}">{}</text>',
                f"{left + i * slot + slot / 2:.1f}",
                top + plot_h + 16,
                TEXT_COLOUR,
                label(bucket, short=day == previous_day),
            )
        )
        previous_day = day
    # Legend.
    parts.append(
        format_html(
            '<rect x="{}" y="8" width="12" height="12" fill="{}"/>'
            '<text x="{}" y="18" font-size="12" fill="{}">{}</text>'
            '<rect x="{}" y="13" width="12" height="3" fill="{}"/>'
            '<text x="{}" y="18" font-size="12" fill="{}">{}</text>',
            left,
            SEND_COLOUR,
            left + 16,
            TEXT_COLOUR,
            _("Sent per hour") if series.unit == "hour" else _("Sent per day"),
            left + 160,
            OPEN_COLOUR,
            left + 176,
            TEXT_COLOUR,
            _("Opened per hour") if series.unit == "hour" else _("Opened per day"),
        )
    )
    title = _("Messages sent and opened over time")
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}" data-testid="chart"><title>{}</title>{}</svg>',
        width,
        height,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - each part built with format_html
    )


# --- CSV export -----------------------------------------------------------------------


CSV_COLUMNS = (
    gettext_lazy("E-mail address"),
    gettext_lazy("Status"),
    gettext_lazy("Sent at"),
    gettext_lazy("Opened"),
    gettext_lazy("Clicked"),
    gettext_lazy("Unsubscribed"),
    gettext_lazy("Bounced"),
)


@dataclass
class ReportExport:
    file: tempfile.SpooledTemporaryFile
    rows: int
    file_name: str
    content_type: str = "text/csv; charset=utf-8"


def export_report_csv(membership: Membership, campaign: Campaign, request=None) -> ReportExport:
    """One row per recipient the member may see: address, status, and when it was sent,
    first opened, first clicked, unsubscribed and bounced (blank if never), in the
    organisation's time zone. UTF-8 with BOM (Excel); every cell neutralised for
    spreadsheets. Needs ``reports.view`` on the campaign and ``contacts.export`` (it
    lists addresses); audited as ``report_exported`` with the row count (watched by the
    large-export alert like every export). The caller checks the fresh
    re-authentication, as for every export of personal data."""
    require_perm(membership, "reports.view", campaign)
    require_perm(membership, "contacts.export")
    zone = _org_zone(campaign.organization)
    labels = dict(DeliveryStatus.choices)

    def when(value):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    rows = _visible_deliveries(membership, _deliveries(campaign)).order_by("address", "pk")
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow([neutralise_cell(str(c)) for c in CSV_COLUMNS])
    count = 0
    for delivery in rows.values_list(
        "address", "status", "sent_at", "opened_at", "clicked_at", "unsubscribed_at", "bounced_at"
    ).iterator(chunk_size=2000):
        address, status, *times = delivery
        cells = [address, str(labels.get(status, status)), *(when(t) for t in times)]
        writer.writerow([neutralise_cell(cell) for cell in cells])
        count += 1
    text.flush()
    text.detach()
    spool.seek(0)
    record(
        Action.REPORT_EXPORTED,
        actor=membership.user,
        organization=membership.organization,
        target=campaign,
        request=request,
        rows=count,
        encoding="utf-8-sig",
        campaign_id=campaign.pk,
    )
    stamp = timezone.localtime(timezone=zone).strftime("%Y%m%d-%H%M")
    return ReportExport(file=spool, rows=count, file_name=f"report-{campaign.pk}-{stamp}.csv")


# --- The organisation's overview ------------------------------------------------------


@dataclass(frozen=True)
class CampaignSummary:
    campaign: Campaign
    sent: int
    opens_unique: int
    clicks_unique: int

    @property
    def open_rate(self):
        return _rate(self.opens_unique, self.sent)

    @property
    def click_rate(self):
        return _rate(self.clicks_unique, self.sent)


@dataclass(frozen=True)
class Overview:
    sends_this_month: int
    monthly_limit: int
    campaigns: list[CampaignSummary]

    @property
    def percent_of_limit(self) -> int:
        if not self.monthly_limit:
            return 100
        return min(100, self.sends_this_month * 100 // self.monthly_limit)


def organization_overview(organization: Organization, last: int = 10) -> Overview:
    """Sends counted against the monthly limit (as the dispatcher counts them) and the
    last ``last`` campaigns that started sending, with their rates. Two queries."""
    from delivery.engine import sends_this_month

    campaigns = (
        Campaign.objects.for_organization(organization)
        .filter(sending_started_at__isnull=False)
        .annotate(
            n_sent=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SENT)),
            n_opened=Count("deliveries", filter=Q(deliveries__opened_at__isnull=False)),
            n_clicked=Count("deliveries", filter=Q(deliveries__clicked_at__isnull=False)),
        )
        .order_by("-sending_started_at", "-pk")[:last]
    )
    return Overview(
        sends_this_month=sends_this_month(organization),
        monthly_limit=organization.monthly_send_limit,
        campaigns=[CampaignSummary(c, c.n_sent, c.n_opened, c.n_clicked) for c in campaigns],
    )


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    detail: str
    url_name: str  # where to do it
    url_args: tuple = ()
    perm: str = ""  # who may do it there (the link is shown only to them)


def onboarding_steps(membership: Membership) -> list[Step]:
    """The checklist for a new organisation, in the order to do it. Reads only (the
    sender profile is not created by looking at it)."""
    organization = membership.organization
    domains = SendingDomain.objects.filter(organization=organization).aggregate(
        added=Count("pk"), verified=Count("pk", filter=Q(status=DomainStatus.VERIFIED))
    )
    relay = (
        SmtpRelay.objects.filter(organization=organization, is_active=True).order_by("pk").first()
    )
    profile = SenderProfile.objects.filter(organization=organization).first()
    footer_done = profile is not None and not profile.missing_footer_fields()
    has_contacts = Contact.objects.for_organization(organization).exists()
    approved = (
        Campaign.objects.for_organization(organization)
        .filter(Q(approved_at__isnull=False) | Q(sending_started_at__isnull=False))
        .exists()
    )
    if relay is None:
        relay_done, relay_detail = True, _("Platform default relay")
    elif relay.last_test_ok:
        relay_done, relay_detail = True, _("%(name)s passed its test.") % {"name": relay.name}
    else:
        relay_done = False
        relay_detail = _("%(name)s is in use but has not passed a test yet.") % {"name": relay.name}
    return [
        Step(
            "domain_added",
            _("Add a sending domain"),
            domains["added"] > 0,
            _("The domain your From addresses use, with its DKIM keys."),
            "sending:domains",
            perm="domains.manage",
        ),
        Step(
            "domain_verified",
            _("Publish its DNS records and verify it"),
            domains["verified"] > 0,
            _("DKIM and DMARC records found in DNS."),
            "sending:domains",
            perm="domains.manage",
        ),
        Step(
            "relay",
            _("Test your SMTP relay, or use the platform's"),
            relay_done,
            relay_detail,
            "sending:relays",
            perm="relays.manage",
        ),
        Step(
            "footer",
            _("Fill in the footer details"),
            footer_done,
            _("Sender name, postal address and a contact for complaints (required by law)."),
            "campaigns:settings",
            perm="org.manage",
        ),
        Step(
            "contacts",
            _("Import contacts"),
            has_contacts,
            _("A CSV file from your current tool or spreadsheet."),
            "contacts:imports",
            perm="contacts.import",
        ),
        Step(
            "campaign",
            _("Get a first campaign approved"),
            approved,
            _("Written by one person, approved by another."),
            "campaigns:list",
            perm="campaigns.view",
        ),
    ]


# --- Hot prospects --------------------------------------------------------------------


@dataclass(frozen=True)
class Prospect:
    contact: Contact
    score: int
    opens: int
    clicks: int
    last_activity: datetime.datetime


def hot_prospects(
    membership: Membership, *, days: int = PROSPECT_DAYS, limit: int = 100, now=None
) -> list[Prospect]:
    """Contacts the member may see, ranked by their opens and clicks of the last ``days``
    days (a click weighs ``PROSPECT_CLICK_WEIGHT``, an open ``PROSPECT_OPEN_WEIGHT``;
    machine events never count), then by latest activity. Two queries."""
    require_perm(membership, "contacts.view")
    now = now or timezone.now()
    visible = visible_contacts(membership)
    events = DeliveryEvent.objects.for_organization(membership.organization_id).filter(
        at__gte=now - datetime.timedelta(days=days),
        is_machine=False,
        kind__in=[EventKind.OPEN, EventKind.CLICK],
        delivery__contact__isnull=False,
    )
    if membership.role != "admin":
        # Admins see every contact: the subquery would only cost time for them.
        events = events.filter(delivery__contact__in=visible.values("pk"))
    rows = list(
        events.values("delivery__contact")
        .annotate(
            opens=Count("pk", filter=Q(kind=EventKind.OPEN)),
            clicks=Count("pk", filter=Q(kind=EventKind.CLICK)),
            last_activity=Max("at"),
        )
        .annotate(score=F("opens") * PROSPECT_OPEN_WEIGHT + F("clicks") * PROSPECT_CLICK_WEIGHT)
        .order_by("-score", "-last_activity", "delivery__contact")[:limit]
    )
    contacts = visible.in_bulk([row["delivery__contact"] for row in rows])
    return [
        Prospect(
            contact=contacts[row["delivery__contact"]],
            score=row["score"],
            opens=row["opens"],
            clicks=row["clicks"],
            last_activity=row["last_activity"],
        )
        for row in rows
        if row["delivery__contact"] in contacts
    ]


def may_export_report(membership: Membership, campaign: Campaign) -> bool:
    return has_perm(membership, "reports.view", campaign) and has_perm(
        membership, "contacts.export"
    )


def format_rate(value: Decimal | None) -> str:
    """``12.5 %`` in the active language's number format, or an en dash for no rate."""
    if value is None:
        return "\u2013"  # an en dash
    return f"{formats.number_format(value, 1)} %"
