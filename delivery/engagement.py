"""Engagement conditions for segments (received, opened, clicked, never opened),
compiled over ``Delivery`` rows. Registered into ``segments.engagement`` by
``delivery.apps`` (segments sits below delivery and cannot query it itself).

Opens and clicks count only people: machine opens (scanners, prefetching proxies) never
set ``opened_at`` (see ``delivery.public``).
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from delivery.enums import DeliveryStatus
from delivery.models import Delivery

_TIME_FIELD = {"received": "sent_at", "opened": "opened_at", "clicked": "clicked_at"}


class DeliveryEngagement:
    def campaign_choices(self, organization) -> list[tuple[int, str]]:
        return list(
            Campaign.objects.filter(organization=organization, sending_started_at__isnull=False)
            .order_by("-sending_started_at")
            .values_list("pk", "name")[:200]
        )

    def _since(self, organization, condition) -> datetime.datetime | None:
        if condition.within_days is None:
            return None
        start = condition.today - datetime.timedelta(days=condition.within_days)
        return datetime.datetime.combine(
            start, datetime.time.min, tzinfo=zoneinfo.ZoneInfo(organization.time_zone)
        )

    def _deliveries(self, organization, condition, action: str):
        rows = Delivery.objects.filter(
            organization=organization, contact=OuterRef("pk"), status=DeliveryStatus.SENT
        )
        if condition.campaign_id is not None:
            if not Campaign.objects.filter(
                organization=organization, pk=condition.campaign_id
            ).exists():
                raise ValueError(
                    _("campaign %(id)s is not one of this organisation's campaigns.")
                    % {"id": condition.campaign_id}
                )
            rows = rows.filter(campaign_id=condition.campaign_id)
        field = _TIME_FIELD[action]
        rows = rows.filter(**{f"{field}__isnull": False})
        since = self._since(organization, condition)
        if since is not None:
            rows = rows.filter(**{f"{field}__gte": since})
        return rows

    def compile(self, organization, condition) -> Q:
        if condition.action == "never_opened":
            received = self._deliveries(organization, condition, "received")
            opened = self._deliveries(organization, condition, "opened")
            return Q(Exists(received)) & ~Q(Exists(opened))
        if condition.action not in _TIME_FIELD:
            raise ValueError(_("unknown engagement condition %(op)s.") % {"op": condition.action})
        return Q(Exists(self._deliveries(organization, condition, condition.action)))
