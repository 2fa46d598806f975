from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse


@staff_member_required
def sink(request):
    return HttpResponse("sink")
