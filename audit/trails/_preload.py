"""Imported once by the render forkserver (audit.trails.sandbox): WeasyPrint and its fonts
machinery, so each render's child starts with them loaded. Django-free."""

import weasyprint  # noqa: F401
import weasyprint.pdf  # noqa: F401

from audit.trails import fetcher, fonts  # noqa: F401


def _warm():
    """Lays out one line in the trail font: fontconfig and Pango's font map are then ready in
    every child forked from here."""
    try:
        font = fonts.trail_font()
        html = f"<style>{font.css()} body {{ font-family: '{fonts.FAMILY}' }}</style><p>审计 trail</p>"
        weasyprint.HTML(string=html, url_fetcher=fetcher.StaticFilesOnlyFetcher(files=[font.path])).render()
    except Exception:  # noqa: BLE001 — a warm-up only; the render reports real failures
        pass


_warm()
