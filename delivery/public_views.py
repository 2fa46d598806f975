from __future__ import annotations

import base64

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from delivery import public, tracking

# A transparent 1x1 GIF.
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
def open_pixel(request, token):
    delivery = public.find_delivery(token)
    if delivery is not None:
        public.record_open(delivery, request)
    # Always the pixel: an unknown token reveals nothing and breaks no image.
    return HttpResponse(_PIXEL, content_type="image/gif")


@never_cache
def click(request, token, encoded_url, signature):
    url = tracking.verify_click(token, encoded_url, signature)
    delivery = public.find_delivery(token) if url else None
    if delivery is None:
        raise Http404("Unknown link")
    public.record_click(delivery, url, request)
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058: mailbox providers POST with no cookies and no CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """The preference page. GET shows it and changes nothing (link scanners follow GETs):
    the lists the contact may leave, and the button that stops all mail.

    POST with ``action=lists`` leaves the ticked lists (a refused choice is a 400 page
    with the reason, nothing changed); any other POST unsubscribes the whole address:
    the RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) answers 200 with no
    redirect, the page's own button shows the result page."""
    delivery = public.find_delivery(token)
    if delivery is None:
        raise Http404("Unknown link")
    context = {"delivery": delivery, "organization": delivery.campaign.organization}
    status = 200
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        if not one_click and request.POST.get("action") == "lists":
            try:
                context["left"] = public.leave_lists(
                    delivery, request.POST.getlist("list"), request
                )
            except public.PreferenceError as error:
                context["error"] = str(error)
                status = 400
        else:
            public.unsubscribe(delivery, request, one_click=one_click)
            if one_click:
                return HttpResponse("unsubscribed\n", content_type="text/plain")
            return render(request, "delivery/unsubscribed.html", context)
    context["lists"] = public.preference_lists(delivery)
    return render(request, "delivery/unsubscribe_confirm.html", context, status=status)
