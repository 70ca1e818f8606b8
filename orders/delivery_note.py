"""The delivery note (送货单) of a shipment as a PDF: WeasyPrint with a fetcher that refuses every
URL but the project's own static files, and the shipment number as a Code 128 barcode drawn
inline as SVG (orders.barcode)."""

from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from audit.trails.fonts import FAMILY, trail_font
from orders.barcode import code128_svg
from scm_portal.tenancy.selectors import tenant_language


def _static_roots():
    return [Path(p).resolve() for p in settings.STATICFILES_DIRS]


class StaticFilesOnlyFetcher(URLFetcher):
    """Fetches file:// URLs inside the project's static directories, and the CJK font file the
    PDFs use; refuses everything else (http, data, other files): WeasyPrint then leaves the
    resource out."""

    def fetch(self, url, headers=None):
        if not url.startswith("file://"):
            raise ValueError(f"refused: {url[:80]}")
        path = Path(url[len("file://"):].split("?")[0].split("#")[0]).resolve()
        font = trail_font().path
        if not (path == font or any(path.is_relative_to(root) for root in _static_roots())) or not path.is_file():
            raise ValueError(f"refused: {url[:80]}")
        return super().fetch(url, headers)


def delivery_note_html(shipment, *, lines, tenant):
    """The note's HTML (in the tenant's language); every value escaped by the template."""
    with tenant_language(tenant):
        return render_to_string("orders/shipment_note.html", {
            "shipment": shipment, "lines": lines, "tenant": tenant,
            "barcode": mark_safe(code128_svg(shipment.number or str(shipment.pk))),  # built from escaped text
            "printed_at": timezone.localtime(timezone.now()),
        })


def delivery_note_pdf(shipment, *, lines, tenant):
    html = delivery_note_html(shipment, lines=lines, tenant=tenant)
    base = _static_roots()[0].as_uri() + "/"
    fetcher = StaticFilesOnlyFetcher(timeout=2)
    # Chinese in the CJK font the set-up installs (WenQuanYi, else the pinned Noto wheel): without
    # it a machine lacking a system CJK font printed boxes.
    font = trail_font()
    cjk = CSS(string=f'{font.css()} body {{ font-family: "{FAMILY}", sans-serif !important; }}', url_fetcher=fetcher)
    return HTML(string=html, base_url=base, url_fetcher=fetcher).write_pdf(stylesheets=[cjk])
