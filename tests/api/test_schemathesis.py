"""schemathesis against the live OpenAPI schema, through the WSGI application.

Every operation is called with a token holding every scope (an admin's), with inputs
generated from the schema: valid ones (positive) and invalid ones (negative). Every
answer must be a non-5xx with a documented status code, content type, headers and body
schema. Half of the generated ids are swapped for real objects of the organisation, so
the happy paths run too (not only 404s). Example counts are bounded (``MAX_EXAMPLES``)
so the whole run stays around a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns import hooks
from config.wsgi import application
from contacts.models import CustomField
from segments.models import Segment
from tests.api.conftest import make_token
from tests.campaigns.conftest import FOOTER, make_campaign, make_contact, make_list, verified

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The first segment of the path after /api/v1/ -> the kind of object its {id} names.
KINDS = {
    "contacts": "contact",
    "lists": "list",
    "fields": "field",
    "segments": "segment",
    "campaigns": "campaign",
    "domains": "domain",
}


@pytest.fixture
def _keep_the_test_connection():
    # Django closes connections at the end of each WSGI request; inside the test's
    # transaction that would close it under the test. Its test client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded when the module is collected: generating the schema needs no database.
# (``schemathesis.pytest.from_fixture`` would defer it, but does not run on pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    with_security_parameters=False,
    deterministic=True,
    database="none",
)
# Fuzzing within MAX_EXAMPLES per operation. The coverage phase (every boundary case the
# schema defines, unbounded by max_examples) would take several minutes.
schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture
def world(admin, marketer, org_a, settings, _keep_the_test_connection):
    """Real objects of organisation A, and an admin's token with every scope."""
    from campaigns.models import SenderProfile
    from delivery.models import SendingDomain

    settings.API_RATE_LIMITS = {"read": "100000/min", "write": "100000/min"}
    # Verifying a domain asks DNS: a resolver that answers nothing, at once.
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]
    settings.DNS_TIMEOUT = 0.05
    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    customers = make_list(org_a, "Customers")
    contact = make_contact(org_a, "yamada@example.jp", customers, last_name="山田")
    objects = {
        "contact": contact,
        "list": customers,
        "field": CustomField.objects.create(
            organization=org_a, key="plan", label="Plan", field_type="text"
        ),
        "segment": Segment.objects.create(
            organization=org_a, name="All", rules={"match": "all", "rules": []}
        ),
        "campaign": make_campaign(marketer, customers),
        "domain": SendingDomain.objects.create(
            organization=org_a,
            domain="shop.example",
            rsa_selector="s1",
            rsa_private_key="x",
            rsa_public_key="y",
        ),
    }
    _token, secret = make_token(admin)
    with hooks.registered(domain_checker=verified):
        yield {"objects": objects, "secret": secret}


@schema.parametrize()
# One set of objects per operation, shared by its examples on purpose.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_within_its_schema(case, world):
    parameters = case.path_parameters or {}
    if "id" in parameters and isinstance(parameters["id"], int) and parameters["id"] % 2:
        kind = KINDS[case.path.removeprefix("/api/v1/").split("/", 1)[0]]
        parameters["id"] = world["objects"][kind].pk
    case.call_and_validate(
        headers={"Authorization": f"Bearer {world['secret']}"},
        checks=CHECKS,
    )
