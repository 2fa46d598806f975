"""``/platform/sink/``: platform operators read what the development sink received."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from delivery.models import SinkMessage
from tests.factories import login_verified, make_user

LIST_URL = "/platform/sink/"


def _raw(subject: str, *, sender="a@example.com", to="b@example.com", body="Hello") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _message(raw: bytes, *, minutes_ago: int = 0, **fields) -> SinkMessage:
    fields.setdefault("mail_from", "bounce@example.com")
    fields.setdefault("rcpt_tos", ["b@example.com"])
    return SinkMessage.objects.create(
        raw=raw,
        received_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        tls=True,
        tls_version="TLSv1.3",
        tls_cipher="TLS_AES_256_GCM_SHA384",
        peer="127.0.0.1:50000",
        **fields,
    )


@pytest.fixture
def operator(db):
    return make_user("operator@platform.example", is_staff=True)


@pytest.fixture
def operator_client(operator):
    client = Client()
    login_verified(client, operator)
    return client


@pytest.fixture
def message(db):
    return _message(_raw("Welcome"))


# --- access -----------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, message):
    list_response = client.get(LIST_URL)
    detail_response = client.get(f"{LIST_URL}{message.pk}/")

    assert list_response.status_code == 302
    assert list_response["Location"] == "/login/?next=/platform/sink/"
    assert detail_response.status_code == 302
    assert detail_response["Location"] == f"/login/?next=/platform/sink/{message.pk}/"


@pytest.mark.parametrize("persona", ["admin_client", "outsider_client", "viewer_client"])
def test_members_who_are_not_operators_get_404(request, persona, message):
    client = request.getfixturevalue(persona)

    assert client.get(LIST_URL).status_code == 404
    assert client.get(f"{LIST_URL}{message.pk}/").status_code == 404


def test_an_operator_without_a_verified_second_factor_is_sent_to_2fa_setup(operator, message):
    client = Client()
    client.force_login(operator)

    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/setup/?next=/platform/sink/"


def test_it_is_read_only(operator_client, message):
    assert operator_client.post(LIST_URL).status_code == 405
    assert operator_client.post(f"{LIST_URL}{message.pk}/").status_code == 405


# --- list ---------------------------------------------------------------------------


def test_list_shows_newest_first_with_decoded_headers(operator_client):
    _message(_raw("Older"), minutes_ago=10)
    _message(_raw("=?utf-8?b?44GK55+l44KJ44Gb?=", sender="=?utf-8?b?5aSq6YOO?= <t@example.com>"))

    response = operator_client.get(LIST_URL)

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [summary for _message, summary in rows] == [
        {"subject": "お知らせ", "from": "太郎 <t@example.com>", "to": "b@example.com"},
        {"subject": "Older", "from": "a@example.com", "to": "b@example.com"},
    ]
    assert "お知らせ" in response.content.decode()


def test_list_escapes_what_the_message_says(operator_client):
    _message(_raw("<script>alert(1)</script>", sender='"<img src=x>" <x@example.com>'))

    body = operator_client.get(LIST_URL).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x>" not in body


def test_list_pages_by_fifty_and_survives_a_bad_page_number(operator_client):
    for n in range(51):
        _message(_raw(f"Message {n}"), minutes_ago=100 - n)

    first = operator_client.get(LIST_URL)
    second = operator_client.get(LIST_URL, {"page": "2"})
    garbage = operator_client.get(LIST_URL, {"page": "abc"})

    assert [s["subject"] for _m, s in first.context["rows"]][:2] == ["Message 50", "Message 49"]
    assert len(first.context["rows"]) == 50
    assert [s["subject"] for _m, s in second.context["rows"]] == ["Message 0"]
    assert "Page 1 of 2" in first.content.decode()
    assert garbage.status_code == 200
    assert garbage.context["page"].number == 1


def test_list_query_count_does_not_grow_with_messages(operator_client, django_assert_num_queries):
    for n in range(20):
        _message(_raw(f"Message {n}"))
    operator_client.get(LIST_URL)  # the first request also records session activity

    # session, user, OTP device, navigation's memberships, count, one page of messages
    with django_assert_num_queries(6):
        operator_client.get(LIST_URL)
    for n in range(20):
        _message(_raw(f"More {n}"))
    with django_assert_num_queries(6):
        operator_client.get(LIST_URL)


# --- one message ------------------------------------------------------------------------


def test_detail_shows_envelope_headers_text_and_raw_source(operator_client, message):
    response = operator_client.get(f"{LIST_URL}{message.pk}/")

    assert response.status_code == 200
    assert response.context["headers"] == [
        ("From", "a@example.com"),
        ("To", "b@example.com"),
        ("Subject", "Welcome"),
        # structured headers come back normalised by the email package
        ("Content-Type", 'text/plain; charset="utf-8"'),
    ]
    assert response.context["text_body"] == "Hello\r\n"
    assert response.context["raw_text"] == _raw("Welcome").decode()
    body = response.content.decode()
    assert "TLSv1.3 TLS_AES_256_GCM_SHA384" in body
    assert "bounce@example.com" in body


def test_detail_of_a_missing_message_is_404(operator_client):
    assert operator_client.get(f"{LIST_URL}999999/").status_code == 404


def test_malformed_messages_render_without_error(operator_client):
    broken = [
        b"",
        b"\xff\xfe\x00garbage without headers",
        b'Subject: =?utf-8?q?unterminated\r\nTo: <<<@@@>>>, "unclosed\r\n\r\nbody',
        b"Subject: \xe6\x97\xa5\xe6\x9c\xac raw 8-bit\r\nContent-Type: multipart/mixed\r\n\r\nx",
        b"From: =?x-unknown?b?////?=\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
    ]
    messages = [_message(raw) for raw in broken]

    list_response = operator_client.get(LIST_URL)
    detail_statuses = [operator_client.get(f"{LIST_URL}{m.pk}/").status_code for m in messages]

    assert list_response.status_code == 200
    assert detail_statuses == [200, 200, 200, 200, 200]


def test_admin_lists_sink_messages_read_only(operator_client, operator, message):
    operator.is_superuser = True
    operator.save()

    listing = operator_client.get("/admin/delivery/sinkmessage/")
    change = operator_client.get(f"/admin/delivery/sinkmessage/{message.pk}/change/")
    add = operator_client.get("/admin/delivery/sinkmessage/add/")
    delete = operator_client.post(f"/admin/delivery/sinkmessage/{message.pk}/delete/")

    assert listing.status_code == 200
    assert "Welcome" in listing.content.decode()
    assert change.status_code == 200
    assert "Save" not in change.content.decode()
    assert (add.status_code, delete.status_code) == (403, 403)
    assert SinkMessage.objects.count() == 1
