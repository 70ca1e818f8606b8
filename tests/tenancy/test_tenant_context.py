"""The choke point with a precomputed TenantContext answers exactly like the generic one.

Every model with an access policy, every demo user, both tenants, every action the policy
names; plus the guards (a context only holds in its own tenant, for its own user) and the
compiled-query cache behind the access helpers.
"""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import Http404
from django.utils import timezone

from scm_portal.tenancy.access import (
    access_in_context,
    access_tenant,
    access_tenant_context,
    access_tenant_context_and_row,
    tenant_context_for,
)
from scm_portal.db.templates import InsertTemplate, QueryTemplate, pipeline
from scm_portal.tenancy.models import Membership, Partnership, Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import Role
from tests.api_contract import user
from tests.pg_trace import WAITS, libpq_trace

pytestmark = pytest.mark.django_db


def policy_models():
    models = []
    for model in apps.get_models():
        if getattr(model, "access_policy", None) is None:
            continue
        if isinstance(model._default_manager.get_queryset(), TenantQuerySet):
            models.append(model)
    return models


def policy_actions(model):
    policy = model.access_policy
    return {"view"} | set(policy.core) | set(policy.partner) | set(policy.object_permissions)


def assert_same_answers(models=None):
    """For each user, tenant, model and action: the same rows with and without a context."""
    checked = 0
    for tenant in Tenant.objects.all():
        for someone in get_user_model().objects.all():
            context = tenant_context_for(someone, tenant)
            for model in models or policy_models():
                for action in sorted(policy_actions(model)):
                    generic = set(
                        model.objects.for_tenant(tenant).visible_to(someone, action).values_list("pk", flat=True)
                    )
                    if not context.memberships:
                        assert generic == set(), (someone.username, tenant.slug, model.__name__, action)
                    in_context = set(
                        model.objects.for_tenant(tenant)
                        .visible_to(someone, action, context=context)
                        .values_list("pk", flat=True)
                    )
                    assert in_context == generic, (someone.username, tenant.slug, model.__name__, action)
                    checked += 1
    assert checked
    return checked


def test_the_check_covers_the_policy_models():
    names = {model.__name__ for model in policy_models()}
    assert {"Partnership", "Membership", "Room", "Message"} <= names


def test_every_policy_answers_the_same_with_a_context(full_demo):
    assert_same_answers()


def test_a_deactivated_partnership_answers_the_same(full_demo):
    acme = full_demo["tenants"]["acme"]
    partnership = Partnership.objects.get(tenant=acme, organization__slug="sup-a")
    from scm_portal.tenancy import services

    services.partnership_set_active(tenant=acme, actor=None, partnership=partnership, active=False)
    assert tenant_context_for(user("supa.rep"), acme).memberships == frozenset()  # its people lose the tenant at once
    assert tenant_context_for(user("supa.rep"), full_demo["tenants"]["globex"]).memberships
    assert_same_answers()


def test_a_deactivated_membership_and_an_inactive_user_answer_the_same(full_demo):
    acme = full_demo["tenants"]["acme"]
    from scm_portal.tenancy import services

    membership = Membership.objects.get(user__username="acme.planner", tenant=acme)
    services.membership_set_active(tenant=acme, actor=None, membership=membership, active=False)
    get_user_model().objects.filter(username="acme.warehouse").update(is_active=False)
    assert tenant_context_for(user("acme.planner"), acme).memberships == frozenset()
    assert_same_answers()


def test_context_memberships_are_the_active_ones(demo):
    acme = demo["tenants"]["acme"]
    supa = user("supa.rep")
    context = access_tenant_context(supa, "acme")
    assert context.tenant == acme and context.user_id == supa.pk
    assert context.roles == {Role.SUPPLIER_REP}
    assert context.organizations({Role.SUPPLIER_REP}) == {demo["organizations"]["sup-a"].pk}
    assert context.organizations({Role.BUYER}) == frozenset()
    assert context == tenant_context_for(supa, acme)


def test_access_tenant_context_answers_like_access_tenant(demo, django_assert_num_queries):
    buyer = user("acme.buyer")
    with django_assert_num_queries(1):
        context = access_tenant_context(buyer, "acme")
    assert context.tenant == access_tenant(buyer, "acme")
    loaded = context.tenant
    stored = Tenant.objects.get(slug="acme")
    assert [getattr(loaded, f.attname) for f in Tenant._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in Tenant._meta.concrete_fields
    ]
    assert not loaded._state.adding
    for slug in ["globex", "missing", None, 5]:
        with pytest.raises(Http404):
            access_tenant_context(buyer, slug)
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(Http404):
        access_tenant_context(AnonymousUser(), "acme")


def test_a_context_only_holds_in_its_own_tenant_and_for_its_own_user(demo):
    supa = user("supa.rep")
    acme_context = access_tenant_context(supa, "acme")
    globex = demo["tenants"]["globex"]
    # Limited to another tenant's rows: the context keeps its own tenant, so nothing is left.
    assert not Partnership.objects.for_tenant(globex).visible_to(supa, "view", context=acme_context).exists()
    with pytest.raises(ValueError, match="another user"):
        Partnership.objects.visible_to(user("supb.rep"), "view", context=acme_context)
    # Unscoped, or combined with another tenant's rows: the context still keeps its tenant only.
    generic = {p.tenant.slug for p in Partnership.objects.visible_to(supa)}
    assert generic == {"acme", "globex"}
    scoped = Partnership.objects.visible_to(supa, "view", context=acme_context)
    assert {p.tenant.slug for p in scoped} == {"acme"}
    both = Partnership.objects.for_tenant(demo["tenants"]["acme"]) | Partnership.objects.for_tenant(globex)
    assert {p.tenant.slug for p in both.visible_to(supa, "view", context=acme_context)} == {"acme"}


def test_access_in_context_is_a_404_like_the_other_helpers(demo):
    buyer = user("acme.buyer")
    context = access_tenant_context(buyer, "acme")
    own = Partnership.objects.get(tenant__slug="acme", organization__slug="sup-a")
    found = access_in_context(Partnership, buyer, context, own.pk)
    assert (found.pk, found.tenant_id, found.organization_id, found.kind) == (
        own.pk, own.tenant_id, own.organization_id, own.kind
    )
    foreign = Partnership.objects.get(tenant__slug="globex").pk
    for pk in [foreign, 999999, "abc", None, 10**30, -(10**30)]:
        with pytest.raises(Http404):
            access_in_context(Partnership, buyer, context, pk)
    with pytest.raises(Http404):  # a role that may not change partners
        access_in_context(Partnership, buyer, context, own.pk, "change")
    with pytest.raises(ValueError):
        access_in_context(Partnership, user("acme.admin"), context, own.pk)


class TestContextAndRow:
    """access_tenant_context_and_row: the context as the memberships stand now, and a row read with it."""

    def test_it_is_two_statements_the_context_then_the_row(self, demo, django_assert_num_queries):
        from messaging.models import Room

        supa, acme = user("supa.rep"), demo["tenants"]["acme"]
        room = Room.objects.get(tenant=acme, partnership__organization__slug="sup-a")
        with django_assert_num_queries(2):
            context, found = access_tenant_context_and_row(supa, acme.pk, Room, room.pk)
        assert (found.pk, context.tenant.slug, context.memberships) == (room.pk, "acme", access_tenant_context(supa, "acme").memberships)

    def test_another_partners_room_is_a_404(self, demo):
        from messaging.models import Room

        supb, acme = user("supb.rep"), demo["tenants"]["acme"]
        room = Room.objects.get(tenant=acme, partnership__organization__slug="sup-a")
        with pytest.raises(Http404):
            access_tenant_context_and_row(supb, acme.pk, Room, room.pk)

    def test_without_an_active_membership_or_with_a_bad_id_it_is_a_404(self, demo):
        from messaging.models import Room

        supa, acme, globex = user("supa.rep"), demo["tenants"]["acme"], demo["tenants"]["globex"]
        room = Room.objects.get(tenant=acme, partnership__organization__slug="sup-a")
        assert access_tenant_context_and_row(supa, acme.pk, Room, room.pk)[1].pk == room.pk
        Membership.objects.filter(user=supa, tenant=acme).update(active=False)
        with pytest.raises(Http404):
            access_tenant_context_and_row(supa, acme.pk, Room, room.pk)
        other_tenant_room = Room.objects.filter(tenant=globex).first().pk
        for tenant_id, pk in [(globex.pk, room.pk), (globex.pk, "abc"), (globex.pk, 10**30), (True, other_tenant_room),
                              ("1", other_tenant_room)]:
            with pytest.raises(Http404):
                access_tenant_context_and_row(supa, tenant_id, Room, pk)


def test_a_policy_must_override_both_forms_of_its_rule():
    with pytest.raises(TypeError, match="together"):

        class Partial(AccessPolicy):
            def condition(self, model, user, action):
                return super().condition(model, user, action)


class TestQueryTemplate:
    def test_compiles_once_per_shape_and_swaps_the_values(self, demo):
        calls = []

        def build(shape, *, slug, ids):
            calls.append(shape)
            return Tenant.objects.filter(slug=slug, pk__in=ids).values_list("slug", flat=False)

        template = QueryTemplate(build)
        acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
        assert template.rows(slug="acme", ids=[acme.pk]) == [("acme",)]
        assert template.rows(slug="globex", ids=[globex.pk]) == [("globex",)]
        assert template.rows(slug="acme", ids=[globex.pk]) == []
        assert len(calls) == 1
        assert template.rows(slug="acme", ids=[globex.pk, acme.pk]) == [("acme",)]
        assert len(calls) == 2  # another list length is another shape

    def test_values_go_through_the_database_converters(self, demo):
        template = QueryTemplate(lambda shape, *, slug: Tenant.objects.filter(slug=slug).values_list("created_at"))
        (created,) = template.rows(slug="acme")[0]
        assert created == Tenant.objects.get(slug="acme").created_at

    def test_refuses_what_it_cannot_swap_safely(self, demo):
        with pytest.raises(TypeError):
            QueryTemplate(lambda shape, *, slug: Tenant.objects.filter(slug=slug)).rows(slug="acme")
        with pytest.raises(TypeError):
            QueryTemplate(lambda shape, *, flag: Tenant.objects.filter(pk=1).values_list("pk")).rows(flag=True)
        inlined = QueryTemplate(
            lambda shape, *, pk: Tenant.objects.extra(where=[f"tenancy_tenant.id = {pk}"]).values_list("pk")
        )
        with pytest.raises(ValueError, match="SQL text"):
            inlined.rows(pk=1)
        big = QueryTemplate(lambda shape, *, pk: Tenant.objects.filter(pk=pk).values_list("pk"))
        with pytest.raises(ValueError, match="out of range"):
            big.rows(pk=2**70)

    def test_what_the_orm_answers_while_compiling_goes_through_the_orm(self, demo, django_assert_num_queries):
        template = QueryTemplate(lambda shape, *, ids: Tenant.objects.filter(pk__in=ids).values_list("pk"))
        with django_assert_num_queries(0):
            assert template.rows(ids=[]) == []
        # A sentinel outside a small column's range makes the ORM answer "no rows" at compile
        # time: that shape is run through the ORM with the real values, never cached as empty.
        from alerts.models import EscalationPolicy, Severity

        acme = demo["tenants"]["acme"]
        EscalationPolicy.objects.create(tenant=acme, name="p", min_severity=Severity.WARNING)
        by_severity = QueryTemplate(
            lambda shape, *, severity: EscalationPolicy.objects.filter(min_severity=severity).values_list("name")
        )
        assert by_severity.rows(severity=int(Severity.WARNING)) == [("p",)]
        assert by_severity.rows(severity=int(Severity.INFO)) == []


class TestInsertTemplate:
    def test_writes_what_save_would_and_sets_the_keys(self, demo, django_assert_num_queries):
        from alerts.models import EscalationPolicy, Severity

        acme = demo["tenants"]["acme"]
        template = InsertTemplate(EscalationPolicy)
        rows = [EscalationPolicy(tenant=acme, name=f"p{i}", levels=[{"after_seconds": i}]) for i in range(3)]
        with django_assert_num_queries(1):
            answered = template.insert(rows)
        assert [pk for (pk,) in answered] == [row.pk for row in rows] and all(row.pk for row in rows)
        stored = EscalationPolicy.objects.get(pk=rows[2].pk)
        # Defaults, auto_now_add and JSON go through the fields as with save().
        assert stored.min_severity == Severity.INFO and stored.active and stored.created_at is not None
        assert stored.levels == [{"after_seconds": 2}] and not rows[2]._state.adding
        assert template.insert([]) == []

    def test_a_conflict_clause_skips_rows_and_says_which_went_in(self, demo):
        from alerts.models import Alert

        acme = demo["tenants"]["acme"]
        template = InsertTemplate(Alert, conflict="ON CONFLICT (tenant_id, dedupe_key) WHERE NOT (state = 'resolved') DO NOTHING")

        def alert():
            return Alert(tenant=acme, kind="k", dedupe_key="same", title="t", opened_at=timezone.now())

        first = template.insert([alert()])
        assert len(first) == 1
        assert template.insert([alert()]) == []  # the open one stands
        Alert.objects.filter(pk=first[0][0]).update(state="resolved")
        assert len(template.insert([alert()])) == 1
        assert Alert.objects.filter(dedupe_key="same").count() == 2

    def test_many_rows_go_as_one_array_per_column_in_one_statement_text(self, demo):
        """Past 50 parameters' worth of rows, the same statement with one parameter per column
        whatever the number of rows: psycopg converts a statement of more than 50 parameters
        afresh on every execution. Fewer go as VALUES rows (psycopg keeps their conversion)."""
        from django.test.utils import CaptureQueriesContext

        from messaging.models import Message
        from tests.messaging.helpers import room_of

        room = room_of("acme", "sup-a")
        template = InsertTemplate(Message)
        columns = len(template.fields)
        statements = []
        for count in (3, 7, 200):
            rows = [
                Message(tenant=room.tenant, room=room, seq=10_000 * count + i, kind="event", body=f"第{i}条 'quoted' \"x\" {{}}",
                        text={"key": "k", "params": {"n": i}} if i % 2 else None, payload={"i": i}, actions=[],
                        subject_kind="alert" if i % 3 else "", refers_to=None if i % 2 else i, relation="reply" if i % 2 else "",
                        client_id=None, prev_hash="0" * 64, hash=f"{count:032d}{i:032d}", created_at=timezone.now())
                for i in range(count)
            ]
            with CaptureQueriesContext(connection) as queries:
                answered = template.insert(rows)
            assert len(queries.captured_queries) == 1
            statements.append(queries.captured_queries[0]["sql"].split(" SELECT * FROM unnest(")[0])
            # The keys come back in the order given, and every column holds what was written.
            assert [pk for (pk,) in answered] == [row.pk for row in rows]
            stored = {m.pk: m for m in Message.objects.filter(pk__in=[row.pk for row in rows])}
            for row in rows:
                got = stored[row.pk]
                assert (got.seq, got.body, got.text, got.payload, got.subject_kind, got.refers_to, got.relation, got.hash) == (
                    row.seq, row.body, row.text, row.payload, row.subject_kind, row.refers_to, row.relation, row.hash)
        assert len(set(statements)) == 1
        assert template._statement(connection, 3)[0] == template._statement(connection, 200)[0]
        assert template._statement(connection, 200)[0].count("%s") == columns
        assert columns * 2 <= 50
        assert template._statement(connection, 2)[0].count("%s") == 2 * columns  # two VALUES rows


class TestPipeline:
    """pipeline(): psycopg's own pipeline mode (Connection.pipeline()), with Django's errors."""

    by_slug = QueryTemplate(lambda shape, *, slug: Tenant.objects.filter(slug=slug).values_list("pk"))

    def test_queries_sent_together_answer_as_alone(self, demo):
        acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
        with pipeline():
            first, second = self.by_slug.send(slug="acme"), self.by_slug.send(slug="globex")
            from psycopg import pq

            assert connection.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF  # really in pipeline mode
            assert (second(), first()) == ([(globex.pk,)], [(acme.pk,)])
        assert connection.connection.pgconn.pipeline_status == pq.PipelineStatus.OFF  # and out of it again

    def test_an_error_in_a_pipeline_is_djangos_and_rolls_back(self, demo):
        from django.db import IntegrityError, transaction

        from alerts.models import EscalationPolicy

        acme = demo["tenants"]["acme"]
        with pytest.raises(IntegrityError), transaction.atomic(), pipeline():
            InsertTemplate(EscalationPolicy, returning=()).insert([EscalationPolicy(tenant=acme, name="p")])
            InsertTemplate(Tenant, returning=()).insert([Tenant(slug="acme", name="dup", organization=acme.organization)])
        assert not EscalationPolicy.objects.filter(name="p").exists()

    @pytest.mark.django_db(transaction=True)
    def test_the_statements_of_a_block_go_out_before_any_answer_is_awaited(self, demo_tx):
        with libpq_trace() as lines, pipeline():
            first, second = self.by_slug.send(slug="acme"), self.by_slug.send(slug="globex")
            assert (first(), second()) == ([(demo_tx["tenants"]["acme"].pk,)], [(demo_tx["tenants"]["globex"].pk,)])
        frontend = [line[2] for line in lines if line[0] == "F"]
        waits = [i for i, kind in enumerate(frontend) if kind in WAITS]
        executes = [i for i, kind in enumerate(frontend) if kind == "Execute"]
        assert len(executes) == 2 and executes[-1] < waits[0]  # both sent, then the first wait
        assert not any("BEGIN" in line[3] for line in lines)  # autocommit: no transaction is opened

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize("read_answer", [True, False])
    def test_a_transaction_begun_in_a_block_commits(self, demo_tx, read_answer):
        from django.db import transaction

        from alerts.models import EscalationPolicy

        acme = demo_tx["tenants"]["acme"]
        with transaction.atomic(), pipeline():
            template = InsertTemplate(EscalationPolicy, returning=("id",) if read_answer else ())
            rows = template.insert([EscalationPolicy(tenant=acme, name="committed")])
            assert len(rows) == (1 if read_answer else 0)
        assert connection.connection.pgconn.transaction_status == 0  # IDLE: committed, not left open
        assert seen_from_another_connection("SELECT count(*) FROM alerts_escalationpolicy WHERE name = 'committed'") == 1

    @pytest.mark.django_db(transaction=True)
    def test_outside_a_transaction_a_block_still_commits_as_it_leaves(self, demo_tx):
        from alerts.models import EscalationPolicy

        assert connection.get_autocommit()
        with pipeline():
            InsertTemplate(EscalationPolicy, returning=()).insert([EscalationPolicy(tenant=demo_tx["tenants"]["acme"], name="auto")])
        assert seen_from_another_connection("SELECT count(*) FROM alerts_escalationpolicy WHERE name = 'auto'") == 1

    @pytest.mark.django_db(transaction=True)
    def test_an_error_caught_inside_the_block_writes_nothing_and_the_connection_goes_on(self, demo_tx):
        from django.db import IntegrityError, transaction

        from alerts.models import EscalationPolicy

        acme = demo_tx["tenants"]["acme"]
        # As without a pipeline: PostgreSQL answers the COMMIT of an aborted transaction by rolling back.
        with transaction.atomic():
            with pipeline():
                InsertTemplate(EscalationPolicy).insert([EscalationPolicy(tenant=acme, name="lost")])
                try:
                    InsertTemplate(Tenant).insert([Tenant(slug="acme", name="dup", organization=acme.organization)])
                except IntegrityError:
                    pass  # caught in the block: the transaction is aborted all the same
        assert not EscalationPolicy.objects.filter(name="lost").exists()  # and the connection answers again
        assert seen_from_another_connection("SELECT count(*) FROM alerts_escalationpolicy WHERE name = 'lost'") == 0


def seen_from_another_connection(sql):
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params = {k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    with psycopg.connect(**params, autocommit=True) as other:
        return other.execute(sql).fetchone()[0]
