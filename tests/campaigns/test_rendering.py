"""render_for_contact: what delivery sends, the preview shows and the check inspects."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.rendering import RenderedMessage, contact_data, render_for_contact
from campaigns.text import html_to_text
from contacts.models import CustomField
from tests.campaigns.conftest import make_campaign

pytestmark = pytest.mark.django_db

YAMADA = {
    "email": "yamada@example.jp",
    "last_name": "山田",
    "first_name": "太郎",
    "company": "",
    "attributes": {"plan": "gold"},
}
UNSUBSCRIBE = "https://t.shop.example/u/abc123"


def test_it_renders_every_part_for_one_recipient(campaign):
    message = render_for_contact(campaign, YAMADA, unsubscribe_url=UNSUBSCRIBE)

    assert message == RenderedMessage(
        subject="山田様 春のセールのお知らせ",
        html=message.html,
        text=message.text,
        from_name="たより商店",
        from_address="news@shop.example",
        reply_to="support@shop.example",
        charset="utf-8",
    )
    assert message.html.startswith("<!doctype html>")
    assert "<p>山田 太郎 様</p>" in message.html
    assert f'<a href="{UNSUBSCRIBE}">' in message.html
    assert "株式会社たより商店" in message.html
    assert "〒100-0001<br>東京都千代田区千代田1-1" in message.html
    assert '<a href="mailto:support@shop.example">support@shop.example</a>' in message.html


def test_the_preheader_is_hidden_at_the_top_of_the_body(campaign):
    message = render_for_contact(campaign, YAMADA)

    body = message.html.split("<body>", 1)[1].lstrip()
    assert body.startswith(
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">全品10%オフ</div>'
    )
    assert "全品10%オフ" not in message.text


@pytest.fixture
def english_footer(profile):
    profile.footer_language = "en"
    profile.save()
    return profile


def test_the_text_part_is_generated_from_the_html_when_left_empty(campaign, english_footer):
    message = render_for_contact(campaign, YAMADA, unsubscribe_url=UNSUBSCRIBE)

    assert message.text == (
        "山田 太郎 様\n"
        "\n"
        "春のセールを開催します。詳しくはこちら (https://shop.example/sale)\n"
        "\n"
        "Sent by 株式会社たより商店\n"
        "〒100-0001\n"
        "東京都千代田区千代田1-1\n"
        "Questions and complaints: support@shop.example\n"
        "\n"
        "If you no longer wish to receive these e-mails, you may refuse further mail "
        f"(unsubscribe) here: Unsubscribe ({UNSUBSCRIBE})\n"
    )


def test_a_written_text_body_is_used_with_the_text_footer(marketer, customers, english_footer):
    campaign = make_campaign(
        marketer, customers, text_body="{{ contact.last_name }}様\n\n{{ footer }}"
    )

    message = render_for_contact(campaign, YAMADA, unsubscribe_url=UNSUBSCRIBE)

    assert message.text.startswith("山田様\n\n--\nSent by 株式会社たより商店\n")
    assert message.text.endswith(f"here:\n{UNSUBSCRIBE}")


def test_the_layout_wraps_the_body_without_re_rendering_it(marketer, customers, profile):
    layout = services.create_layout(
        marketer,
        name="Brand",
        html="<html><body><header>{{ sender.name }}</header>{{ content }}{{ footer }}</body>"
        "</html>",
        text="{{ content }}\n{{ footer }}",
    )
    campaign = make_campaign(
        marketer,
        customers,
        layout=layout,
        html_body="<p>{{ contact.last_name }}</p>",
        text_body="{{ contact.last_name }}",
    )
    contact = dict(YAMADA, last_name="{{ sender.name }}<b>")

    message = render_for_contact(campaign, contact)

    assert "<header>株式会社たより商店</header><p>{{ sender.name }}&lt;b&gt;</p>" in message.html
    assert message.text.startswith("{{ sender.name }}<b>\n--\n")


def test_a_test_render_prefixes_the_subject(campaign):
    message = render_for_contact(campaign, YAMADA, test=True)

    assert message.subject == "[TEST] 山田様 春のセールのお知らせ"


def test_missing_attributes_render_empty_not_none(org_a, marketer, customers, profile):
    CustomField.objects.create(organization=org_a, key="plan", label="Plan", field_type="text")
    campaign = make_campaign(
        marketer,
        customers,
        html_body="<p>[{{ contact.company }}][{{ contact.phone }}]"
        "[{{ contact.attributes.plan | default('-') }}]</p>{{ footer }}",
    )

    message = render_for_contact(campaign, {"company": None, "attributes": {}})

    assert "<p>[][][-]</p>" in message.html


def test_contact_data_builds_the_plain_dict(org_a):
    from tests.campaigns.conftest import make_contact

    contact = make_contact(org_a, "kato@example.jp", last_name="加藤", attributes={"plan": "gold"})

    assert contact_data(contact) == {
        "email": "kato@example.jp",
        "last_name": "加藤",
        "first_name": "",
        "company": "",
        "phone": "",
        "attributes": {"plan": "gold"},
    }


def test_html_to_text_keeps_links_and_drops_styles():
    html = (
        "<html><head><style>p{color:red}</style><title>t</title></head><body>"
        '<div style="display: none">hidden</div><h1>見出し</h1>'
        '<p>本文 <a href="https://x.example/a">リンク</a></p>'
        '<ul><li>一</li><li>二</li></ul><img src="x.png" alt="ロゴ"><br>'
        '<a href="mailto:a@b.example">a@b.example</a></body></html>'
    )

    assert html_to_text(html) == (
        "見出し\n\n本文 リンク (https://x.example/a)\n\n- 一\n- 二\nロゴ\na@b.example\n"
    )
