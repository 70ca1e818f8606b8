"""Renders a PDF in a child process with a time limit and a memory limit.

WeasyPrint's memory grows with the pages and is not given back to the system (PITFALLS.md,
WeasyPrint), and a hostile or huge document could run for long: each render runs in its own
process forked from a forkserver that imported WeasyPrint once (so a render starts in
milliseconds, not the ~0.7 s of a fresh interpreter). The child sets RLIMIT_AS before it renders
and exits when done, giving all its memory back; the parent kills it at the deadline.

Large trails come as several HTML chunks (~500 messages each): each is laid out by its own
`HTML().render()`, and their pages are combined into one `write_pdf` (one font subset, one file).

Django-free: the forkserver imports this module without settings.
"""

import multiprocessing
import os
import resource
import time
from dataclasses import dataclass, field

# Seconds per render (TRAIL_RENDER_TIME_LIMIT), and bytes of address space for the render child
# (TRAIL_RENDER_MEMORY_MB): a 10,000-message trail peaks near 500 MB resident (bench/trails.py).
DEFAULT_TIME_LIMIT = float(os.environ.get("TRAIL_RENDER_TIME_LIMIT", "600"))
DEFAULT_MEMORY_LIMIT = int(os.environ.get("TRAIL_RENDER_MEMORY_MB", "1536")) * 1024 * 1024


FIRST_PAGE_MARKER = "__TRAIL_FIRST_PAGE__"


class RenderError(RuntimeError):
    pass


@dataclass
class RenderJob:
    chunks: list  # HTML strings, in order
    out_path: str
    base_url: str
    static_roots: list = field(default_factory=list)
    allowed_files: list = field(default_factory=list)  # the font file
    attachment: bytes | None = None  # our own generated JSON, embedded as a file
    attachment_name: str = "trail.json"
    attachment_description: str = ""
    title: str = ""


def _render_in_child(job, conn, memory_limit):
    """The child's work: limits first, then the chunks, then one PDF written to job.out_path."""
    # Room to report a MemoryError in: freed before the report is sent.
    reserve = bytearray(8 * 1024 * 1024)
    try:
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        from weasyprint import HTML, Attachment

        from audit.trails.fetcher import StaticFilesOnlyFetcher

        fetcher = StaticFilesOnlyFetcher(roots=job.static_roots, files=job.allowed_files)
        documents = []
        pages_before = 0
        for index, chunk in enumerate(job.chunks):
            # Page numbers run on across chunks: each chunk's first page follows the previous ones.
            # The marker is in the template's <style>, before any user text (count=1).
            chunk = chunk.replace(FIRST_PAGE_MARKER, str(pages_before + 1), 1)
            document = HTML(string=chunk, base_url=job.base_url, url_fetcher=fetcher).render()
            pages_before += len(document.pages)
            documents.append(document)
            conn.send(("chunk", index + 1, len(job.chunks)))
        pages = [page for document in documents for page in document.pages]
        combined = documents[0].copy(pages)
        attachments = []
        if job.attachment is not None:
            attachments.append(Attachment(string=job.attachment, name=job.attachment_name,
                                          description=job.attachment_description, url_fetcher=fetcher))
        combined.write_pdf(job.out_path, attachments=attachments)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("done", len(pages), fetcher.refused, peak_kb * 1024))
    except MemoryError:
        del reserve
        conn.send(("error", "memory", "the render went over its memory limit"))
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, which raises
        conn.send(("error", type(exc).__name__, str(exc)[:500]))
    finally:
        conn.close()


_context = None


def _mp_context():
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["audit.trails._preload"])
        _context = ctx
    return _context


@dataclass
class RenderResult:
    pages: int
    refused: list
    seconds: float
    peak_rss: int = 0  # bytes, the render process's peak resident set


def render_pdf(job, *, time_limit=DEFAULT_TIME_LIMIT, memory_limit=DEFAULT_MEMORY_LIMIT, on_progress=None):
    """Renders `job` in a child process; returns a RenderResult, raises RenderError on a failure,
    the time limit or the memory limit. `on_progress(done_chunks, total_chunks)` is called as
    chunks are laid out."""
    started = time.monotonic()
    ctx = _mp_context()
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_render_in_child, args=(job, child_conn, memory_limit), daemon=True)
    process.start()
    child_conn.close()
    deadline = started + time_limit
    outcome = None
    try:
        while outcome is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RenderError(f"the render took longer than {time_limit} s")
            if parent_conn.poll(min(remaining, 0.5)):
                try:
                    message = parent_conn.recv()
                except EOFError:
                    process.join(1)
                    raise RenderError(f"the render process ended without a result (exit code {process.exitcode})") from None
                if message[0] == "chunk":
                    if on_progress is not None:
                        on_progress(message[1], message[2])
                else:
                    outcome = message
            elif not process.is_alive():
                raise RenderError(f"the render process ended without a result (exit code {process.exitcode})")
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent_conn.close()
    if outcome[0] == "error":
        raise RenderError(f"{outcome[1]}: {outcome[2]}")
    return RenderResult(pages=outcome[1], refused=outcome[2], seconds=time.monotonic() - started, peak_rss=outcome[3])
