from __future__ import annotations

import datetime
import zoneinfo

import pytest

from contacts.enums import ConsentMethod, ContactStatus, FieldType
from segments.services import catalogue_for
from tests.segments.factories import make_contact, make_field, make_list, make_tag

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
TODAY = datetime.date(2025, 6, 15)


def tokyo(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=TOKYO)


@pytest.fixture
def people(org_a):
    """Four contacts of organisation A with a bit of everything (see test_operators.py),
    plus custom fields, tags and lists; rules are read on ``TODAY`` in Tokyo."""
    make_field(org_a, "nickname", FieldType.TEXT)
    make_field(org_a, "score", FieldType.NUMBER)
    make_field(org_a, "renewal", FieldType.DATE)
    make_field(org_a, "vip", FieldType.BOOLEAN, label="VIP")
    make_field(org_a, "plan", FieldType.CHOICE, choices=["gold", "silver", "platinum"])
    vip, fair = make_tag(org_a, "VIP"), make_tag(org_a, "展示会")
    make_tag(org_a, "newsletter")
    customers, prospects = make_list(org_a, "Customers"), make_list(org_a, "Prospects")
    contacts = {
        "taro": make_contact(
            org_a,
            "taro@docomo.ne.jp",
            last_name="山田",
            first_name="太郎",
            company="株式会社たより",
            created_at=tokyo(2025, 6, 15, 10, 0),
            attributes={
                "nickname": "Taro-chan",
                "score": 80,
                "renewal": "2025-06-10",
                "vip": True,
                "plan": "gold",
            },
            tags=[vip],
            lists=[customers],
        ),
        "hanako": make_contact(
            org_a,
            "hanako@ezweb.ne.jp",
            last_name="Suzuki",
            status=ContactStatus.UNSUBSCRIBED,
            consent_method=ConsentMethod.IMPORT,
            # 30 April in UTC, 1 May in Tokyo: dates are the organisation's.
            created_at=tokyo(2025, 5, 1, 0, 30),
            attributes={"score": 5.5, "renewal": "2024-12-31", "vip": False, "plan": "silver"},
            tags=[vip, fair],
            lists=[customers, prospects],
        ),
        "info": make_contact(
            org_a,
            "info@example.co.jp",
            company="Example Inc.",
            status=ContactStatus.BOUNCED,
            consent_method=ConsentMethod.API,
            created_at=tokyo(2024, 1, 1, 12, 0),
            # Values of the wrong type, as left over from a deleted field: "no value".
            attributes={
                "nickname": "",
                "score": "80",
                "renewal": "someday",
                "vip": "yes",
                "plan": 3,
            },
        ),
        "sales": make_contact(
            org_a,
            "sales@mail.example.jp",
            last_name="yamada",
            company="たより商事",
            consent_method=ConsentMethod.BUSINESS_RELATIONSHIP,
            created_at=tokyo(2025, 6, 14, 23, 59),
            tags=[fair],
            lists=[prospects],
        ),
    }
    return {
        "contacts": contacts,
        "tags": {"vip": vip, "fair": fair},
        "lists": {"customers": customers, "prospects": prospects},
        "catalogue": catalogue_for(org_a, today=TODAY),
    }
