"""Segments API: CRUD, recipient count and sample. Thin: ``segments.services`` checks the
rules (``RuleError`` -> 400 on ``rules``), permissions and audits; counts and samples
cover only the contacts the token's owner may see, as on the pages."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.errors import state_conflicts
from accounts.api.fields import no_nul, valid
from accounts.api.views import (
    IDEMPOTENCY_HEADER,
    PAGINATION_PARAMETERS,
    ApiView,
    paginate,
    paginated,
)
from contacts.models import Contact
from segments import services
from segments.models import Segment

MAX_SAMPLE = 100


class SegmentSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField()

    class Meta:
        model = Segment
        fields = ("id", "name", "description", "rules", "created_at", "updated_at")
        read_only_fields = fields


class SegmentWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    rules = serializers.JSONField(
        validators=[no_nul],
        help_text='A rule tree: {"match": "all"|"any", "rules": [conditions or groups]} '
        "(docs/segments.md).",
    )


class ContactSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ("id", "email", "last_name", "first_name", "company")
        read_only_fields = fields


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        allow_null=True, help_text="Recipients you can see; null when it cannot be counted."
    )
    message = serializers.CharField(help_text="Why there is no count (empty otherwise).")
    errors = serializers.ListField(child=serializers.CharField())


class SampleSerializer(CountSerializer):
    contacts = ContactSummarySerializer(many=True)


class SampleQuerySerializer(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=MAX_SAMPLE, required=False, default=10)


def _preview_data(preview, with_sample: bool) -> dict:
    data = {
        "count": preview.count,
        "message": preview.message or "",
        "errors": [str(error) for error in preview.errors],
    }
    if with_sample:
        data["contacts"] = ContactSummarySerializer(preview.sample, many=True).data
    return data


class SegmentsView(ApiView):
    @extend_schema(
        operation_id="segments_list",
        tags=["segments"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(SegmentSerializer),
    )
    def get(self, request):
        return paginate(self, services.segments_for_member(self.membership), SegmentSerializer)

    @extend_schema(
        operation_id="segments_create",
        tags=["segments"],
        request=SegmentWriteSerializer,
        responses={201: SegmentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        data = valid(SegmentWriteSerializer, self.request.data)
        segment = services.create_segment(
            self.membership,
            name=data["name"],
            description=data.get("description", ""),
            rules=data["rules"],
            request=self.django_request,
        )
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(ApiView):
    @extend_schema(operation_id="segments_read", tags=["segments"], responses=SegmentSerializer)
    def get(self, request, pk):
        return Response(
            SegmentSerializer(services.get_segment_for_member(self.membership, pk)).data
        )

    @extend_schema(
        operation_id="segments_update",
        tags=["segments"],
        request=SegmentWriteSerializer(partial=True),
        responses=SegmentSerializer,
        summary="Change a segment (campaigns approved over it lose their approval)",
    )
    def patch(self, request, pk):
        segment = services.get_segment_for_member(self.membership, pk)
        data = valid(SegmentWriteSerializer, request.data, partial=True)
        segment = services.update_segment(
            self.membership,
            segment,
            name=data.get("name", segment.name),
            description=data.get("description", segment.description),
            rules=data.get("rules", segment.rules),
            request=self.django_request,
        )
        return Response(SegmentSerializer(segment).data)

    @extend_schema(
        operation_id="segments_delete",
        tags=["segments"],
        responses={204: None},
        summary="Delete a segment (409 while a campaign uses it)",
    )
    def delete(self, request, pk):
        segment = services.get_segment_for_member(self.membership, pk)
        with state_conflicts():
            services.delete_segment(self.membership, segment, request=self.django_request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentCountView(ApiView):
    @extend_schema(
        operation_id="segments_count",
        tags=["segments"],
        responses=CountSerializer,
        summary="How many sendable contacts (that you can see) the segment matches",
    )
    def get(self, request, pk):
        segment = services.get_segment_for_member(self.membership, pk)
        preview = services.segment_preview(self.membership, segment, n=0)
        return Response(_preview_data(preview, with_sample=False))


class SegmentSampleView(ApiView):
    @extend_schema(
        operation_id="segments_sample",
        tags=["segments"],
        parameters=[SampleQuerySerializer],
        responses=SampleSerializer,
        summary="The count and up to n of the segment's contacts, newest first",
    )
    def get(self, request, pk):
        query = valid(SampleQuerySerializer, request.query_params)
        segment = services.get_segment_for_member(self.membership, pk)
        preview = services.segment_preview(self.membership, segment, n=query["n"])
        return Response(_preview_data(preview, with_sample=True))


urlpatterns = [
    path("segments/", SegmentsView.as_view(), name="segments"),
    path("segments/<int:pk>/", SegmentDetailView.as_view(), name="segment"),
    path("segments/<int:pk>/count/", SegmentCountView.as_view(), name="segment_count"),
    path("segments/<int:pk>/sample/", SegmentSampleView.as_view(), name="segment_sample"),
]
