"""The API's browsable documentation: Swagger UI from drf-spectacular-sidecar, served by
the app itself (no CDN) and within the site's CSP (``script-src 'self'``, no inline
style): the page holds no inline code, and the initialiser is a separate same-origin
script (drf-spectacular's split view, ``?script``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }}</title>
  <link rel="icon" href="{{ favicon_href }}">
  <link rel="stylesheet" href="{{ swagger_ui_css }}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ swagger_ui_bundle }}"></script>
  <script src="{{ swagger_ui_standalone }}"></script>
  <script src="{{ script_url }}"></script>
</body>
</html>
"""


class ApiDocsView(SpectacularSwaggerSplitView):
    title = "Tayori API"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if request.GET.get("script") is not None:
            return response
        template = engines["django"].from_string(_PAGE)
        return HttpResponse(template.render(response.data), content_type="text/html")
