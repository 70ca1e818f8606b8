"""The financing pages' lists come in pages (Django's Paginator and templates/pagination.html, as
the portal's other lists): applications, receivables, invoices, the two queues and the repayment
calendar. A `?page=` that is not a page answers the nearest one (not a number: the first; past the
end: the last), never an error. The two queues are one view under two addresses; the application
page and the queues answer their live part (`?part=live`), which the page re-reads when the
application moves (static/portal/portal.js; the browser side in tests/e2e/test_financing_live.py)."""

import re

import pytest
from django.urls import resolve, reverse

from finance import views
from tests.api_contract import user
from tests.finance.factories import apply, approve, confirmed_receivable, disburse, funder_approved, received_po
from tests.finance.test_pages import code

pytestmark = pytest.mark.django_db
F = "/t/acme/financing/"


def requested():
    return apply([confirmed_receivable("2000.00")], "100.00")


def funder_review():
    application = requested()
    approve(application, "acme.finance")
    return approve(application, "acme.cfo")


def disbursed():
    application = funder_approved()
    disburse(application, key=f"key-{application.pk}")
    return application


# page: (reader, what makes one row, the row's marker, the empty state's marker)
LISTS = {
    "": ("supa.rep", requested, r'data-testid="fa-row" data-id="(\d+)"', 'data-testid="fa-empty"'),
    "receivables/": ("supa.rep", requested, r'data-testid="receivable-row" data-id="(\d+)"',
                     'data-testid="receivables-empty"'),
    "invoices/": ("acme.finance", requested, r'data-testid="invoice-row" data-number="([^"]+)"',
                  'data-testid="invoices-empty"'),
    "approvals/": ("acme.finance", requested, r'data-testid="fa-queue-item" data-id="(\d+)"',
                   'data-testid="fa-queue-empty"'),
    "funder/": ("bank.officer", funder_review, r'data-testid="fa-queue-item" data-id="(\d+)"',
                'data-testid="fa-queue-empty"'),
    "calendar/": ("acme.finance", disbursed, r'data-testid="fa-due" data-id="(\d+)"', 'data-testid="fa-calendar-empty"'),
}


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    monkeypatch.setattr(views, "QUEUE_PAGE_SIZE", 2)


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def rows(html, marker):
    return re.findall(marker, html)


@pytest.mark.parametrize("path", sorted(LISTS))
def test_each_list_comes_in_pages(demo, client, small_pages, path):
    reader, make, marker, _empty = LISTS[path]
    for _ in range(3):
        make()
    client.force_login(user(reader))

    first = get(client, F + path)
    assert len(rows(first, marker)) == 2
    assert 'data-testid="pagination"' in first and "Page 1 of 2" in first
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert next_link == "?page=2" and 'rel="prev"' not in first

    second = get(client, F + path + next_link)
    assert len(rows(second, marker)) == 1 and "Page 2 of 2" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert set(rows(first, marker)).isdisjoint(rows(second, marker))

    # A page that is not one answers the nearest: the first for what is not a number, else the last
    for bad in ("abc", "", "1.5", "2%27", "%3Cb%3E"):
        assert rows(get(client, f"{F}{path}?page={bad}"), marker) == rows(first, marker), bad
    for past in ("0", "-1", "3", "9" * 30):
        assert rows(get(client, f"{F}{path}?page={past}"), marker) == rows(second, marker), past
    assert client.get(f"{F}{path}?page=%00").status_code == 400  # a NUL is refused before any page


@pytest.mark.parametrize("path", sorted(LISTS))
def test_an_empty_list_shows_its_empty_state_and_no_pages(demo, client, small_pages, path):
    reader, _make, marker, empty = LISTS[path]
    client.force_login(user(reader))
    for url in (F + path, F + path + "?page=7", F + path + "?page=x"):
        html = get(client, url)
        assert empty in html and rows(html, marker) == [] and 'data-testid="pagination"' not in html


def test_the_filter_stays_on_the_next_page(demo, client, small_pages):
    for _ in range(3):
        requested()
    client.force_login(user("supa.rep"))
    first = get(client, F + "?state=requested")
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "state=requested" in next_link and "page=2" in next_link
    assert 'data-state="requested"' in get(client, F + next_link)


def test_the_forms_of_a_queues_second_page_come_back_to_it(demo, client, small_pages):
    made = [requested() for _ in range(3)]
    client.force_login(user("acme.finance"))
    response = client.post("/accounts/totp/verify/", {"code": code(), "next": F + "approvals/?page=2"})
    assert response.status_code == 302 and response["Location"] == F + "approvals/?page=2"
    html = get(client, F + "approvals/?page=2")
    assert 'name="next" value="/t/acme/financing/approvals/?page=2"' in html
    last = rows(html, LISTS["approvals/"][2])
    assert last == [str(made[-1].pk)]
    response = client.post(f"{F}{last[0]}/approve/", {"next": "/t/acme/financing/approvals/?page=2"})
    assert response.status_code == 302 and response["Location"] == "/t/acme/financing/approvals/?page=2"


# --- one queue view, two addresses ------------------------------------------------------------------


def test_both_queues_are_one_view_under_their_own_names_and_paths(demo):
    approvals = reverse("finance:approvals", kwargs={"tenant": "acme"})
    funder = reverse("finance:funder", kwargs={"tenant": "acme"})
    assert (approvals, funder) == (F + "approvals/", F + "funder/")
    assert resolve(approvals).func is resolve(funder).func
    assert resolve(approvals).kwargs["queue"] == "approvals" and resolve(funder).kwargs["queue"] == "funder"


def test_each_queue_keeps_its_roles_and_its_applications(demo, client):
    waiting, ready = requested(), funder_review()
    client.force_login(user("acme.finance"))
    html = get(client, F + "approvals/")
    assert f'data-id="{waiting.pk}"' in html and f'data-id="{ready.pk}"' not in html
    assert 'aria-current="page"' in html.split('data-testid="tab-approvals"')[1][:40]
    assert client.get(F + "funder/").status_code == 403
    client.force_login(user("bank.officer"))
    html = get(client, F + "funder/")
    assert f'data-id="{ready.pk}"' in html and f'data-id="{waiting.pk}"' not in html
    assert client.get(F + "approvals/").status_code == 403


# --- the live parts ------------------------------------------------------------------------------


def test_the_application_page_is_live_and_answers_its_live_part(demo, client):
    application = requested()
    client.force_login(user("acme.finance"))
    page = get(client, f"{F}{application.pk}/")
    assert 'data-live-part' in page and 'data-live-subject="financing_application"' in page
    assert f'data-live-id="{application.pk}"' in page
    assert f'data-live-url="{F}{application.pk}/?part=live"' in page

    live = get(client, f"{F}{application.pk}/?part=live")
    assert "<html" not in live and 'data-testid="finance-tabs"' not in live
    assert 'data-testid="fa-state" data-state="requested"' in live and 'data-testid="fa-conversation"' in live
    # the comment form is outside the live part: what the reader is writing is never replaced
    assert 'data-testid="fa-comment-form"' in page and 'data-testid="fa-comment-form"' not in live

    approve(application, "acme.cfo")
    assert 'data-state="core_review"' in get(client, f"{F}{application.pk}/?part=live")
    # the part's forms come back to the page, never to the part
    assert "part=live" not in re.sub(r'data-live-url="[^"]*"', "", get(client, f"{F}{application.pk}/?part=live"))


def test_a_queue_answers_its_live_part_for_the_page_it_shows(demo, client, small_pages):
    made = [requested() for _ in range(3)]
    client.force_login(user("acme.finance"))
    page = get(client, F + "approvals/?page=2")
    assert 'data-live-url="?page=2&amp;part=live"' in page and 'data-live-subject="financing_application"' in page
    assert "data-live-id" not in page  # any application's move may change the queue
    live = get(client, F + "approvals/?page=2&part=live")
    assert "<html" not in live and rows(live, LISTS["approvals/"][2]) == [str(made[-1].pk)]
    # its page links and forms lead to the page, never to the part
    assert "part=live" not in live and 'href="?page=1" rel="prev"' in live

    approve(made[0], "acme.finance")  # decided by them, it leaves their queue: one page is left
    live = get(client, F + "approvals/?page=2&part=live")
    assert rows(live, LISTS["approvals/"][2]) == [str(made[1].pk), str(made[2].pk)]
    assert 'data-testid="pagination"' not in live


def test_the_po_page_uses_the_same_live_part(demo, client):
    order = received_po()
    client.force_login(user("acme.buyer"))
    page = get(client, f"/t/acme/orders/{order.number}/")
    assert 'data-live-part' in page and 'data-live-subject="purchase_order"' in page
    assert f'data-live-id="{order.number}"' in page and "portal/orders.js" not in page


def test_a_refusals_reason_stays_outside_the_live_part(demo, client):
    application = requested()
    client.force_login(user("acme.finance"))  # not verified with TOTP: approving is refused
    response = client.post(f"{F}{application.pk}/approve/", {"next": f"{F}{application.pk}/"})
    html = response.content.decode()
    assert response.status_code == 403 and 'data-testid="fa-error"' in html
    # the page reads its live part again as soon as its socket connects: the reason is not in it
    assert html.index('data-testid="fa-error"') < html.index("data-live-part")
    assert 'data-testid="fa-error"' not in get(client, f"{F}{application.pk}/?part=live")
