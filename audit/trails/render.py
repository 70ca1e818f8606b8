"""A trail (build.trail_build's dict) as HTML and as a PDF.

Every value reaches the HTML through the template engine's escaping (message bodies as plain
text, never markdown or HTML), so no user text can become a tag, a URL, a stylesheet or an
attachment; the watermark is a CSS string whose every character outside [A-Za-z0-9 ] is written
as a CSS escape. The PDF is rendered in audit.trails.sandbox (time and memory limits), with the
fetcher of audit.trails.fetcher, in chunks of CHUNK_MESSAGES messages, and the trail's own JSON
embedded as `trail.json` (the only attachment: no HTML attachment link can exist).
"""

import json
import logging
import tempfile
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from audit.trails import build, sandbox
from audit.trails.build import from_iso
from audit.trails.fonts import FAMILY, FontMissing, trail_font

ATTACHMENT_NAME = "trail.json"
logger = logging.getLogger(__name__)


def css_string(text):
    """`text` as a double-quoted CSS string: every character but ASCII letters, digits and spaces
    as a six-digit escape, so nothing in it can end the string or the rule."""
    out = []
    for ch in str(text):
        if ch == " " or (ch.isascii() and ch.isalnum()):
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):06x}")
    return '"' + "".join(out) + '"'


def _tz(tenant_time_zone):
    try:
        return zoneinfo.ZoneInfo(tenant_time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return timezone.get_default_timezone()


def _with_datetimes(rows):
    return [{**row, "at_dt": from_iso(row.get("at"))} for row in rows]


def display_context(trail, *, time_zone):
    """The template context of a trail: its rows with datetimes for display, and the watermark."""
    exported_at = from_iso(trail["exported_at"])
    with timezone.override(_tz(time_zone)):
        stamp = formats.date_format(timezone.localtime(exported_at), "DATETIME_FORMAT")
    who = trail["exported_by"]
    labels = trail.get("state_labels") or {}
    watermark = _("Exported by %(name)s (%(username)s) at %(at)s") % {
        "name": who["name"], "username": who["username"], "at": stamp}
    return {
        "trail": trail,
        "record": trail["record"],
        "history": [
            {**row, "from_label": labels.get(row["from_state"], row["from_state"]),
             "to_label": labels.get(row["to_state"], row["to_state"])}
            for row in _with_datetimes(trail["history"])
        ],
        "approvals": _with_datetimes(trail["approvals"]),
        "attachments": trail["attachments"],
        "messages": _with_datetimes(trail["messages"]),
        "audit_records": _with_datetimes(trail["audit_records"]),
        "heads": trail["chain_heads"],
        "exported_at": exported_at,
        "watermark": watermark,
    }


def trail_html_chunks(trail, *, time_zone, chunk_messages=None, font=None):
    """The PDF's HTML documents: the first with the record, history, approvals, attachments and
    chain heads and the first messages, then one per further `chunk_messages` messages. Page
    numbers run on across chunks: each chunk's first page number is written in by the sandbox
    once the chunks before it are laid out (sandbox.FIRST_PAGE_MARKER)."""
    font = font or trail_font()
    chunk_messages = chunk_messages or build.CHUNK_MESSAGES
    base = display_context(trail, time_zone=time_zone)
    messages = base["messages"]
    slices = [messages[i:i + chunk_messages] for i in range(0, len(messages), chunk_messages)] or [[]]
    chunks = []
    with translation.override(trail["language"]), timezone.override(_tz(time_zone)):
        for index, part in enumerate(slices):
            chunks.append(render_to_string("audit/trail_pdf.html", {
                **base,
                "first": index == 0,
                "part": part,
                "font_css": font.css(),
                "font_family": css_string(FAMILY),
                "watermark_css": css_string(base["watermark"]),
                "LANGUAGE_CODE": trail["language"],
                "first_page_marker": sandbox.FIRST_PAGE_MARKER,
            }))
    return chunks


def trail_json_bytes(trail):
    return json.dumps(trail, ensure_ascii=False, sort_keys=True, indent=1).encode()


def trail_pdf_to_file(trail, *, time_zone, out_path=None, on_progress=None, time_limit=None, memory_limit=None):
    """Renders the trail's PDF into `out_path` (a new temporary file when None); returns
    (path, RenderResult). A machine without any CJK font fails as a render does (RenderError), its
    message saying what to install."""
    try:
        font = trail_font()
    except FontMissing as exc:
        logger.error("%s", exc)
        raise sandbox.RenderError(str(exc)) from None
    chunks = trail_html_chunks(trail, time_zone=time_zone, font=font)
    if out_path is None:
        handle = tempfile.NamedTemporaryFile(prefix="trail-", suffix=".pdf", delete=False)
        handle.close()
        out_path = handle.name
    static_roots = [str(Path(p).resolve()) for p in settings.STATICFILES_DIRS]
    job = sandbox.RenderJob(
        chunks=chunks, out_path=str(out_path), base_url=Path(static_roots[0]).as_uri() + "/",
        static_roots=static_roots, allowed_files=[str(font.path)],
        attachment=trail_json_bytes(trail), attachment_name=ATTACHMENT_NAME,
        attachment_description="scm-portal trail (machine-readable)",
    )
    result = sandbox.render_pdf(
        job, on_progress=on_progress,
        time_limit=time_limit or sandbox.DEFAULT_TIME_LIMIT,
        memory_limit=memory_limit or sandbox.DEFAULT_MEMORY_LIMIT,
    )
    return Path(out_path), result


def trail_pdf_bytes(trail, *, time_zone, **kwargs):
    path, _result = trail_pdf_to_file(trail, time_zone=time_zone, **kwargs)
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
