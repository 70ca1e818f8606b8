"""The embedded scheduler runs the same periodic tasks celery beat runs in production."""

import pytest
from celery import shared_task

from scm_portal.scheduler import run_due

CALLS = []


@shared_task(name="tests.record_call")
def record_call(value):
    CALLS.append(value)


@shared_task(name="tests.explode")
def explode():
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


@pytest.mark.django_db
def test_runs_each_entry_when_its_interval_has_passed():
    from scm_portal.celery import app

    entries = {"rec": {"task": "tests.record_call", "schedule": 10.0, "args": ("x",)}}
    last = {}
    assert run_due(entries, 100.0, last, app=app) == ["rec"]
    assert run_due(entries, 105.0, last, app=app) == []
    assert run_due(entries, 110.0, last, app=app) == ["rec"]
    assert CALLS == ["x", "x"]


@pytest.mark.django_db
def test_a_failing_task_does_not_stop_the_others():
    from scm_portal.celery import app

    entries = {
        "bad": {"task": "tests.explode", "schedule": 1.0},
        "good": {"task": "tests.record_call", "schedule": 1.0, "args": ("ok",)},
    }
    assert run_due(entries, 0.0, {}, app=app) == ["good"]
    assert CALLS == ["ok"]


@pytest.mark.django_db
def test_the_configured_schedule_names_real_tasks():
    from django.conf import settings

    from scm_portal.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
