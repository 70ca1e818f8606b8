"""The bot's financing intents (finance.bot): "我想融资" / "I want financing" and /financing, asked
in Chinese or in English, answered in the asker's language with only what the asker may see."""

from decimal import Decimal

import pytest

from finance import services
from finance.links import apply_url
from finance.models import FinancingTerms
from messaging.bot import match_intent
from messaging.models import Message
from messaging.texts import text_render
from tests.api_contract import user
from tests.finance.factories import apply, approve, confirmed_receivable, ctx
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db


def ask(username, room, question):
    post(username, room, question)
    answer = Message.objects.filter(room=room, kind="bot").order_by("-seq").first()
    assert answer is not None and answer.recipient.username == username
    return answer


def read(api, username, message, language):
    """The answer as its reader's client shows it, in `language` (Accept-Language)."""
    response = api.as_user(user(username)).get(f"/api/v1/t/acme/rooms/{message.room_id}/messages/",
                                               HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return next(f for f in response.json()["results"] if f["seq"] == message.seq)["body"]


@pytest.mark.parametrize("question, intent", [
    ("@bot 我想融资", "financing_eligible"),
    ("@bot 我要融资", "financing_eligible"),
    ("@bot 申请融资", "financing_eligible"),
    ("@bot I want financing", "financing_eligible"),
    ("@bot we need financing", "financing_eligible"),
    ("@bot I'd like to get financing", "financing_eligible"),
    ("@bot how do I apply for financing?", "financing_eligible"),
    ("/finance", "financing_eligible"),
    ("/financing", "financing_list"),
    ("@bot 我的融资申请", "financing_list"),
    ("@bot my financing applications", "financing_list"),
])
def test_the_questions_find_their_intent(demo, question, intent):
    found, _match, _rest = match_intent(question)
    assert found is not None and found.name == intent


def test_a_supplier_is_told_its_eligible_receivables_their_cost_and_where_to_apply(demo, api):
    first = confirmed_receivable("1000.00", due_in=90)
    second = confirmed_receivable("500.00", due_in=30)
    pledged = confirmed_receivable("800.00", due_in=60)
    apply([pledged], "700.00")  # in a live application: not offered again
    others = confirmed_receivable("2000.00", supplier="sup-b")  # another supplier's: never shown
    room = room_of("acme", "sup-a")
    answer = ask("supa.rep", room, "@bot 我想融资")
    assert answer.payload == {"intent": "financing_eligible"} and answer.text["key"] == "finance.bot.eligible"
    chinese = read(api, "supa.rep", answer, "zh-hans")
    english = read(api, "supa.rep", answer, "en")
    _who, context = ctx("supa.rep")
    bank = services._partner(context.tenant, first.holder.__class__.objects.get(slug="bank"), "funder", "funder")
    for receivable in (second, first):
        quote = services.financing_quote(tenant=context.tenant, actor=user("supa.rep"), context=context,
                                         receivables=[receivable.pk], amount=receivable.amount * Decimal("0.9"), funder=bank)
        assert f"Receivable #{receivable.pk} (invoice {receivable.invoice.number}): " in english
        assert f"costs {quote.cost} CNY" in english and f"up to {quote.amount} CNY for {quote.days} days" in english
        assert f"#{receivable.pk}" in chinese and str(quote.cost) in chinese
    assert english.index(f"#{second.pk}") < english.index(f"#{first.pk}")  # the soonest due first
    assert f"#{pledged.pk}" not in english and f"#{others.pk}" not in english and "2,000" not in english
    assert apply_url("acme") in english and apply_url("acme") in chinese
    assert apply_url("acme").startswith("/t/acme/") and apply_url("acme").endswith("/apply/")
    assert english.startswith("You can finance these confirmed receivables")
    assert chinese != english and "融资" in chinese


def test_the_answer_is_private_to_the_asker(demo, api):
    confirmed_receivable("1000.00")
    room = room_of("acme", "sup-a")
    answer = ask("supa.rep", room, "@bot I want financing")
    response = api.as_user(user("acme.buyer")).get(f"/api/v1/t/acme/rooms/{room.pk}/messages/")
    assert answer.seq not in [f["seq"] for f in response.json()["results"]]


def test_another_supplier_asking_sees_only_its_own(demo, api):
    mine = confirmed_receivable("2000.00", supplier="sup-b")
    confirmed_receivable("1000.00")  # sup-a's
    answer = ask("supb.rep", room_of("acme", "sup-b"), "@bot 我想融资")
    english = read(api, "supb.rep", answer, "en")
    assert f"#{mine.pk}" in english and english.count("- Receivable #") == 1


def test_nothing_to_finance_is_said_plainly(demo, api):
    answer = ask("supa.rep", room_of("acme", "sup-a"), "@bot I want financing")
    assert answer.text["key"] == "finance.bot.none_eligible"
    assert apply_url("acme") in read(api, "supa.rep", answer, "en")


def test_someone_who_is_not_a_supplier_is_pointed_at_financing(demo, api):
    confirmed_receivable("1000.00")
    answer = ask("acme.buyer", room_of("acme", "sup-a"), "@bot 我想融资")
    assert answer.text["key"] == "finance.bot.not_supplier"
    assert "Receivable" not in read(api, "acme.buyer", answer, "en")


def test_the_quote_uses_the_tenants_terms(demo, api):
    from scm_portal.tenancy.models import Tenant

    FinancingTerms.objects.create(tenant=Tenant.objects.get(slug="acme"), annual_rate=Decimal("0.120000"),
                                  advance_rate=Decimal("0.5000"))
    confirmed_receivable("1000.00")
    english = read(api, "supa.rep", ask("supa.rep", room_of("acme", "sup-a"), "@bot I want financing"), "en")
    assert "12.00% a year, up to 50% of each" in english and "up to 500.00 CNY" in english


def test_financing_lists_the_askers_applications_per_role(demo, api):
    mine = apply([confirmed_receivable("1000.00")], "900.00")
    theirs = apply([confirmed_receivable("1000.00", supplier="sup-b")], "900.00", username="supb.rep")
    decided = apply([confirmed_receivable("600.00")], "500.00")
    approve(decided, "acme.finance")
    supplier = read(api, "supa.rep", ask("supa.rep", room_of("acme", "sup-a"), "/financing"), "en")
    assert supplier.startswith("Your organisation's financing applications:")
    assert f"FA-{mine.pk} " in supplier and f"FA-{decided.pk} " in supplier and f"FA-{theirs.pk} " not in supplier
    assert "Requested" in supplier and "In core review" in supplier
    approver = read(api, "acme.finance", ask("acme.finance", room_of("acme", "bank"), "/financing"), "en")
    assert approver.startswith("Financing applications awaiting your decision:")
    assert f"FA-{mine.pk} " in approver and f"FA-{theirs.pk} " in approver and f"FA-{decided.pk} " not in approver
    funder = read(api, "bank.officer", ask("bank.officer", room_of("acme", "bank"), "/financing"), "zh-hans")
    assert all(f"FA-{a.pk} " in funder for a in (mine, theirs, decided))
    assert "待审" in funder or "审核" in funder or "已申请" in funder  # the states in Chinese
    nobody = ask("acme.buyer", room_of("acme", "sup-a"), "/financing")
    assert nobody.text["key"] == "finance.bot.no_applications"
    assert text_render(nobody.text, "en") == "There are no financing applications for you here."
