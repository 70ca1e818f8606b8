"""The url_fetcher of every PDF the portal renders: only the project's own static files and the
font file it chose; http(s), data:, ftp and any other file are refused, so WeasyPrint leaves the
resource out (an image, a stylesheet, a `<link rel=attachment>`). Django-free (the render
sandbox imports it)."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher


class Refused(ValueError):
    pass


class StaticFilesOnlyFetcher(URLFetcher):
    """`roots`: folders whose files may be read; `files`: single files that may (the font)."""

    def __init__(self, roots=(), files=(), **kwargs):
        kwargs.setdefault("timeout", 2)
        kwargs.setdefault("allowed_protocols", ("file",))
        kwargs.setdefault("allow_redirects", False)
        super().__init__(**kwargs)
        self.roots = [Path(p).resolve() for p in roots]
        self.files = {Path(p).resolve() for p in files}
        self.refused = []  # what was asked and refused (tests read it)

    def allows(self, url):
        if not isinstance(url, str) or not url.startswith("file://"):
            return None
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        if not path.is_file():
            return None
        if path in self.files or any(path.is_relative_to(root) for root in self.roots):
            return path
        return None

    def fetch(self, url, headers=None):
        if self.allows(url) is None:
            self.refused.append(str(url)[:200])
            raise Refused(f"refused: {str(url)[:80]}")
        return super().fetch(url, headers)
