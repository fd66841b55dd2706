"""HTML -> article text by tag stripping (BeautifulSoup over the lxml parser).

Pure functions, no Beam. Rules:

- chrome (script, style, nav, header, footer, aside, form, ...) is dropped whole;
- block elements and ``<br>`` become paragraph and line breaks, so words are never glued
  across a block boundary, while inline tags add nothing, so ``<b>U</b>nited`` stays
  ``United``;
- entities are unescaped by the parser, whitespace collapsed, Unicode NFC-normalised;
- paragraphs are separated by a blank line in the result.

The walk is iterative (no recursion on deep trees) and linear in the number of nodes.
"""
from __future__ import annotations

import re
import unicodedata

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import (CData, Comment, Declaration, Doctype, ProcessingInstruction,
                         TemplateString)

DROP_TAGS = frozenset({
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template",
    "iframe", "svg", "canvas", "button", "select", "option", "textarea", "input", "head",
    "object", "embed", "audio", "video", "map", "dialog", "menu",
})
BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hgroup", "hr", "html", "legend", "li", "main", "ol", "p", "pre", "section", "summary",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
_SKIP_STRINGS = (Comment, CData, Declaration, Doctype, ProcessingInstruction, TemplateString)

PARAGRAPH = "\n\n"
LINE = "\n"

# Characters that only steer rendering; left in, they split or hide words.
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]+")
_SPACES = re.compile(r"[^\S\n]+")          # whitespace other than newlines
_ANY_SPACE = re.compile(r"\s+")
_MANY_BREAKS = re.compile(r"\n{3,}")
_LINE_ENDS = re.compile(r" ?\n ?")
_TAG_LIKE = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?>|/[a-zA-Z][a-zA-Z0-9:-]*\s*>|!--)")


def looks_like_html(text: str) -> bool:
    """True when plain text carries markup (tags or comments) worth parsing."""
    return _TAG_LIKE.search(text) is not None


_DOCUMENT_END = re.compile(r"</(?:body|html)\s*>", re.I)


def mend_document_end(html: str) -> str:
    """The page without ``</body>`` and ``</html>`` end tags. A browser renders markup that
    follows them as more of the body (HTML's "after body" rule), but libxml2 drops it, so a
    page that closes its body early (a theme's footer include, then the article) lost its
    article. The parser closes both at the end of the input anyway."""
    return _DOCUMENT_END.sub("", html) if "</" in html else html


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


def normalize_text(text: str) -> str:
    """NFC, invisible characters removed, spaces collapsed within lines, at most one blank
    line between paragraphs, no leading/trailing whitespace on any line."""
    # whole-text regexes, not a loop over lines or str.translate: a fifth of the time
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LINE_ENDS.sub("\n", _SPACES.sub(" ", text))  # one space left at each end of a line at most
    return _MANY_BREAKS.sub(PARAGRAPH, text).strip()


def _wraps_content(form: Tag) -> bool:
    # ASP.NET and some CMSs wrap the whole page in one <form>: that one is not chrome.
    return form.find(("p", "article", "main")) is not None


def soup_text(root: Tag, keep_newlines: bool = False) -> str:
    """Text of ``root`` with chrome dropped and block structure kept as line breaks.

    ``keep_newlines``: newlines inside text nodes are line breaks (plain text that carries
    inline HTML); otherwise they are ordinary whitespace (HTML semantics).
    """
    pieces = []
    block_of = {id(root): root}
    dropped = set()
    prev_block = None
    for node in root.descendants:
        parent = node.parent
        if id(parent) in dropped:
            if isinstance(node, Tag):
                dropped.add(id(node))
            continue
        if isinstance(node, Tag):
            name = node.name
            if name in DROP_TAGS and not (name == "form" and _wraps_content(node)):
                dropped.add(id(node))
            elif name == "br":
                pieces.append(LINE)
            elif name in BLOCK_TAGS:
                block_of[id(node)] = node
                if name == "hr":
                    pieces.append(PARAGRAPH)
            else:
                block_of[id(node)] = block_of.get(id(parent), root)
            continue
        if not isinstance(node, NavigableString) or isinstance(node, _SKIP_STRINGS):
            continue
        block = block_of.get(id(parent), root)
        if block is not prev_block:
            pieces.append(PARAGRAPH)
            prev_block = block
        s = str(node)
        if keep_newlines:
            pieces.append(_SPACES.sub(" ", s))
        else:
            pieces.append(_ANY_SPACE.sub(" ", s))
    return normalize_text("".join(pieces))


def html_to_text(html: str, keep_newlines: bool = False) -> str:
    """Article text of an HTML page or fragment (see the module docstring)."""
    soup = parse(html)
    root = soup.body or soup
    return soup_text(root, keep_newlines=keep_newlines)


_WRAP_MIN, _WRAP_MAX = 30, 100
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def unwrap(text: str) -> str:
    """Joins hard-wrapped lines (exports wrapped at a fixed width) back into paragraphs.

    A block between blank lines is a wrapped paragraph when it has several lines and every
    line but the last is of a typical wrap width; lists and verse (short lines) are kept."""
    blocks = re.split(r"\n[ \t]*\n", text)
    out = []
    for block in blocks:
        lines = block.split("\n")
        if len(lines) > 1 and all(_WRAP_MIN <= len(l.rstrip()) <= _WRAP_MAX for l in lines[:-1]):
            block = lines[0].strip()
            for l in lines[1:]:
                l = l.strip()
                # a compound broken at its hyphen ("Party-\ncontrolled") is one word again;
                # Chinese and Japanese lines join without a space
                joined = ((block.endswith("-") and block[-2:-1].isalpha())
                          or (_CJK.match(block[-1:]) and _CJK.match(l[:1])))
                block += ("" if joined else " ") + l
        out.append(block)
    return "\n\n".join(out)


def plain_text(text: str) -> str:
    """Plain text that may carry inline HTML -> clean text, line structure kept (hard-wrapped
    paragraphs are joined)."""
    if looks_like_html(text):
        return html_to_text(text, keep_newlines=True)
    import html as _html
    return normalize_text(unwrap(_html.unescape(text)))
