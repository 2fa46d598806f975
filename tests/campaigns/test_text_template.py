"""campaigns.text.text_template: the text part generated once per campaign from the HTML
template must read exactly as the text generated from each recipient's rendered HTML."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.templating import render
from campaigns.text import finish, html_to_text, text_template

TEMPLATES = [
    "<p>{{ contact.last_name }} {{ contact.first_name }} 様</p><p>本文です。</p>",
    '<h1>ご案内</h1><p><a href="https://shop.example/item/1">商品ページ</a></p>',
    '<p><a href="https://shop.example/u/{{ contact.first_name }}">会員ページ</a></p>',
    '<p><a href="{{ unsubscribe_url }}">配信停止</a></p>',
    "{% if contact.company %}<p>{{ contact.company }} 御中</p>{% endif %}<p>いつも</p>",
    "<ul>{% for tag in contact.attributes.tags %}<li>{{ tag }}</li>{% endfor %}</ul>",
    "<p>{{ contact.last_name|upper }}</p>\n{%- if contact.company -%}\n<p>会社</p>\n{%- endif %}",
    "<table><tr><td>{{ contact.last_name }}</td><td>{{ contact.first_name }}</td></tr></table>",
    '<div style="display:none">{{ contact.email }}</div><p>見える</p>{# 内部メモ #}',
    "<head><title>{{ contact.last_name }}</title><style>p{color:red}</style></head><p>x</p>",
    "<p>{{ contact.last_name }}<br>\n  {{ contact.first_name }}</p><p>{{ footer }}</p>",
    '<p>a &amp; b &lt;{{ contact.first_name }}&gt;</p><img alt="ロゴ" src="x.png"><hr>',
]
# How these read depends on what their tags render (an empty label shows the address
# alone; a label equal to the address is not repeated): converted per recipient.
UNDECIDABLE = [
    '<p><a href="https://shop.example/u/{{ contact.first_name }}">{{ contact.company }}</a></p>',
    '<p><a href="{{ unsubscribe_url }}">{{ unsubscribe_url }}</a></p>',
    '<p><a href="mailto:{{ contact.email }}">{{ contact.email }}</a></p>',
    '<p><a href="{{ contact.attributes.url }}">サイト</a></p>',
    '<p><a href="https://shop.example/{{ contact.first_name }}">https://shop.example/</a></p>',
    '<p><a href="https://shop.example/{{ contact.first_name }}">info@shop.example</a></p>',
    '<div style="{{ contact.attributes.style }}">{{ contact.company }}</div>',
]

# Values with no runs of whitespace: HTML would collapse those, the text template keeps
# them (the one documented difference).
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
    max_size=12,
)


def _context(last_name, first_name, company, tags):
    return {
        "contact": {
            "email": "yamada@example.jp",
            "last_name": last_name,
            "first_name": first_name,
            "company": company,
            "attributes": {"tags": tags},
        },
        "unsubscribe_url": "https://t.shop.example/u/abc",
        "footer": "",
    }


@settings(max_examples=60, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    last_name=VALUE,
    first_name=VALUE,
    company=VALUE,
    tags=st.lists(VALUE, max_size=3),
)
def test_the_text_template_reads_as_the_converted_html(
    template, last_name, first_name, company, tags
):
    context = _context(last_name, first_name, company, tags)
    from_html = html_to_text(render(template, context, html=True))
    from_template = finish(render(text_template(template), context, html=False))
    assert from_template == finish(from_html)


@pytest.mark.parametrize("template", UNDECIDABLE)
def test_a_template_whose_text_depends_on_its_values_is_left_to_each_recipient(template):
    assert text_template(template) is None


def test_an_empty_value_leaves_one_space_and_a_line_break_in_a_value_stays():
    context = _context("山田", "", "", [])
    assert finish(render(text_template(TEMPLATES[0]), context, html=False)) == (
        "山田 様\n\n本文です。\n"
    )
    context = _context("山田\n花子", "", "", [])
    assert finish(render(text_template(TEMPLATES[0]), context, html=False)) == (
        "山田\n花子 様\n\n本文です。\n"
    )


def test_a_pre_block_is_left_to_each_recipient():
    assert text_template("<pre>{{ contact.last_name }}   x</pre>") is None


def test_tags_and_text_come_out_as_expected():
    template = (
        "<p>{{ contact.last_name }} 様</p>\n"
        '<p><a href="https://shop.example/{{ contact.first_name }}">見る</a></p>'
    )
    assert text_template(template) == (
        "{{ contact.last_name }} 様\n\n見る (https://shop.example/{{ contact.first_name }})\n"
    )


def test_braces_the_html_shows_as_text_stay_text():
    # &#123;&#123; is how an author shows "{{" on the page; it must not become a tag.
    template = "<p>&#123;&#123; contact.last_name &#125;&#125; {{ contact.first_name }}</p>"
    context = _context("山田", "太郎", "", [])
    assert finish(render(text_template(template), context, html=False)) == (
        "{{ contact.last_name }} 太郎\n"
    )


def test_whitespace_control_does_not_join_paragraphs():
    template = "<p>一</p>\n{%- if true -%}\n<p>二</p>\n{%- endif %}"
    assert finish(render(text_template(template), {}, html=False)) == "一\n\n二\n"
