"""Delivery API: sending domains (read, verify) and a campaign's delivery report.

Sending domains are an admin's business on the pages (``domains.manage``) and so here;
verifying looks the DNS records up now (``delivery.services.verify_sending_domain``,
audited when the status changes). The report counts the campaign's ``Delivery`` rows.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.access import require_perm
from accounts.api.views import PAGINATION_PARAMETERS, ApiView, paginate, paginated
from campaigns.services import get_campaign_for_member
from delivery import services
from delivery.enums import DeliveryStatus
from delivery.models import Delivery, SendingDomain


class DnsRecordSerializer(serializers.Serializer):
    kind = serializers.CharField()
    type = serializers.CharField()
    name = serializers.CharField()
    value = serializers.CharField()


class CheckResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField(allow_blank=True)


class SendingDomainSerializer(serializers.ModelSerializer):
    dns_records = serializers.SerializerMethodField()
    checks = serializers.SerializerMethodField()

    class Meta:
        model = SendingDomain
        fields = (
            "id",
            "domain",
            "status",
            "rsa_selector",
            "ed25519_selector",
            "last_checked_at",
            "verified_at",
            "created_at",
            "dns_records",
            "checks",
        )
        read_only_fields = fields

    def get_dns_records(self, domain) -> DnsRecordSerializer(many=True):
        return services.dns_records(domain)

    def get_checks(self, domain) -> CheckResultSerializer(many=True):
        return [
            {
                "kind": str(check.get("kind", "")),
                "name": str(check.get("name", "")),
                "status": str(check.get("status", "")),
                "message": str(check.get("message", "")),
            }
            for check in domain.check_results or []
            if isinstance(check, dict)
        ]


class ReportSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    state = serializers.CharField()
    recipients = serializers.IntegerField(help_text="Deliveries frozen when sending started.")
    by_status = serializers.DictField(child=serializers.IntegerField())
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    bounced = serializers.IntegerField()
    complained = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()


class DomainsView(ApiView):
    @extend_schema(
        operation_id="domains_list",
        tags=["sending domains"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(SendingDomainSerializer),
    )
    def get(self, request):
        require_perm(self.membership, "domains.manage")
        domains = SendingDomain.objects.filter(organization_id=self.membership.organization_id)
        return paginate(self, domains, SendingDomainSerializer)


class DomainDetailView(ApiView):
    @extend_schema(
        operation_id="domains_read", tags=["sending domains"], responses=SendingDomainSerializer
    )
    def get(self, request, pk):
        domain = services.get_domain_for_member(self.membership, pk)
        return Response(SendingDomainSerializer(domain).data)


class DomainVerifyView(ApiView):
    @extend_schema(
        operation_id="domains_verify",
        tags=["sending domains"],
        request=None,
        responses=SendingDomainSerializer,
        summary="Look the DNS records up now and store the outcome",
    )
    def post(self, request, pk):
        domain = services.get_domain_for_member(self.membership, pk)
        domain = services.verify_sending_domain(
            domain, actor=self.membership.user, request=self.django_request
        )
        return Response(SendingDomainSerializer(domain).data)


class CampaignReportView(ApiView):
    @extend_schema(
        operation_id="campaigns_report",
        tags=["campaigns"],
        responses=ReportSerializer,
        summary="How the campaign's messages fared",
    )
    def get(self, request, pk):
        campaign = get_campaign_for_member(self.membership, pk, "reports.view")
        deliveries = Delivery.objects.for_organization(campaign.organization_id).filter(
            campaign=campaign
        )
        by_status = dict.fromkeys(DeliveryStatus.values, 0)
        for row in deliveries.values("status").annotate(n=Count("pk")):
            by_status[row["status"]] = row["n"]
        totals = deliveries.aggregate(
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            bounced=Count("pk", filter=Q(bounced_at__isnull=False)),
            complained=Count("pk", filter=Q(complained_at__isnull=False)),
            unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        )
        return Response(
            {
                "campaign": campaign.pk,
                "state": campaign.state,
                "recipients": sum(by_status.values()),
                "by_status": by_status,
                **totals,
            }
        )


urlpatterns = [
    path("domains/", DomainsView.as_view(), name="domains"),
    path("domains/<int:pk>/", DomainDetailView.as_view(), name="domain"),
    path("domains/<int:pk>/verify/", DomainVerifyView.as_view(), name="domain_verify"),
    path("campaigns/<int:pk>/report/", CampaignReportView.as_view(), name="campaign_report"),
]
