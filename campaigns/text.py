"""Plain text from HTML, for the text part of a campaign whose text body is left empty.

Links keep their address (``label (https://...)``) so the unsubscribe link and every
other link still work in the text part; images become their alt text; ``<style>``,
``<script>``, ``<head>`` and hidden preheaders are dropped. Uses only the standard
library's HTML parser.

``text_template`` applies the same conversion to an HTML *template* once, carrying its
Jinja tags through, so a campaign's text part is rendered per recipient from a text
template instead of parsing every recipient's HTML again (the parse is most of the cost
of a message).
"""

from __future__ import annotations

import functools
import re
from html.parser import HTMLParser

_BLOCKS = {
    "address",
    "article",
    "aside",
    "blockquote",
    "div",
    "dl",
    "dt",
    "dd",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
}
_SKIPPED = {"head", "script", "style", "title", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


# Marks a template tag's place while an HTML template is converted (``text_template``).
_MARK = "\ue000"


class _Extractor(HTMLParser):
    def __init__(self, *, template: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        # Converting a template: a choice that depends on what a tag renders (is this
        # link's label empty? is this block hidden?) cannot be made once for everyone.
        self.template = template
        self.undecidable = False
        self.parts: list[str] = []
        self.skip_depth = 0
        self.hidden_depth = 0
        self.links: list[tuple[str, int]] = []  # (href, index in parts where the label starts)
        self.pre_depth = 0

    def _newline(self, count: int = 1) -> None:
        self.parts.append("\n" * count)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in _SKIPPED:
            self.skip_depth += 1
            return
        if self.template and _MARK in (attributes.get("style") or ""):
            self.undecidable = True
        if tag not in _VOID and (
            "display:none" in (attributes.get("style") or "").replace(" ", "").lower()
            or "hidden" in attributes
        ):
            self.hidden_depth += 1
            return
        if self.hidden_depth:
            if tag not in _VOID:
                self.hidden_depth += 1
            return
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self.parts.append("\n----------\n")
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if alt:
                self.parts.append(alt)
        elif tag == "a":
            self.links.append((attributes.get("href") or "", len(self.parts)))
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in _BLOCKS:
            self._newline(2 if tag in ("p", "h1", "h2", "h3", "table") else 1)
            if tag == "li":
                self.parts.append("- ")
            if tag == "pre":
                self.pre_depth += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.hidden_depth:
            if tag not in _VOID:
                self.hidden_depth -= 1
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            href = href.strip()
            if self.template and not _decidable_link(href, label):
                self.undecidable = True
            if href and not href.startswith(("#", "javascript:")) and href != label:
                shown = href[7:] if href.startswith("mailto:") else href
                if shown != label:
                    self.parts.append(f" ({shown})" if label else shown)
        elif tag in _BLOCKS and tag != "li":
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            self._newline(2 if tag in ("p", "h1", "h2", "h3", "table") else 1)

    def handle_data(self, data):
        if self.skip_depth or self.hidden_depth:
            return
        if self.pre_depth:
            self.parts.append(data)
        else:
            self.parts.append(re.sub(r"\s+", " ", data))


def _decidable_link(href: str, label: str) -> bool:
    """Whether a link of a template reads the same for every recipient: how it is shown
    depends on whether its label is empty or equals its address, which a tag in the
    label, or a tag address next to a label that could be an address, leaves open."""
    if _MARK not in href and _MARK not in label:
        return True
    if _MARK in label or not label or "://" in label or "@" in label:
        return False
    # A tag address that always renders as a web address: a fixed https:// or http://
    # start, or the recipient's own unsubscribe link.
    return href.startswith(("https://", "http://")) or href == _UNSUBSCRIBE_STAND_IN


def html_to_text(html: str) -> str:
    """A readable plain-text version of ``html`` (lines stripped, at most one blank line
    in a row, ending with one newline)."""
    return tidy("".join(_extracted(html).parts))


def _extracted(html: str, *, template: bool = False) -> _Extractor:
    extractor = _Extractor(template=template)
    extractor.feed(html)
    extractor.close()
    return extractor


# Jinja's three kinds of tag, with the default delimiters campaigns.templating uses.
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
# Stand-ins for the tags while the HTML is converted: private-use characters, which no
# HTML rule touches (not whitespace, not markup, not an entity).
_STAND_IN = re.compile("\ue000(\\d+)\ue001")
_UNSUBSCRIBE_STAND_IN = f"{_MARK}0\ue001"
# Whitespace control ({%- ... -%}) would eat the line breaks the conversion puts between
# blocks; in the text template the tags keep their neighbours' whitespace.
_TRIM_MARKERS = re.compile(r"^(\{[{%#])-|-([}%#]\})$")


@functools.lru_cache(maxsize=256)
def text_template(html_source: str) -> str | None:
    """The text-part template of the HTML template ``html_source``: ``html_to_text``
    applied to the template, its Jinja tags kept as they are (identical tags share one
    stand-in, so ``<a href="{{ u }}">{{ u }}</a>`` stays one link, as it would rendered).

    Rendered without autoescaping and passed through ``finish``, it gives the text
    ``html_to_text`` gives of the rendered HTML, with runs of spaces made one (a value
    left empty between two spaces) and a value's own line breaks kept. Cached per
    source: a campaign's recipients share one conversion.

    ``None`` when the text depends on what a tag renders in a way one conversion cannot
    settle (a link whose label is a tag, a ``style`` that is one), or when it has a
    ``<pre>`` block (whose spacing ``finish`` would change): the caller converts
    each recipient's rendered HTML instead."""
    tags: dict[str, int] = {"{{ unsubscribe_url }}": 0}

    def stand_in(match: re.Match) -> str:
        index = tags.setdefault(_same_output(match.group(0)), len(tags))
        return f"{_MARK}{index}\ue001"

    if "<pre" in html_source.lower():
        return None  # spacing that must be kept verbatim: see ``finish``
    extractor = _extracted(_JINJA_TAG.sub(stand_in, html_source), template=True)
    if extractor.undecidable:
        return None
    text = tidy("".join(extractor.parts))
    # A brace the HTML shows as text (say ``&#123;&#123;``) must stay text, not become a
    # tag of the text template.
    text = text.replace("{", "{{ '{' }}")
    sources = [_TRIM_MARKERS.sub(lambda m: m.group(1) or m.group(2), tag) for tag in tags]
    return _STAND_IN.sub(lambda match: sources[int(match.group(1))], text)


def _same_output(tag: str) -> str:
    """``{{x}}`` and ``{{ x }}`` print the same: one stand-in for both."""
    if tag.startswith("{{") and not tag.startswith("{{-") and not tag.endswith("-}}"):
        return "{{ " + tag[2:-2].strip() + " }}"
    return tag


_SPACE_RUN = re.compile(r"[ \t]{2,}")


def finish(text: str) -> str:
    """A rendered text template made tidy, runs of spaces made one."""
    return tidy(_SPACE_RUN.sub(" ", text))


def tidy(text: str) -> str:
    """Lines stripped, at most one blank line in a row, one newline at the end."""
    lines = [line.strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""
