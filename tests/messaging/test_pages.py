"""Chat pages: the room list and a room (templates/messaging/, messaging/views.py).

The pages render the frame of a conversation; messages arrive through the JSON API and the
socket (static/portal/chat.js), so escaping is checked on both the page and the API answer.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import demo as messaging_demo
from messaging import services
from messaging.models import Message, Room, RoomKind
from scm_portal.tenancy.models import Organization, Tenant
from tests.api_contract import user
from tests.messaging.helpers import post_as

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"


def partner_room(tenant_slug, org_slug):
    return Room.objects.get(tenant__slug=tenant_slug, kind=RoomKind.PARTNER, partnership__organization__slug=org_slug)


def internal_room(tenant_slug):
    return Room.objects.filter(tenant__slug=tenant_slug, kind=RoomKind.INTERNAL).order_by("pk").first()


def room_url(room, tenant="acme"):
    return f"/t/{tenant}/rooms/{room.pk}/"


@pytest.fixture
def chats(demo):
    messaging_demo.seed(demo)
    return demo


# --- login and access -------------------------------------------------------------------------

def test_anonymous_is_sent_to_login(chats, client):
    room = partner_room("acme", "sup-a")
    for url in ["/t/acme/rooms/", room_url(room)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/accounts/login/"), url


@pytest.mark.parametrize("username", ["acme.buyer", "supa.rep", "acme.auditor"])
def test_permitted_users_see_the_room_list_and_the_room(chats, client, username):
    room = partner_room("acme", "sup-a")
    client.force_login(user(username))

    listing = client.get("/t/acme/rooms/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f'data-room="{room.pk}"' in html
    assert f'href="{room_url(room)}"' in html
    assert 'data-partner="sup-a"' in html

    page = client.get(room_url(room))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-chat="room"' in html
    assert f'data-room="{room.pk}"' in html
    assert f'data-last-seq="{room.last_seq}"' in html
    assert 'data-ws-path="/ws/t/acme/"' in html
    assert f'data-room-api="/api/v1/t/acme/rooms/{room.pk}/"' in html
    assert "portal/chat.js" in html
    assert 'id="chat-strings"' in html


def test_room_list_shows_only_the_users_rooms(chats, client):
    client.force_login(user("supa.rep"))
    html = client.get("/t/acme/rooms/").content.decode()
    shown = set(map(int, re.findall(r'<li class="room-item" data-room="(\d+)"', html)))
    assert shown == {partner_room("acme", "sup-a").pk}


def test_a_foreign_tenants_room_is_404(chats, client):
    globex_room = partner_room("globex", "sup-a")
    client.force_login(user("acme.buyer"))
    assert client.get(room_url(globex_room, tenant="acme")).status_code == 404
    assert client.get(room_url(globex_room, tenant="globex")).status_code == 404
    assert client.get("/t/globex/rooms/").status_code == 404

    # supa.rep works for both tenants: globex's room under acme's URL is still 404
    client.force_login(user("supa.rep"))
    assert client.get(room_url(globex_room, tenant="acme")).status_code == 404
    assert client.get(room_url(globex_room, tenant="globex")).status_code == 200


def test_a_room_the_user_may_not_see_is_404(chats, client):
    client.force_login(user("supb.rep"))
    assert client.get(room_url(partner_room("acme", "sup-a"))).status_code == 404
    assert client.get(room_url(internal_room("acme"))).status_code == 404
    assert client.get(room_url(partner_room("acme", "sup-b"))).status_code == 200
    assert client.get("/t/acme/rooms/999999/").status_code == 404


def test_the_nav_links_to_messages(chats, client):
    client.force_login(user("acme.buyer"))
    html = client.get("/t/acme/").content.decode()
    assert 'href="/t/acme/rooms/"' in html


# --- what the pages show ----------------------------------------------------------------------

def test_unread_counts_and_last_activity(chats, client):
    room = partner_room("acme", "sup-a")
    # the demo conversation: 2 messages by acme.buyer, 2 by supa.rep, 1 event card
    client.force_login(user("supa.rep"))
    html = client.get("/t/acme/rooms/").content.decode()
    item = html.split(f'data-room="{room.pk}"', 1)[1].split("</li>", 1)[0]
    assert 'data-count="3"' in item  # the buyer's two messages and the event card
    assert "datetime=" in item

    services.room_read(tenant=room.tenant, user=user("supa.rep"), room=room, seq=room.last_seq)
    item = client.get("/t/acme/rooms/").content.decode().split(f'data-room="{room.pk}"', 1)[1].split("</li>", 1)[0]
    assert 'data-count="0"' in item
    assert 'data-testid="unread" hidden' in item


def test_empty_state_without_rooms(chats, client):
    from scm_portal.tenancy import services as tenancy_services
    from tests.factories import UserFactory

    lonely = UserFactory(username="acme.newcomer")
    tenant = Tenant.objects.get(slug="acme")
    tenancy_services.membership_create(
        tenant=tenant, actor=None, user=lonely, organization=Organization.objects.get(slug="acme"), role="tenant_admin"
    )
    # a tenant admin sees the tenant-wide internal room; hide it to reach the empty state
    Room.objects.filter(tenant=tenant, kind=RoomKind.INTERNAL).update(team_role="auditor")
    client.force_login(lonely)
    html = client.get("/t/acme/rooms/").content.decode()
    assert 'data-testid="rooms-empty"' in html
    assert 'data-testid="room-list"' not in html


def test_auditor_gets_a_read_only_room(chats, client):
    client.force_login(user("acme.auditor"))
    html = client.get(room_url(partner_room("acme", "sup-a"))).content.decode()
    assert 'data-testid="read-only"' in html
    assert 'data-testid="chat-input"' not in html


def test_internal_note_toggle_only_for_core_staff_in_partner_rooms(chats, client):
    room = partner_room("acme", "sup-a")
    client.force_login(user("acme.buyer"))
    assert 'data-testid="internal-toggle"' in client.get(room_url(room)).content.decode()
    assert 'data-testid="internal-toggle"' not in client.get(room_url(internal_room("acme"))).content.decode()
    client.force_login(user("supa.rep"))
    html = client.get(room_url(room)).content.decode()
    assert 'data-testid="chat-input"' in html
    assert 'data-testid="internal-toggle"' not in html


def test_pages_render_in_the_tenants_language_by_default(chats, client, settings):
    """A browser naming no supported language, for a user with none saved: acme's Chinese, even
    where the portal's own default is English."""
    settings.LANGUAGE_CODE = "en"
    client.force_login(user("acme.buyer"))
    for url in ["/t/acme/rooms/", room_url(partner_room("acme", "sup-a"))]:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="fr-FR")
        assert response.status_code == 200
        assert '<html lang="zh-hans"' in response.content.decode()


# --- escaping ---------------------------------------------------------------------------------

def test_no_user_text_reaches_the_page_unescaped(chats, client):
    tenant = Tenant.objects.get(slug="acme")
    room = partner_room("acme", "sup-a")
    post_as(user("acme.buyer"), room, f"look {SCRIPT} **bold**")
    hostile = services.room_create_internal(tenant=tenant, actor=user("acme.admin"), name=f"team {SCRIPT}")

    client.force_login(user("acme.buyer"))
    for url in ["/t/acme/rooms/", room_url(room), room_url(hostile)]:
        html = client.get(url).content.decode()
        assert SCRIPT not in html, url
    assert "team &lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/t/acme/rooms/").content.decode()


def test_the_api_the_page_loads_serves_escaped_html(chats, client):
    room = partner_room("acme", "sup-a")
    message, _ = post_as(user("acme.buyer"), room, f"look {SCRIPT} **bold**")

    client.force_login(user("supa.rep"))  # session auth, like the page's script
    response = client.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?before_seq={message.seq + 1}&limit=50")
    assert response.status_code == 200
    frame = next(f for f in response.json()["results"] if f["seq"] == message.seq)
    assert "<script" not in frame["body_html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in frame["body_html"]
    assert "<strong>bold</strong>" in frame["body_html"]
    assert frame["body"] == f"look {SCRIPT} **bold**"  # the source, which the page never inserts as HTML

    search = client.get(f"/api/v1/t/acme/messages/search/?q=alert&room={room.pk}").json()["results"]
    assert [f["seq"] for f in search] == [message.seq]
    assert "<script" not in search[0]["body_html"]


# --- the demo conversation -----------------------------------------------------------------------

def test_demo_conversation_is_seeded_once(chats):
    room = partner_room("acme", "sup-a")
    note_room = internal_room("acme")
    before = (Message.objects.filter(room=room).count(), Message.objects.filter(room=note_room).count())
    messaging_demo.seed(chats)
    messaging_demo.seed(chats)
    assert (Message.objects.filter(room=room).count(), Message.objects.filter(room=note_room).count()) == before

    messages = list(Message.objects.filter(room=room).order_by("seq"))
    assert {m.sender.username for m in messages if m.kind == "chat"} == {"acme.buyer", "supa.rep"}
    card = next(m for m in messages if m.kind == "event")
    assert [a["name"] for a in card.actions] == ["acknowledge"]
    note = Message.objects.get(room=note_room)
    assert note.internal and note.sender.username == "acme.buyer"
    assert Message.objects.filter(room=partner_room("acme", "sup-b")).count() == 0


# --- query budget ---------------------------------------------------------------------------------

def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_room_list_queries_do_not_grow_with_rooms(chats, client, django_assert_max_num_queries):
    tenant = Tenant.objects.get(slug="acme")
    client.force_login(user("acme.buyer"))
    client.get("/t/acme/rooms/")  # warm caches (content types, sessions)
    few = _count_queries(client, "/t/acme/rooms/")

    for number in range(8):
        room = services.room_create_internal(tenant=tenant, actor=user("acme.admin"), name=f"班组 {number}")
        post_as(user("acme.planner"), room, f"第 {number} 条")
    many = _count_queries(client, "/t/acme/rooms/")

    html = client.get("/t/acme/rooms/").content.decode()
    assert html.count('class="room-item"') == 3 + 8
    assert many == few
    with django_assert_max_num_queries(15):
        client.get("/t/acme/rooms/")
