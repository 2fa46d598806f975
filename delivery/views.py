"""Platform pages of the delivery app (platform operators only).

Access rule (``_operator_or_response``): anonymous visitors go to the login page like on
every page; a logged-in person who is not a platform operator gets a 404, so these pages
do not confirm they exist; an operator must have a verified second factor, as for the
Django admin (``OTPAdminSite``).
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe
from django_otp import devices_for_user

from delivery.models import SinkMessage

SINK_PAGE_SIZE = 50


def _operator_or_response(request):
    """``None`` when the request is from a verified platform operator, else a response.

    Raises ``Http404`` for a logged-in non-operator.
    """
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (user.is_active and user.is_staff):
        raise Http404
    if not user.is_verified():
        has_device = any(True for _ in devices_for_user(user, confirmed=True))
        target = "accounts:2fa_verify" if has_device else "accounts:2fa_setup"
        return redirect(f"{reverse(target)}?next={request.path}")
    return None


@require_safe
def sink(request):
    """Messages the development SMTP sink received, newest first, 50 a page."""
    response = _operator_or_response(request)
    if response is not None:
        return response
    paginator = Paginator(SinkMessage.objects.order_by("-received_at", "-id"), SINK_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [(message, message.summary()) for message in page.object_list]
    return render(request, "delivery/sink_list.html", {"page": page, "rows": rows})


@require_safe
def sink_message(request, message_id: int):
    """One received message: envelope, decoded headers, text body and raw source."""
    response = _operator_or_response(request)
    if response is not None:
        return response
    message = get_object_or_404(SinkMessage, pk=message_id)
    context = {
        "message": message,
        "summary": message.summary(),
        "headers": message.headers(),
        "text_body": message.text_body(),
        "raw_text": message.raw_text(),
    }
    return render(request, "delivery/sink_message.html", context)
