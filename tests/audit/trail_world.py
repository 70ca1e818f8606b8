"""A purchase order and a financing application with everything a trail shows: Chinese chat, a
bot answer, event cards, an attachment, approvals, an internal note; and helpers that read a
trail PDF (its text per page, its embedded JSON)."""

import io
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api_contract import user
from tests.messaging.helpers import post, room_of
from tests.orders.helpers import create, make_catalogue, move, po

CHINESE = "请于周五前发货，质检报告见附件"
INTERNAL = "内部备注：供应商价格偏高"
PO_NUMBER = "PO-20231026"


def po_world(demo):
    """PO-20231026 sent to sup-a and confirmed (cards, the supplier's approval), with a Chinese
    message and a scan about it, a bot answer to a question about it, and a buyer's internal note."""
    make_catalogue(demo)
    order = create()
    order = move("send", order, "acme.buyer")
    order = move("confirm", order, "supa.rep")
    room = room_of("acme", "sup-a")
    subject = {"kind": "purchase_order", "id": PO_NUMBER}
    scan = SimpleUploadedFile("质检报告.pdf", b"%PDF-1.4 quality report", content_type="application/pdf")
    post("supa.rep", room, CHINESE, subject=subject, files=[scan])
    post("supa.rep", room, f"/po {PO_NUMBER}", subject=subject)
    post("acme.buyer", room, INTERNAL, subject=subject, internal=True)
    return po(PO_NUMBER)


def financing_world(demo):
    """A financing application approved by acme's two approvers and the bank, with an invoice scan
    and a Chinese message about it."""
    from django.core.files.uploadedfile import SimpleUploadedFile as Upload

    from finance import services
    from tests.finance import factories

    order = factories.received_po(lines=((1, "1000.00"),))
    invoice = factories.invoice(order, "1000.00")
    rep, rep_context = factories.ctx("supa.rep")
    services.invoice_attachment_add(tenant=invoice.tenant, actor=rep, context=rep_context, invoice=invoice,
                                    upload=Upload("发票.pdf", b"%PDF-1.4 invoice scan"))
    finance, finance_context = factories.ctx("acme.finance")
    receivable = services.receivable_confirm(tenant=invoice.tenant, actor=finance, context=finance_context,
                                             receivable=invoice.receivable,
                                             due_date=factories.tenant_today() + timedelta(days=90))
    application = factories.apply([receivable], "900.00")
    for username in ("acme.finance", "acme.cfo", "bank.officer"):
        application = factories.approve(application, username)
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "融资申请材料已补充", subject={"kind": "financing_application", "id": application.pk})
    return application


def pdf_pages_text(pdf):
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_text(pdf):
    return "\n".join(pdf_pages_text(pdf))


def squeeze(text):
    """Text without line breaks and spaces (a long line wraps where the layout chose)."""
    return "".join(text.split())


def auditor():
    return user("acme.auditor")
