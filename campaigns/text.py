"""Plain text from HTML, for the text part of a campaign whose text body is left empty.

Links keep their address (``label (https://...)``) so the unsubscribe link and every
other link still work in the text part; images become their alt text; ``<style>``,
``<script>``, ``<head>`` and hidden preheaders are dropped. Uses only the standard
library's HTML parser.
"""

from __future__ import annotations

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


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
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


def html_to_text(html: str) -> str:
    """A readable plain-text version of ``html`` (lines stripped, at most one blank line
    in a row, ending with one newline)."""
    extractor = _Extractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    lines = [line.strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""
