"""Renders user-written markdown to HTML that is safe everywhere (pages, PDFs, notifications).

Markdown is rendered first, then every tag and attribute outside a small allow-list is
stripped by nh3 (raw HTML in the source is escaped by the markdown step, never passed).
"""

import threading

import markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "hr", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_local = threading.local()  # a Markdown instance keeps state between calls: one per thread


def _markdown():
    md = getattr(_local, "md", None)
    if md is None:
        md = markdown.Markdown(extensions=["nl2br", "sane_lists"], output_format="html")
        # Raw HTML in a message is text, not markup: markdown escapes it like any other character.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        _local.md = md
    return md


def render_markdown(source):
    """Safe HTML for a message body."""
    html = _markdown().reset().convert(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(source, limit=None):
    """The body as plain text (for notifications and previews): no markup at all."""
    text = nh3.clean(render_markdown(source), tags=set())
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#39;", "'")
    if limit and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
