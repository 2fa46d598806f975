"""Campaigns API: create, change, preview, status, test send and the approval workflow
(submit, withdraw, approve, reject, cancel, pause, resume). Thin: ``campaigns.services``
decides, exactly as for the pages, so the two-person rule holds through this door too:
a token never approves or rejects its own user's submission (403, audited).

Scopes: reading needs ``read``; creating and changing ``write``; every workflow action
and test sends ``send`` (``write`` alone cannot submit or approve). A workflow action
refused because of the campaign's state (only a draft can be submitted, a sending
campaign cannot be changed, the campaign changed since you reviewed it) is a 409.

Changing a campaign that awaits approval or is approved voids its approvals and returns
it to draft, as on the page; the API asks for ``"void_approvals": true`` in the body to
do that, and answers 409 without it, so an integration cannot undo an approval by
accident.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.access import require_perm
from accounts.api.errors import Conflict, state_conflicts
from accounts.api.fields import OrganizationDateTimeField, id_field, valid
from accounts.api.views import (
    IDEMPOTENCY_HEADER,
    PAGINATION_PARAMETERS,
    ApiView,
    paginate,
    paginated,
)
from campaigns import audience, services
from campaigns.checks import run_checks
from campaigns.enums import AWAITING_APPROVAL_STATES, EDITABLE_STATES, CampaignState, Charset
from campaigns.models import Approval, Campaign, Layout
from campaigns.rendering import SAMPLE_CONTACT, contact_data, render_for_contact
from campaigns.templating import RenderError
from contacts.models import ContactList
from segments.models import Segment

CONTENT_INPUT_FIELDS = (
    "subject",
    "preheader",
    "from_name",
    "from_address",
    "reply_to",
    "html_body",
    "text_body",
)
AUDIENCE_FIELDS = services.AUDIENCE_FIELDS


# --- Serializers ---------------------------------------------------------------------


class CampaignSummarySerializer(serializers.ModelSerializer):
    """A campaign in a list: everything but the fingerprint (computing it reads the
    audience, layout and footer: a few queries per campaign)."""

    layout = serializers.IntegerField(source="layout_id", allow_null=True)
    include_lists = serializers.SerializerMethodField()
    exclude_lists = serializers.SerializerMethodField()
    include_segments = serializers.SerializerMethodField()
    exclude_segments = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = (
            "id",
            "name",
            *CONTENT_INPUT_FIELDS,
            "layout",
            "include_lists",
            "exclude_lists",
            "include_segments",
            "exclude_segments",
            "send_at",
            "charset",
            "state",
            "submitted_at",
            "approved_at",
            "approved_count",
            "undo_until",
            "rejection_comment",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def _ids(self, campaign, name) -> list[int]:
        return sorted(obj.pk for obj in getattr(campaign, name).all())

    def get_include_lists(self, campaign) -> list[int]:
        return self._ids(campaign, "include_lists")

    def get_exclude_lists(self, campaign) -> list[int]:
        return self._ids(campaign, "exclude_lists")

    def get_include_segments(self, campaign) -> list[int]:
        return self._ids(campaign, "include_segments")

    def get_exclude_segments(self, campaign) -> list[int]:
        return self._ids(campaign, "exclude_segments")


class CampaignSerializer(CampaignSummarySerializer):
    """One campaign, with the fingerprint an approval binds to."""

    fingerprint = serializers.SerializerMethodField(
        help_text="The content fingerprint an approval binds to; send it when approving."
    )

    class Meta(CampaignSummarySerializer.Meta):
        fields = (*CampaignSummarySerializer.Meta.fields, "fingerprint")
        read_only_fields = fields

    def get_fingerprint(self, campaign) -> str:
        return services.content_fingerprint(campaign)


def _text(max_length: int, **kwargs):
    return serializers.CharField(
        max_length=max_length, required=False, allow_blank=True, trim_whitespace=False, **kwargs
    )


def _ids(**kwargs):
    return serializers.ListField(child=id_field(), required=False, max_length=200, **kwargs)


class CampaignWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    subject = _text(300)
    preheader = _text(300)
    from_name = _text(200)
    from_address = _text(254)
    reply_to = _text(254)
    html_body = _text(1_000_000)
    text_body = _text(1_000_000)
    layout = id_field(required=False, allow_null=True)
    include_lists = _ids()
    exclude_lists = _ids()
    include_segments = _ids()
    exclude_segments = _ids()
    send_at = OrganizationDateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO 8601; without an offset, the organisation's time zone. Null: as soon "
        "as approved (after the undo window).",
    )
    charset = serializers.ChoiceField(choices=Charset.choices, required=False)
    void_approvals = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required (true) to change a campaign that awaits approval or is approved: "
        "the change voids its approvals and returns it to draft.",
    )


class PreviewQuerySerializer(serializers.Serializer):
    contact = id_field(
        required=False, help_text="A contact of the audience; default: a sample person."
    )


class PreviewSerializer(serializers.Serializer):
    subject = serializers.CharField(allow_null=True)
    html = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_null=True)
    from_name = serializers.CharField(allow_null=True)
    from_address = serializers.CharField(allow_null=True)
    reply_to = serializers.CharField(allow_null=True)
    error = serializers.CharField(help_text="Why it cannot be rendered (empty if it can).")


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    details = serializers.ListField(child=serializers.CharField())


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.EmailField(source="approver.email")
    voided = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = ("approver", "decision", "comment", "created_at", "voided")
        read_only_fields = fields

    def get_voided(self, approval) -> bool:
        return approval.voided_at is not None


class StatusSerializer(serializers.Serializer):
    state = serializers.CharField()
    fingerprint = serializers.CharField()
    recipient_count = serializers.IntegerField(allow_null=True)
    approvals_required = serializers.IntegerField()
    current_approvals = serializers.IntegerField()
    approvals = ApprovalSerializer(many=True)
    may_approve = serializers.BooleanField(help_text="Whether this token's owner may approve.")
    blocking = FindingSerializer(many=True)
    warnings = FindingSerializer(many=True)


class TestSendSerializer(serializers.Serializer):
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=320), min_length=1, max_length=10
    )
    contact = id_field(required=False, allow_null=True)


class TestSendResultSerializer(serializers.Serializer):
    recipient = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)


class DecisionSerializer(serializers.Serializer):
    fingerprint = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        help_text="The fingerprint of the version you reviewed (from the campaign).",
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class RejectSerializer(DecisionSerializer):
    comment = serializers.CharField(max_length=5000, help_text="What needs to change.")


class ApprovalQueueSerializer(serializers.Serializer):
    campaign = CampaignSummarySerializer()
    may_approve = serializers.BooleanField()


# --- Helpers ------------------------------------------------------------------------------


def _campaigns(membership):
    require_perm(membership, "campaigns.view")
    return Campaign.objects.for_organization(membership.organization_id).prefetch_related(
        *AUDIENCE_FIELDS
    )


def _campaign(membership, pk, perm: str = "campaigns.view") -> Campaign:
    return services.get_campaign_for_member(membership, pk, perm)


def _objects(membership, model, ids, name: str) -> list:
    """Objects of the member's organisation for ``ids``; unknown ids are a 400."""
    ids = list(dict.fromkeys(ids))
    found = model.objects.for_organization(membership.organization_id).in_bulk(ids)
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise serializers.ValidationError({name: [f"Unknown ids: {', '.join(map(str, missing))}."]})
    return [found[pk] for pk in ids]


def _input(membership, data: dict, campaign: Campaign | None = None) -> services.CampaignInput:
    def current(name, default=""):
        if name in data:
            return data[name]
        return getattr(campaign, name) if campaign is not None else default

    layout = campaign.layout if campaign is not None else None
    if "layout" in data:
        layout = (
            _objects(membership, Layout, [data["layout"]], "layout")[0]
            if data["layout"] is not None
            else None
        )
    audience_lists = {}
    for name in AUDIENCE_FIELDS:
        model = ContactList if name.endswith("_lists") else Segment
        if name in data:
            audience_lists[name] = _objects(membership, model, data[name], name)
        elif campaign is not None:
            audience_lists[name] = list(getattr(campaign, name).all())
        else:
            audience_lists[name] = []
    return services.CampaignInput(
        name=current("name"),
        **{name: current(name) for name in CONTENT_INPUT_FIELDS},
        layout=layout,
        send_at=current("send_at", None),
        charset=current("charset", Charset.UTF8),
        **audience_lists,
    )


def _campaign_response(campaign: Campaign, status_code=200) -> Response:
    fresh = Campaign.objects.prefetch_related(*AUDIENCE_FIELDS).get(pk=campaign.pk)
    return Response(CampaignSerializer(fresh).data, status=status_code)


def _finding(finding) -> dict:
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "message": str(finding.message),
        "details": list(finding.details),
    }


# --- Campaigns ------------------------------------------------------------------------


class CampaignsView(ApiView):
    @extend_schema(
        operation_id="campaigns_list",
        tags=["campaigns"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(CampaignSummarySerializer),
    )
    def get(self, request):
        return paginate(self, _campaigns(self.membership), CampaignSummarySerializer)

    @extend_schema(
        operation_id="campaigns_create",
        tags=["campaigns"],
        request=CampaignWriteSerializer,
        responses={201: CampaignSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a draft",
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        membership = self.membership
        require_perm(membership, "campaigns.edit")
        data = valid(CampaignWriteSerializer, self.request.data, context={"request": self.request})
        campaign = services.create_campaign(
            membership, _input(membership, data), self.django_request
        )
        return _campaign_response(campaign, status.HTTP_201_CREATED)


class CampaignDetailView(ApiView):
    @extend_schema(operation_id="campaigns_read", tags=["campaigns"], responses=CampaignSerializer)
    def get(self, request, pk):
        return _campaign_response(_campaign(self.membership, pk))

    @extend_schema(
        operation_id="campaigns_update",
        tags=["campaigns"],
        request=CampaignWriteSerializer(partial=True),
        responses=CampaignSerializer,
        summary="Change a campaign before it starts sending",
    )
    def patch(self, request, pk):
        membership = self.membership
        campaign = _campaign(membership, pk, "campaigns.edit")
        data = valid(
            CampaignWriteSerializer, request.data, partial=True, context={"request": request}
        )
        if campaign.state not in EDITABLE_STATES:
            raise Conflict(
                f"A campaign that is {campaign.get_state_display().lower()} cannot be "
                "changed; clone it in the browser instead.",
                code="not_editable",
            )
        if campaign.state != CampaignState.DRAFT and not data.get("void_approvals"):
            raise Conflict(
                f"This campaign is {campaign.get_state_display().lower()}: changing what it "
                "sends voids its approvals and returns it to draft. Send "
                '"void_approvals": true to do that.',
                code="would_void_approvals",
            )
        with state_conflicts():
            campaign = services.update_campaign(
                membership, campaign, _input(membership, data, campaign), self.django_request
            )
        return _campaign_response(campaign)


class CampaignPreviewView(ApiView):
    @extend_schema(
        operation_id="campaigns_preview",
        tags=["campaigns"],
        parameters=[PreviewQuerySerializer],
        responses=PreviewSerializer,
        summary="The message rendered for a contact of the audience (or a sample person)",
    )
    def get(self, request, pk):
        membership = self.membership
        campaign = _campaign(membership, pk)
        query = valid(PreviewQuerySerializer, request.query_params)
        data = dict(SAMPLE_CONTACT)
        if query.get("contact"):
            try:
                contact = audience.recipients(campaign, membership).filter(pk=query["contact"])
                contact = contact.first()
            except ValueError:  # an audience that cannot be built has no such contact
                contact = None
            if contact is None:
                raise Http404
            data = contact_data(contact)
        empty = dict.fromkeys(("subject", "html", "text", "from_name", "from_address", "reply_to"))
        try:
            message = render_for_contact(campaign, data)
        except RenderError as error:
            return Response({**empty, "error": str(error)})
        return Response(
            {
                "subject": message.subject,
                "html": message.html,
                "text": message.text,
                "from_name": message.from_name,
                "from_address": message.from_address,
                "reply_to": message.reply_to,
                "error": "",
            }
        )


class CampaignStatusView(ApiView):
    @extend_schema(
        operation_id="campaigns_status",
        tags=["campaigns"],
        responses=StatusSerializer,
        summary="State, approvals and the pre-send check (without the spam score)",
    )
    def get(self, request, pk):
        membership = self.membership
        campaign = _campaign(membership, pk)
        fingerprint = services.content_fingerprint(campaign)
        report = run_checks(campaign, spam=False)
        approvals = Approval.objects.filter(campaign=campaign).select_related("approver")
        return Response(
            {
                "state": campaign.state,
                "fingerprint": fingerprint,
                "recipient_count": report.recipient_count,
                "approvals_required": campaign.organization.approvals_required,
                "current_approvals": services.current_approvals(campaign, fingerprint).count(),
                "approvals": ApprovalSerializer(approvals, many=True).data,
                "may_approve": services.may_approve(membership, campaign),
                "blocking": [_finding(f) for f in report.blocking],
                "warnings": [_finding(f) for f in report.warnings],
            }
        )


# --- Workflow -------------------------------------------------------------------------


class _ActionView(ApiView):
    write_scope = "send"
    perm = "campaigns.view"

    def act(self, membership, campaign, data):
        raise NotImplementedError

    def post(self, request, pk):
        membership = self.membership
        campaign = _campaign(membership, pk, self.perm)
        data = valid(self.input_serializer, request.data) if self.input_serializer else {}
        with state_conflicts():
            self.act(membership, campaign, data)
        return _campaign_response(campaign)

    input_serializer = None


def _action(name: str, summary: str, input_serializer=None, perm="campaigns.view"):
    def decorate(cls):
        def post(self, request, pk):
            return _ActionView.post(self, request, pk)

        cls.perm = perm
        cls.input_serializer = input_serializer
        cls.post = extend_schema(
            operation_id=f"campaigns_{name}",
            tags=["campaigns"],
            request=input_serializer,
            responses=CampaignSerializer,
            summary=summary,
        )(post)
        return cls

    return decorate


@_action("submit", "Draft -> submitted (needs a clean pre-send check)", perm="campaigns.submit")
class SubmitView(_ActionView):
    def act(self, membership, campaign, data):
        services.submit_campaign(membership, campaign, self.django_request)


@_action("withdraw", "Submitted or held -> draft", perm="campaigns.submit")
class WithdrawView(_ActionView):
    def act(self, membership, campaign, data):
        services.withdraw_campaign(membership, campaign, self.django_request)


@_action(
    "approve",
    "Approve the version you reviewed (never your own submission)",
    DecisionSerializer,
    perm="campaigns.approve",
)
class ApproveView(_ActionView):
    def act(self, membership, campaign, data):
        services.approve_campaign(
            membership,
            campaign,
            comment=data.get("comment", ""),
            expected_fingerprint=data["fingerprint"],
            request=self.django_request,
        )


@_action("reject", "Send it back to draft with a comment", RejectSerializer, "campaigns.approve")
class RejectView(_ActionView):
    def act(self, membership, campaign, data):
        services.reject_campaign(
            membership,
            campaign,
            comment=data["comment"],
            expected_fingerprint=data["fingerprint"],
            request=self.django_request,
        )


@_action("cancel", "Stop the campaign for good (before it has been sent)")
class CancelView(_ActionView):
    def act(self, membership, campaign, data):
        services.cancel_campaign(membership, campaign, self.django_request)


@_action("pause", "Sending -> paused")
class PauseView(_ActionView):
    def act(self, membership, campaign, data):
        services.pause_campaign(membership, campaign, self.django_request)


@_action("resume", "Paused -> sending")
class ResumeView(_ActionView):
    def act(self, membership, campaign, data):
        services.resume_campaign(membership, campaign, self.django_request)


class TestSendView(ApiView):
    write_scope = "send"

    @extend_schema(
        operation_id="campaigns_test_send",
        tags=["campaigns"],
        request=TestSendSerializer,
        responses=TestSendResultSerializer(many=True),
        summary="Send a [TEST] copy to members or the organisation's test addresses",
    )
    def post(self, request, pk):
        membership = self.membership
        campaign = _campaign(membership, pk, "campaigns.test_send")
        data = valid(TestSendSerializer, request.data)
        with state_conflicts():
            results = services.send_test(
                membership,
                campaign,
                data["recipients"],
                contact_id=data.get("contact"),
                request=self.django_request,
            )
        return Response(
            [{"recipient": r.recipient, "ok": r.ok, "message": r.message} for r in results]
        )


class ApprovalQueueView(ApiView):
    @extend_schema(
        operation_id="approvals_list",
        tags=["approvals"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(ApprovalQueueSerializer),
        summary="Campaigns awaiting approval, and whether you may approve each",
    )
    def get(self, request):
        membership = self.membership
        require_perm(membership, "campaigns.approve")
        campaigns = _campaigns(membership).filter(state__in=AWAITING_APPROVAL_STATES)
        paginated = paginate(self, campaigns, CampaignSummarySerializer)
        by_id = {c["id"]: c for c in paginated.data["results"]}
        objects = Campaign.objects.in_bulk(list(by_id))
        paginated.data["results"] = [
            {"campaign": data, "may_approve": services.may_approve(membership, objects[pk])}
            for pk, data in by_id.items()
        ]
        return paginated


urlpatterns = [
    path("campaigns/", CampaignsView.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/", CampaignDetailView.as_view(), name="campaign"),
    path("campaigns/<int:pk>/preview/", CampaignPreviewView.as_view(), name="campaign_preview"),
    path("campaigns/<int:pk>/status/", CampaignStatusView.as_view(), name="campaign_status"),
    path("campaigns/<int:pk>/test-send/", TestSendView.as_view(), name="campaign_test_send"),
    path("campaigns/<int:pk>/submit/", SubmitView.as_view(), name="campaign_submit"),
    path("campaigns/<int:pk>/withdraw/", WithdrawView.as_view(), name="campaign_withdraw"),
    path("campaigns/<int:pk>/approve/", ApproveView.as_view(), name="campaign_approve"),
    path("campaigns/<int:pk>/reject/", RejectView.as_view(), name="campaign_reject"),
    path("campaigns/<int:pk>/cancel/", CancelView.as_view(), name="campaign_cancel"),
    path("campaigns/<int:pk>/pause/", PauseView.as_view(), name="campaign_pause"),
    path("campaigns/<int:pk>/resume/", ResumeView.as_view(), name="campaign_resume"),
    path("approvals/", ApprovalQueueView.as_view(), name="approvals"),
]
