"""trails: audit trail PDFs of 1,000 and 10,000 messages, beside WeasyPrint's floor for the same text.

    trail  audit.trails.render.trail_pdf_to_file: the trail's templates (record, history, approvals,
           attachments, chain heads, one block per message), rendered in the sandbox child in
           chunks of 500 messages, pages combined into one write_pdf with trail.json embedded
    floor  the same text (each message's header line and body) as bare <p> paragraphs, one
           HTML().write_pdf() in the same kind of child, in the same font

Both run in a child forked from the render forkserver (warmed first), so each peak RSS is that
render's own. The trail is made in memory (build.trail_build's shape; no database read): what is
measured is templating, layout and the PDF.

Targets (issue 17): the trail within 1.5x of the floor's time, peak RSS <= 1 GB.

    .venv/bin/python bench/run.py trails
    .venv/bin/python bench/run.py trails --trails-sizes 1000 --trails-font noto
"""

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, fmt, log, render_table  # noqa: E402

NAME = "trails"
FACTOR = 1.5
RSS_LIMIT = 1024 ** 3

BODIES = [
    "请于周五前发货，质检报告见附件。",
    "供应商已确认采购订单 PO-20231026 的全部行，承诺交期 12 月 20 日。",
    "The carrier picked up 40 cartons at 14:20; ETA Shanghai DC tomorrow morning.",
    "库存低于安全库存：SKU-1001 当前 120 件，安全库存 300 件，建议补货 500 件。",
    "收到，已安排仓库明天上午收货，请司机到 3 号月台。",
    "Invoice INV-8841 for 1,250.00 CNY submitted against the received PO; the scan is attached.",
    "融资申请 FA-17 已通过核心企业两级审批，等待资金方审批。",
]
SENDERS = [("supa.rep", "陈供应A", "华东零部件有限公司"), ("acme.buyer", "王采购", "Acme 精密制造"),
           ("", "", "")]


def add_arguments(parser):
    g = parser.add_argument_group("trails")
    g.add_argument("--trails-sizes", default="1000,10000", help="messages per trail, comma-separated")
    g.add_argument("--trails-font", choices=["auto", "wqy", "noto"], default="auto",
                   help="the CJK font (auto: WenQuanYi when installed, else Noto, as the portal chooses)")
    g.add_argument("--trails-repeat", type=int, default=1, help="runs of each case (the best is the figure)")


def _setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.test")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def synthetic_trail(n):
    """A trail of `n` messages in build.trail_build's shape."""
    from audit.trails.build import FORMAT

    prev = "0" * 64
    messages = []
    for i in range(n):
        username, name, org = SENDERS[i % len(SENDERS)]
        kind = "chat" if username else ("event" if i % 2 else "bot")
        digest = hashlib.sha256(f"{prev}{i}".encode()).hexdigest()
        messages.append({
            "room": 1, "room_name": "华东零部件有限公司", "seq": i + 1, "hash": digest, "prev_hash": prev,
            "kind": kind, "kind_label": kind, "sender": username, "sender_name": name, "organization": org,
            "at": f"2026-12-{1 + i * 28 // max(n, 1):02d}T08:{i % 60:02d}:00.000000+00:00", "internal": False,
            "relation": "", "refers_to": None, "tombstone": None, "text": f"{BODIES[i % len(BODIES)]} #{i + 1}",
        })
        prev = digest
    return {
        "format": FORMAT, "tenant": "acme", "kind": "purchase_order", "kind_label": "采购订单", "ref": "PO-20231026",
        "exported_by": {"id": 1, "username": "acme.auditor", "name": "周审计"},
        "exported_at": "2026-12-07T10:00:00.000000+00:00", "language": "zh-hans",
        "record": {"title": "PO-20231026", "state": "confirmed", "state_label": "已确认",
                   "fields": [["供应商", "华东零部件有限公司"], ["币种", "CNY"]]},
        "history": [{"at": "2026-12-01T08:00:00.000000+00:00", "action": "create", "from_state": "", "to_state": "draft",
                     "actor": "acme.buyer"}],
        "approvals": [{"at": "2026-12-02T08:00:00.000000+00:00", "approver": "陈供应A", "organization": "华东零部件有限公司",
                       "stage": "供应商已确认", "decision": "confirmed", "reason": ""}],
        "attachments": [{"name": "质检报告.pdf", "sha256": "ab" * 32, "size": 1234, "source": "1#3"}],
        "messages": messages, "audit_records": [],
        "chain_heads": {"rooms": [{"room": 1, "seq": n, "hash": prev}], "audit": {"seq": 1, "hash": "cd" * 32}},
    }


def floor_html(trail, font):
    """The same text as bare paragraphs in the same font: each message's header line and body."""
    from django.utils.html import escape

    from audit.trails.fonts import FAMILY

    paragraphs = []
    for m in trail["messages"]:
        paragraphs.append(f"<p>{escape(m['at'][:16])} · {escape(m['sender_name'])} · {escape(m['organization'])} · "
                          f"{escape(m['kind_label'])} #{m['seq']}</p><p>{escape(m['text'])}</p><p>{m['hash']}</p>")
    return (f"<html><head><style>{font.css()} body {{ font-family: '{FAMILY}' }}</style></head><body>"
            + "".join(paragraphs) + "</body></html>")


def _floor(trail, font, out):
    from audit.trails import sandbox

    started = time.monotonic()
    result = sandbox.render_pdf(sandbox.RenderJob(chunks=[floor_html(trail, font)], out_path=out,
                                                  base_url="file:///nonexistent/", allowed_files=[str(font.path)]))
    return time.monotonic() - started, result


def _trail(trail, out):
    from audit.trails.render import trail_pdf_to_file

    started = time.monotonic()
    _path, result = trail_pdf_to_file(trail, time_zone="Asia/Shanghai", out_path=out)
    return time.monotonic() - started, result


def run(options):
    if options.trails_font != "auto":
        os.environ["TRAIL_FONT"] = options.trails_font
    _setup_django()
    from audit.trails import sandbox
    from audit.trails.fonts import trail_font

    font = trail_font()
    log(f"font: {font.name} ({font.path})")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.pdf")
        sandbox.render_pdf(sandbox.RenderJob(chunks=["<p>warm</p>"], out_path=out, base_url="file:///nonexistent/"))
        cases = []
        for n in [int(s) for s in options.trails_sizes.split(",") if s.strip()]:
            trail = synthetic_trail(n)
            best = {}
            for attempt in range(options.trails_repeat):
                for label, measure in (("floor", lambda: _floor(trail, font, out)), ("trail", lambda: _trail(trail, out))):
                    seconds, result = measure()
                    size = Path(out).stat().st_size
                    log(f"{n} messages · {label} · {seconds:.2f} s · {result.pages} pages · "
                        f"{result.peak_rss / 2**20:.0f} MB peak · {size / 1024:.0f} KB")
                    if label not in best or seconds < best[label]["seconds"]:
                        best[label] = {"seconds": round(seconds, 3), "pages": result.pages,
                                       "peak_rss": result.peak_rss, "bytes": size}
            cases.append({"messages": n, **{k: v for k, v in best.items()},
                          "ratio": round(best["trail"]["seconds"] / best["floor"]["seconds"], 2)})
    checks = []
    for case in cases:
        checks.append({"check": f"{case['messages']} messages: trail within {FACTOR}x of the floor",
                       "ok": case["ratio"] <= FACTOR, "value": case["ratio"]})
        checks.append({"check": f"{case['messages']} messages: peak RSS <= 1 GB",
                       "ok": case["trail"]["peak_rss"] <= RSS_LIMIT, "value": case["trail"]["peak_rss"]})
    return {"font": font.name, "cases": cases, "checks": checks}


def report(data):
    rows = [
        [c["messages"], fmt(c["floor"]["seconds"], 2), fmt(c["trail"]["seconds"], 2), fmt(c["ratio"], 2),
         c["floor"]["pages"], c["trail"]["pages"], fmt(c["floor"]["peak_rss"] / 2**20, 0), fmt(c["trail"]["peak_rss"] / 2**20, 0)]
        for c in data["cases"]
    ]
    table = render_table(["messages", "floor s", "trail s", "ratio", "floor pages", "trail pages", "floor MB", "trail MB"], rows)
    checks = "\n".join(f"  {'ok  ' if c['ok'] else 'MISS'} {c['check']} ({c['value']})" for c in data["checks"])
    return f"font: {data['font']}\n{table}\n{checks}"


if __name__ == "__main__":
    import argparse

    from _common import add_shared_arguments

    parser = argparse.ArgumentParser(description=__doc__)
    add_shared_arguments(parser)
    add_arguments(parser)
    print(report(run(parser.parse_args())))
