"""Personalisation: the sandbox refuses template injection at save, renders contact data
literally, and keeps line breaks out of headers at render time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns import services
from campaigns.rendering import (
    HeaderInjectionError,
    UnencodableError,
    render_for_contact,
)
from campaigns.templating import RenderError, check_template, plain_data, render
from contacts.models import CustomField
from tests.campaigns.conftest import campaign_input, make_campaign

pytestmark = pytest.mark.django_db

INTERNALS = "templates cannot reach Python internals (names starting with “_”)."

# (payload, the first problem reported)
INJECTIONS = [
    ("{{ ''.__class__ }}", f"Line 1: {INTERNALS}"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", f"Line 1: {INTERNALS}"),
    ("{{ cycler.__init__.__globals__ }}", f"Line 1: {INTERNALS}"),
    ("{{ contact['__class__'] }}", f"Line 1: {INTERNALS}"),
    ("{{ contact | attr('__class__') }}", "Line 1: the filter “attr” is not available."),
    ("{{ lipsum.__globals__['os'] }}", f"Line 1: {INTERNALS}"),
    ("{{ self._TemplateReference__context }}", f"Line 1: {INTERNALS}"),
    (
        "{{ range(10) }}",
        "Line 1: calling functions or methods is not available in personalisation.",
    ),
    (
        "{{ contact.email.format() }}",
        "Line 1: calling functions or methods is not available in personalisation.",
    ),
    ("{{ config }}", "Line 1: unknown name “config”."),
    ("{{ request }}", "Line 1: unknown name “request”."),
    ("{% include '/etc/passwd' %}", "Line 1: “include” is not available in personalisation."),
    ("{% import 'x' as y %}", "Line 1: “import” is not available in personalisation."),
    ("{% extends 'base.html' %}", "Line 1: “extends” is not available in personalisation."),
    ("{% macro m() %}{% endmacro %}", "Line 1: “macro” is not available in personalisation."),
    ("{{ contact.last_name | safe }}", "Line 1: the filter “safe” is not available."),
]


@pytest.mark.parametrize(("payload", "problem"), INJECTIONS)
def test_template_injection_is_refused_at_save(payload, problem):
    problems = check_template(f"<p>Hello</p>{payload}", html=True)

    assert problem in [str(p) for p in problems]


@pytest.mark.parametrize(("payload", "problem"), INJECTIONS[:4])
def test_the_service_refuses_injection_in_every_template_field(marketer, profile, payload, problem):
    for field in ("subject", "preheader", "html_body", "text_body"):
        with pytest.raises(ValidationError) as error:
            make_campaign(marketer, **{field: payload})

        assert problem in error.value.message_dict[field]


def test_errors_carry_the_line_they_are_on():
    source = "<p>{{ contact.last_name }} 様</p>\n<p>ok</p>\n<p>{{ contact.email }</p>\n<p></p>"

    (problem,) = check_template(source, html=True)

    assert problem.line == 3
    assert str(problem) == "Line 3: unexpected '}'"


def test_unknown_fields_are_typos_reported_at_save(org_a):
    CustomField.objects.create(organization=org_a, key="plan", label="Plan", field_type="text")
    from campaigns.validation import vocabulary_for

    vocabulary = vocabulary_for(org_a.pk)
    source = "{{ contact.nmae }}\n{{ contact.attributes.plan }}\n{{ contact.attributes.pln }}"

    problems = [str(p) for p in check_template(source, html=True, vocabulary=vocabulary)]

    assert problems == [
        "Line 1: contacts have no field “nmae”.",
        "Line 3: there is no custom field “pln”.",
    ]


def test_the_documented_examples_are_accepted():
    source = (
        "{{ contact.last_name }} 様\n"
        '{{ contact.attributes.plan | default("-") }}\n'
        "{% for item in contact.attributes.items %}{{ loop.index }}. {{ item }}{% endfor %}\n"
        "{% set name = contact.first_name | trim %}{{ name | upper }}\n"
        "{% if contact.company %}{{ contact.company }}{% endif %}\n"
        '<a href="{{ unsubscribe_url }}">配信停止</a>{{ footer }}{{ sender.name }}'
    )

    assert check_template(source, html=True) == []


def test_contact_data_is_rendered_literally():
    contact = plain_data({"last_name": "{{ 7*7 }}", "first_name": "{% raw %}", "attributes": {}})

    text = render(
        "{{ contact.last_name }} {{ contact.first_name }}様", {"contact": contact}, html=False
    )

    assert text == "{{ 7*7 }} {% raw %}様"


def test_contact_data_is_escaped_in_html():
    contact = plain_data({"last_name": '<script>alert(1)</script>"', "attributes": {}})

    html = render("<p>{{ contact.last_name }}</p>", {"contact": contact}, html=True)

    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;&#34;</p>"


def test_a_contact_called_seven_times_seven_is_greeted_as_such(campaign):
    contact = {
        "email": "x@example.jp",
        "last_name": "{{ 7*7 }}",
        "first_name": "",
        "attributes": {},
    }

    message = render_for_contact(campaign, contact)

    assert message.subject == "{{ 7*7 }}様 春のセールのお知らせ"
    assert "<p>{{ 7*7 }}  様</p>" in message.html
    assert "49" not in message.subject


def test_only_plain_data_reaches_templates():
    class Sneaky:
        pass

    with pytest.raises(TypeError):
        plain_data({"attributes": {"x": Sneaky()}})


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 1000000 }}",
        "{{ [1] * 1000000 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_the_sandbox_refuses_huge_results_at_render(source):
    with pytest.raises(RenderError) as error:
        render(source, {}, html=False)

    assert str(error.value).startswith("refused by the sandbox")


def test_the_sandbox_refuses_internals_even_if_saved_by_another_door():
    # Static checks are the first line; the sandbox still refuses at render time.
    with pytest.raises(RenderError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, html=False)


# --- Header values ----------------------------------------------------------------------

BREAKS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00"]


@pytest.mark.parametrize("field", ["subject", "preheader", "from_name", "reply_to", "from_address"])
@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\u2028"])
def test_a_line_break_in_a_header_value_is_refused_at_save(marketer, profile, field, brk):
    value = f"news@shop.example{brk}Bcc: everyone@example.com"

    with pytest.raises(ValidationError) as error:
        make_campaign(marketer, **{field: value})

    assert error.value.message_dict[field] == [
        "Line breaks are not allowed here: they could add mail headers."
    ]


@pytest.mark.parametrize("brk", BREAKS)
def test_a_line_break_reaching_the_subject_through_contact_data_is_refused_at_render(campaign, brk):
    contact = {
        "email": "x@example.jp",
        "last_name": f"山田{brk}Bcc: all@example.com",
        "attributes": {},
    }

    with pytest.raises(HeaderInjectionError) as error:
        render_for_contact(campaign, contact)

    assert str(error.value) == (
        "The subject contains a line break, which could inject mail headers."
    )


@pytest.mark.parametrize("field", ["from_name", "reply_to", "from_address"])
def test_a_line_break_saved_by_another_door_is_refused_at_render(campaign, field):
    setattr(campaign, field, "x\r\nBcc: all@example.com")

    with pytest.raises(HeaderInjectionError):
        render_for_contact(campaign, {"email": "x@example.jp", "attributes": {}})


def test_the_form_shows_header_errors(marketer, profile):
    from campaigns.forms import CampaignForm

    form = CampaignForm(
        {"name": "x", "subject": "Hello\r\nBcc: a@b.c", "charset": "utf-8"},
        membership=marketer,
    )

    assert not form.is_valid()
    assert form.errors["subject"] == [
        "Line breaks are not allowed here: they could add mail headers."
    ]


# --- ISO-2022-JP ------------------------------------------------------------------------


def test_iso_2022_jp_is_refused_with_every_character_it_cannot_carry(marketer, profile):
    body = "<p>①のご案内 ㈱たより 髙橋様 ｶﾀｶﾅ 🎉</p>{{ footer }}"

    with pytest.raises(ValidationError) as error:
        make_campaign(marketer, html_body=body, charset="iso-2022-jp")

    (message,) = error.value.message_dict["charset"]
    assert message.startswith(
        "ISO-2022-JP cannot carry these characters: ① (U+2460), ㈱ (U+3231), 髙 (U+9AD9), "
        "ｶ (U+FF76), ﾀ (U+FF80), ﾅ (U+FF85), 🎉 (U+1F389)."
    )


def test_iso_2022_jp_accepts_plain_japanese(marketer, profile):
    campaign = make_campaign(marketer, charset="iso-2022-jp")

    message = render_for_contact(
        campaign, {"last_name": "山田", "first_name": "太郎", "attributes": {}}
    )

    assert message.charset == "iso-2022-jp"
    message.html.encode("iso2022_jp")
    message.subject.encode("iso2022_jp")


def test_iso_2022_jp_refuses_a_recipient_whose_name_it_cannot_carry(marketer, profile):
    campaign = make_campaign(marketer, charset="iso-2022-jp")

    with pytest.raises(UnencodableError) as error:
        render_for_contact(campaign, {"last_name": "髙橋", "attributes": {}})

    assert error.value.characters == ["髙"]


def test_the_footer_is_checked_for_iso_2022_jp_too(marketer, profile):
    profile.postal_address = "東京都千代田区①"
    profile.save()

    with pytest.raises(ValidationError) as error:
        services.create_campaign(marketer, campaign_input(charset="iso-2022-jp"))

    assert "① (U+2460)" in error.value.message_dict["charset"][0]
