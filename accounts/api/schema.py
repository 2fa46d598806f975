"""The OpenAPI schema's shared parts (drf-spectacular): the bearer security scheme, the
error shape on every operation, and path ids bounded like the database's."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "Machine-readable reason."},
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "400 only: messages per input field (non_field_errors for the rest).",
        },
    },
    "required": ["code", "detail"],
}
_ERRORS = {
    "400": "Invalid input: `fields` has a message per field.",
    "401": "No token, or a malformed, unknown, revoked or expired one.",
    "403": "The token lacks the scope, or its owner's role lacks the permission.",
    "404": "Not found (objects of other organisations are never visible).",
    "429": "Rate limit of this token reached; retry after `Retry-After` seconds.",
}
_WRITE_ERRORS = {
    "409": "The object's state does not allow this (e.g. a campaign that is sending).",
    "422": "The Idempotency-Key was already used with a different request.",
}
_BIGINT_MAX = 2**63 - 1


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tyr_<prefix>_<secret>",
            "description": "An API token made on the organisation's API tokens page.",
        }


def _error_response(description: str, code: str) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if code == "429":
        response["headers"] = {
            "Retry-After": {
                "schema": {"type": "integer"},
                "description": "Seconds until the token may call again.",
            }
        }
    return response


def postprocess(result, generator, request, public):
    """Add the ``Error`` component and error responses to every operation; bound
    integer path parameters to the ids the database can hold."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(_ERRORS)
            if method in {"post", "put", "patch", "delete"}:
                errors.update(_WRITE_ERRORS)
            for code, description in errors.items():
                operation["responses"].setdefault(code, _error_response(description, code))
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    schema.setdefault("minimum", 1)
                    schema.setdefault("maximum", _BIGINT_MAX)
    return result
