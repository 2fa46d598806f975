"""The REST API's shared parts: token authentication, scopes, rate limits, errors,
idempotency, pagination and the OpenAPI schema. Each app's endpoints live in its own
``api.py`` (``contacts.api``, ``segments.api``, ``campaigns.api``, ``delivery.api``);
``config.urls`` mounts them under ``/api/v1/``. See ``docs/api.md``.
"""
