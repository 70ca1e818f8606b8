"""Safe rendering: user text in a trail renders as text; the fetcher serves only the project's
static files and the font; nothing is fetched from the network or the file system and nothing
but trail.json is embedded; every render has a time and a memory limit."""

import http.server
import io
import threading
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from audit.trails import sandbox
from audit.trails.fetcher import StaticFilesOnlyFetcher
from audit.trails.fonts import trail_font
from audit.trails.render import css_string
from tests.api_contract import user
from tests.audit.trail_world import PO_NUMBER, pdf_text, po_world, squeeze
from tests.messaging.helpers import post, room_of


class RecordingServer:
    """A real HTTP server on the loopback that records every request it gets."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.end_headers()
                self.wfile.write(b"body { color: red }")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    with RecordingServer() as running:
        yield running


def hostile_bodies(port):
    return [
        '<img src="file:///etc/passwd">',
        '<link rel=attachment href="file:///etc/passwd">',
        f"<style>@import url(http://127.0.0.1:{port}/import.css);</style>",
        f'<img src="http://127.0.0.1:{port}/pixel.png"><link rel="stylesheet" href="http://127.0.0.1:{port}/s.css">',
        f'</div></body><link rel="attachment" href="http://127.0.0.1:{port}/leak">',
        "__TRAIL_FIRST_PAGE__ \"; } @page { background: url(file:///etc/passwd) } a { x: \"",
    ]


@pytest.mark.django_db
class TestHostileMessages:
    def test_they_render_as_text_and_nothing_is_fetched_or_embedded(self, api, demo, server):
        po_world(demo)
        room = room_of("acme", "sup-a")
        bodies = hostile_bodies(server.port)
        for body in bodies:
            post("supa.rep", room, body, subject={"kind": "purchase_order", "id": PO_NUMBER})
        response = api.as_user(user("acme.auditor")).get(f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf")
        pdf = b"".join(response.streaming_content)
        text = squeeze(pdf_text(pdf))
        for body in bodies[:4]:
            assert squeeze(body) in text  # shown as the characters written
        assert server.hits == []
        reader = PdfReader(io.BytesIO(pdf))
        assert list(reader.attachments) == ["trail.json"]
        assert b"root:x:0:0" not in pdf and b"/etc/passwd" not in reader.attachments["trail.json"][0].replace(
            b"file:///etc/passwd", b"")

    def test_the_trail_page_escapes_them_too(self, client, demo, server):
        po_world(demo)
        post("supa.rep", room_of("acme", "sup-a"), hostile_bodies(server.port)[0],
             subject={"kind": "purchase_order", "id": PO_NUMBER})
        client.force_login(user("acme.auditor"))
        page = client.get(f"/t/acme/audit/trails/purchase_order/{PO_NUMBER}/").content.decode()
        assert '&lt;img src=&quot;file:///etc/passwd&quot;&gt;' in page
        assert '<img src="file:///etc/passwd">' not in page


class TestTheFetcher:
    """Even HTML that reached WeasyPrint unescaped fetches nothing but static files and the font."""

    def test_a_raw_document_fetches_nothing_outside(self, server, tmp_path):
        secret = tmp_path / "secret.txt"
        secret.write_text("top secret")
        html = f"""<html><head>
            <link rel="stylesheet" href="http://127.0.0.1:{server.port}/a.css">
            <style>@import url(http://127.0.0.1:{server.port}/b.css);</style>
            <link rel="attachment" href="file://{secret}"><link rel="attachment" href="http://127.0.0.1:{server.port}/c">
            </head><body><img src="file:///etc/passwd"><img src="data:image/png;base64,iVBORw0KGgo=">
            <img src="http://127.0.0.1:{server.port}/d.png"><p>x</p></body></html>"""
        out = tmp_path / "raw.pdf"
        static = str(Path(settings.STATICFILES_DIRS[0]).resolve())
        result = sandbox.render_pdf(sandbox.RenderJob(chunks=[html], out_path=str(out), base_url=Path(static).as_uri() + "/",
                                                      static_roots=[static]), time_limit=60)
        assert server.hits == []
        assert any("127.0.0.1" in url for url in result.refused)
        assert any("secret.txt" in url for url in result.refused)
        assert any(url.startswith("data:") for url in result.refused)
        pdf = out.read_bytes()
        assert b"top secret" not in pdf and PdfReader(io.BytesIO(pdf)).attachments == {}

    def test_it_allows_static_files_and_the_font_only(self, tmp_path):
        static = Path(settings.STATICFILES_DIRS[0]).resolve()
        font = trail_font()
        fetcher = StaticFilesOnlyFetcher(roots=[static], files=[font.path])
        assert fetcher.allows((static / "favicon.svg").as_uri())
        assert fetcher.allows(font.path.as_uri())
        assert not fetcher.allows((static / ".." / "manage.py").resolve().as_uri())
        assert not fetcher.allows(f"file://{static}/../manage.py")
        assert not fetcher.allows("file:///etc/passwd")
        assert not fetcher.allows("file://evil.example/etc/passwd")
        assert not fetcher.allows("http://127.0.0.1/")
        assert not fetcher.allows("data:text/css,body{}")


class TestLimits:
    def test_a_render_over_its_time_limit_is_stopped(self, tmp_path):
        html = "<p>" + "慢" * 200 + "</p>" * 1
        job = sandbox.RenderJob(chunks=[html * 3000], out_path=str(tmp_path / "slow.pdf"), base_url="file:///nonexistent/")
        with pytest.raises(sandbox.RenderError, match="longer than"):
            sandbox.render_pdf(job, time_limit=0.5)
        assert not (tmp_path / "slow.pdf").exists() or (tmp_path / "slow.pdf").stat().st_size == 0

    def test_a_render_over_its_memory_limit_fails_cleanly(self, tmp_path):
        job = sandbox.RenderJob(chunks=["<p>内存 memory 测试 test</p>" * 40000], out_path=str(tmp_path / "big.pdf"),
                                base_url="file:///nonexistent/")
        with pytest.raises(sandbox.RenderError, match="memory limit"):
            sandbox.render_pdf(job, memory_limit=350 * 1024 * 1024, time_limit=120)

    def test_the_watermark_is_a_css_string_nothing_can_break_out_of(self):
        hostile = '周审计"; } @import url(http://x/); a { b: "\\'
        escaped = css_string(hostile)
        assert escaped.startswith('"') and escaped.endswith('"')
        inner = escaped[1:-1]
        assert '"' not in inner and ";" not in inner and "}" not in inner and "(" not in inner
        assert "\\005468" in inner  # 周 as a CSS escape
