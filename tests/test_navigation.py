"""The navigation fits the role (scm_portal.navigation): every link a reader is shown opens for
them, and every section they are not shown is refused to them; a funder sees no stock pages, an
auditor only pages without buttons to act."""

import re

import pytest
from django.urls import reverse

from scm_portal import navigation
from tests.api_contract import user

pytestmark = pytest.mark.django_db

# Every demo reader, in the tenant they are looked at in.
READERS = [
    ("acme.buyer", "acme"), ("acme.warehouse", "acme"), ("acme.planner", "acme"), ("acme.finance", "acme"),
    ("acme.auditor", "acme"), ("acme.admin", "acme"), ("supa.rep", "acme"), ("supa.rep", "globex"),
    ("supb.rep", "acme"), ("bank.officer", "acme"), ("globex.buyer", "globex"),
]


PER_PAGE = 12  # links followed from each section's page


def nav_links(html):
    """{name: href} of the tenant navigation."""
    block = html.split('data-testid="tenant-nav"', 1)[1].split("</nav>", 1)[0]
    return dict((name, href) for href, name in re.findall(r'<a href="([^"]+)" data-testid="nav-([a-z_]+)"', block))


def tenant_links(html, tenant):
    """Every link of the page into the tenant's pages (the navigation, the panels, the bell)."""
    return sorted({href.replace("&amp;", "&") for href in re.findall(rf'href="(/t/{tenant}/[^"#]*)"', html)})


@pytest.mark.parametrize("username, tenant", READERS)
def test_every_link_on_the_dashboard_and_its_sections_opens_for_its_reader(full_demo, client, username, tenant):
    client.force_login(user(username))
    html = client.get(f"/t/{tenant}/").content.decode()
    assert "dashboard" in nav_links(html)
    opened = set()
    for href in tenant_links(html, tenant):
        response = client.get(href)
        assert response.status_code == 200, f"{username} is linked to {href}"
        opened.add(href)
        if href in nav_links(html).values():
            # and the links of each section's page (its sub-navigation, its first rows)
            for inner in [h for h in tenant_links(response.content.decode(), tenant) if h not in opened][:PER_PAGE]:
                assert client.get(inner).status_code == 200, f"{username} is linked to {inner} from {href}"
                opened.add(inner)


@pytest.mark.parametrize("username, tenant", READERS)
def test_no_section_left_out_of_a_readers_nav_opens_for_them(full_demo, client, username, tenant):
    client.force_login(user(username))
    shown = nav_links(client.get(f"/t/{tenant}/").content.decode())
    for name in sorted(set(navigation._ITEMS) - set(shown)):
        url = reverse(navigation._ITEMS[name].url_name, kwargs={"tenant": tenant})
        assert client.get(url).status_code == 403, f"{username} is not linked to {name} but may open it"


def test_a_funder_sees_no_stock_pages(full_demo, client):
    client.force_login(user("bank.officer"))
    html = client.get("/t/acme/").content.decode()
    assert "stock" not in nav_links(html) and "/t/acme/stock/" not in html
    assert client.get("/t/acme/stock/").status_code == 403
    assert client.get("/t/acme/stock/SKU-1001/").status_code == 403
    # its sections: the ones every member has
    assert set(nav_links(html)) == {"dashboard", "messages", "alerts", "partners", "financing"}


def test_a_supplier_rep_is_linked_to_its_own_stock_and_never_to_members(full_demo, client):
    client.force_login(user("supa.rep"))
    links = nav_links(client.get("/t/acme/").content.decode())
    assert set(links) == {"dashboard", "messages", "alerts", "stock", "orders", "shipments", "scorecards", "partners",
                          "financing"}
    assert client.get("/t/acme/members/").status_code == 403


def test_the_admin_is_linked_to_members(full_demo, client):
    client.force_login(user("acme.admin"))
    assert nav_links(client.get("/t/acme/").content.decode())["members"] == "/t/acme/members/"


def test_an_auditor_reads_without_buttons(full_demo, client):
    client.force_login(user("acme.auditor"))
    links = nav_links(client.get("/t/acme/").content.decode())
    assert "members" not in links
    board = client.get(links["alerts"]).content.decode()
    assert 'data-testid="alert-row"' in board and 'data-action="ack"' not in board
    rooms = re.findall(r'href="(/t/acme/rooms/\d+/)"', client.get(links["messages"]).content.decode())
    assert rooms
    for href in rooms:
        page = client.get(href).content.decode()
        assert 'data-testid="read-only"' in page and 'data-testid="chat-compose"' not in page


def test_navigation_labels_follow_the_language(demo, client):
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    block = html.split('data-testid="tenant-nav"', 1)[1].split("</nav>", 1)[0]
    assert "工作台" in block and "库存" in block
    html = client.get("/t/acme/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    block = html.split('data-testid="tenant-nav"', 1)[1].split("</nav>", 1)[0]
    assert "Dashboard" in block and "Stock" in block


def test_a_section_is_registered_once():
    with pytest.raises(ValueError):
        navigation.register_nav_item("stock", label="Stock", url_name="inventory:stock", roles={"buyer"})


def test_favicon_is_linked_and_served(demo, client):
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in html and 'href="/static/favicon.ico"' in html
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in b"".join(svg.streaming_content)
    ico = client.get("/static/favicon.ico")
    assert ico.status_code == 200 and b"".join(ico.streaming_content)[:4] == b"\x00\x00\x01\x00"
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect["Location"] == "/static/favicon.ico"
